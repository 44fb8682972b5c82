-- Captured requests per minute by deployment and status class, for the
-- traffic graphs. Same rules as events_by_minute (000004): sum() with
-- GROUP BY when reading. Kept as long as the requests themselves
-- ({{requests_ttl_days}} days).
--
-- status_class '1xx'..'5xx', 'other' for anything outside 100..599 (nginx
-- logs 0 or 499 for aborted requests; 499 counts as 4xx).
CREATE TABLE IF NOT EXISTS {{database}}.requests_by_minute{{on_cluster}}
(
    ts            DateTime('UTC'),
    deployment    LowCardinality(String),
    status_class  LowCardinality(String),
    requests      UInt64,
    bytes         UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((requests, bytes))
PARTITION BY toDate(ts)
ORDER BY (deployment, status_class, ts)
TTL toDateTime(ts) + INTERVAL {{requests_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.requests_by_minute_mv{{on_cluster}}
TO {{database}}.requests_by_minute
AS SELECT
    toStartOfMinute(r.ts) AS ts,
    r.deployment AS deployment,
    if(r.status >= 100 AND r.status < 600, concat(toString(intDiv(r.status, 100)), 'xx'), 'other') AS status_class,
    count() AS requests,
    sum(r.bytes) AS bytes
FROM {{database}}.requests AS r
GROUP BY ts, deployment, status_class
