-- Every request while real-time capture is on: one row per AccessRecord
-- (shared/records.ts, field for field). Short-lived by design: whole day
-- partitions expire after {{requests_ttl_days}} (retention follows config at
-- each start, see applyRetention in shared/clickhouse/migrate.ts).
--
-- client_ip: IPv6 column; IPv4 is stored mapped (::ffff:a.b.c.d). Read it
-- back with ipText() from shared/clickhouse/sql.ts, filter with {ip:IPv6}.
-- ts: epoch milliseconds on insert; read with toUnixTimestamp64Milli(ts).
-- Nullable columns are the record's `| null` fields; null stays null.
CREATE TABLE IF NOT EXISTS {{database}}.requests{{on_cluster}}
(
    ts            DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    node          LowCardinality(String),
    deployment    LowCardinality(String),
    client_ip     IPv6,
    method        LowCardinality(String),
    host          LowCardinality(String),
    path          String CODEC(ZSTD(1)),
    query         String CODEC(ZSTD(1)),
    status        UInt16,
    bytes         UInt64,
    request_time  Float64,
    upstream_time Nullable(Float64),
    user_agent    String CODEC(ZSTD(1)),
    referer       String CODEC(ZSTD(1)),
    country       LowCardinality(Nullable(String)),
    auth_user     Nullable(String),
    request_id    String,
    blocked_by    LowCardinality(Nullable(String)),
    filter_alert  LowCardinality(Nullable(String)),
    extra         Map(String, String),

    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_status status TYPE minmax GRANULARITY 4
)
ENGINE = {{engine_prefix}}MergeTree
PARTITION BY toDate(ts)
ORDER BY (deployment, client_ip, ts)
TTL toDateTime(ts) + INTERVAL {{requests_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         -- Plain MergeTree deduplicates inserts (sinks send a token per batch)
         -- only with a window; Replicated tables have their own, on by default.
         non_replicated_deduplication_window = 10000
