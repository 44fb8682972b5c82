-- events_by_minute (000004) rolled up per hour: stats over days, hourly time
-- series and the deployments top list read ~60x fewer rows. Readers take
-- whole hours from here and the partial hours at the ends of a range from
-- events_by_minute, so results equal a read of events_by_minute alone. Same
-- rules as 000004: SummingMergeTree, sum() with GROUP BY when reading.
CREATE TABLE IF NOT EXISTS {{database}}.events_by_hour{{on_cluster}}
(
    ts          DateTime('UTC'),
    type        Enum8('blocked_ip' = 1, 'rate_limited' = 2, 'auth_failed' = 3, 'suspicious' = 4, 'scan_detected' = 5),
    detector    LowCardinality(String),
    deployment  LowCardinality(String),
    events      UInt64,
    requests    UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((events, requests))
PARTITION BY toDate(ts)
ORDER BY (ts, deployment, type, detector)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_hour_mv{{on_cluster}}
TO {{database}}.events_by_hour
AS SELECT
    toStartOfHour(e.ts) AS ts,
    e.type AS type,
    e.detector AS detector,
    e.deployment AS deployment,
    count() AS events,
    sum(e.count) AS requests
FROM {{database}}.events AS e
GROUP BY ts, type, detector, deployment;

-- The history from before this migration, from the minute rollup; the view
-- above fills everything inserted from now on. Migrations run before this
-- process's sinks start, so nothing lands in between. The fixed token makes a
-- second, concurrent run of this migration (another host on the same server)
-- a no-op instead of a double count.
INSERT INTO {{database}}.events_by_hour (ts, type, detector, deployment, events, requests)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000014_events_by_hour_backfill', max_threads = 1
SELECT toStartOfHour(m.ts) AS hour, m.type, m.detector, m.deployment, sum(m.events), sum(m.requests)
FROM {{database}}.events_by_minute AS m
GROUP BY hour, m.type, m.detector, m.deployment
