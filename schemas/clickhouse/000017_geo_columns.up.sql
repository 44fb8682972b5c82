-- Requests and security events carry the client's autonomous system, and
-- events its country too (AccessRecord and SecurityEvent version 2): from the
-- ingester's bundled databases (shared/geo/), the country only where nginx
-- gave none. Rows from before have NULL.
ALTER TABLE {{database}}.requests{{on_cluster}}
    ADD COLUMN IF NOT EXISTS asn Nullable(UInt32) AFTER country,
    ADD COLUMN IF NOT EXISTS as_org Nullable(String) CODEC(ZSTD(1)) AFTER asn;

ALTER TABLE {{database}}.events{{on_cluster}}
    ADD COLUMN IF NOT EXISTS country LowCardinality(Nullable(String)) AFTER details,
    ADD COLUMN IF NOT EXISTS asn Nullable(UInt32) AFTER country,
    ADD COLUMN IF NOT EXISTS as_org Nullable(String) CODEC(ZSTD(1)) AFTER asn
