-- Events per minute by type, detector and deployment, so stats and time
-- series never scan raw events. Filled by events_by_minute_mv on every insert
-- into events; SummingMergeTree adds rows of one key on merge, so readers
-- always sum() with GROUP BY (parts not merged yet hold partial rows).
--
-- ts       start of the minute (named ts so retention follows config like
--          the source's: applyRetention's MODIFY TTL toDateTime(ts) fits)
-- events   number of SecurityEvents
-- requests sum of their `count` (offending requests they cover)
CREATE TABLE IF NOT EXISTS {{database}}.events_by_minute{{on_cluster}}
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
ORDER BY (deployment, type, detector, ts)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         -- A retried insert into events carries the same token; the view's
         -- insert derives its token from it and is dropped as well.
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_minute_mv{{on_cluster}}
TO {{database}}.events_by_minute
AS SELECT
    toStartOfMinute(e.ts) AS ts,
    e.type AS type,
    e.detector AS detector,
    e.deployment AS deployment,
    count() AS events,
    sum(e.count) AS requests
FROM {{database}}.events AS e
GROUP BY ts, type, detector, deployment
