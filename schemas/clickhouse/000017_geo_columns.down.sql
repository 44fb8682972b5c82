ALTER TABLE {{database}}.events{{on_cluster}}
    DROP COLUMN IF EXISTS as_org,
    DROP COLUMN IF EXISTS asn,
    DROP COLUMN IF EXISTS country;

ALTER TABLE {{database}}.requests{{on_cluster}}
    DROP COLUMN IF EXISTS as_org,
    DROP COLUMN IF EXISTS asn
