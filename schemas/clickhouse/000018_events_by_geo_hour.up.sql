-- Events per hour by deployment, client country and autonomous system: "top
-- countries" and "top ASes" of attackers without scanning events and without
-- real-time capture. country '' and asn 0 when unknown (a sorting key cannot
-- be Nullable); as_org is the AS's organisation as the event named it. Same
-- rules as events_by_minute (000004): sum() with GROUP BY when reading.
CREATE TABLE IF NOT EXISTS {{database}}.events_by_geo_hour{{on_cluster}}
(
    ts          DateTime('UTC'),
    deployment  LowCardinality(String),
    country     LowCardinality(String),
    asn         UInt32,
    as_org      String CODEC(ZSTD(1)),
    events      UInt64,
    requests    UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((events, requests))
PARTITION BY toDate(ts)
ORDER BY (ts, deployment, country, asn, as_org)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_geo_hour_mv{{on_cluster}}
TO {{database}}.events_by_geo_hour
AS SELECT
    toStartOfHour(e.ts) AS ts,
    e.deployment AS deployment,
    ifNull(e.country, '') AS country,
    ifNull(e.asn, 0) AS asn,
    ifNull(e.as_org, '') AS as_org,
    count() AS events,
    sum(e.count) AS requests
FROM {{database}}.events AS e
GROUP BY ts, deployment, country, asn, as_org
