-- Security events carry the client's country and autonomous system
-- (SecurityEvent version 2): from the offending requests, which the ingester
-- looked up in the bundled databases (shared/geo/) unless nginx gave the
-- country. Rows from before have NULL.
ALTER TABLE {{database}}.events{{on_cluster}}
    ADD COLUMN IF NOT EXISTS country LowCardinality(Nullable(String)) AFTER details,
    ADD COLUMN IF NOT EXISTS asn Nullable(UInt32) AFTER country,
    ADD COLUMN IF NOT EXISTS as_org Nullable(String) CODEC(ZSTD(1)) AFTER asn
