-- Security events: one row per SecurityEvent (shared/records.ts), kept
-- {{retention_days}} days (whole day partitions drop; retention follows
-- config at each start).
--
-- Sorting key: the API lists events newest first, filtered by deployment
-- and type; (deployment, type, ts) lets those reads go in key order. Lookups
-- by address or by id use the skip indexes.
-- ip: IPv6 column, IPv4 stored mapped; see 000001 for reading it back.
CREATE TABLE IF NOT EXISTS {{database}}.events{{on_cluster}}
(
    id            String,
    ts            DateTime64(3, 'UTC'),
    type          Enum8('blocked_ip' = 1, 'rate_limited' = 2, 'auth_failed' = 3, 'suspicious' = 4, 'scan_detected' = 5),
    detector      LowCardinality(String),
    ip            IPv6,
    deployment    LowCardinality(String),
    count         UInt32,
    window_start  DateTime64(3, 'UTC'),
    window_end    DateTime64(3, 'UTC'),
    sample_paths  Array(String) CODEC(ZSTD(1)),
    details       Map(String, String) CODEC(ZSTD(1)),

    INDEX idx_ip ip TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_id id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_detector detector TYPE set(100) GRANULARITY 4
)
ENGINE = {{engine_prefix}}MergeTree
PARTITION BY toDate(ts)
ORDER BY (deployment, type, ts)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000
