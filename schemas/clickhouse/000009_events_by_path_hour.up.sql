-- Events per hour by deployment and sample path: "top paths" without
-- scanning events. Each event counts once for each of its sample_paths (the
-- paths the detector saw; a scan's paths are a sample, not all of them).
-- Hourly, not per minute: paths are many, and a top list over a range does
-- not need minutes. Same rules as events_by_minute (000004): sum() with
-- GROUP BY when reading; ts (start of the hour) drives retention.
--
-- Sorted by time first: the query is "top paths in [from, to)", with or
-- without a deployment.
CREATE TABLE IF NOT EXISTS {{database}}.events_by_path_hour{{on_cluster}}
(
    ts          DateTime('UTC'),
    deployment  LowCardinality(String),
    path        String CODEC(ZSTD(1)),
    events      UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree(events)
PARTITION BY toDate(ts)
ORDER BY (ts, deployment, path)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_path_hour_mv{{on_cluster}}
TO {{database}}.events_by_path_hour
AS SELECT
    toStartOfHour(e.ts) AS ts,
    e.deployment AS deployment,
    p AS path,
    count() AS events
FROM {{database}}.events AS e
ARRAY JOIN e.sample_paths AS p
GROUP BY ts, deployment, path
