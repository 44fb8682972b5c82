-- Back to 000020's one table with a row kind, filled from the three. Its TTL
-- is set by the next migration run of the code that reads it (retention
-- settings are not known to a rollback: applyRetention adds it).
CREATE TABLE IF NOT EXISTS {{database}}.events_by_day{{on_cluster}}
(
    ts          DateTime('UTC'),
    dim         Enum8('ip' = 1, 'path' = 2, 'geo' = 3),
    ip          IPv6,
    deployment  LowCardinality(String),
    path        String CODEC(ZSTD(1)),
    country     LowCardinality(String),
    asn         UInt32,
    as_org      String CODEC(ZSTD(1)),
    events      UInt64,
    requests    UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((events, requests))
PARTITION BY toDate(ts)
ORDER BY (dim, ip, deployment, path, country, asn, as_org, ts)
SETTINGS index_granularity = 1024,
         ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

DROP VIEW IF EXISTS {{database}}.events_by_ip_day_mv{{on_cluster}} SYNC;
DROP VIEW IF EXISTS {{database}}.events_by_path_day_mv{{on_cluster}} SYNC;
DROP VIEW IF EXISTS {{database}}.events_by_geo_day_mv{{on_cluster}} SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_day_mv{{on_cluster}}
TO {{database}}.events_by_day
AS SELECT
    toStartOfDay(e.ts) AS ts,
    k.1 AS dim,
    if(k.1 = 'ip', e.ip, toIPv6('::')) AS ip,
    if(k.1 = 'geo', e.deployment, '') AS deployment,
    k.2 AS path,
    if(k.1 = 'geo', ifNull(e.country, ''), '') AS country,
    if(k.1 = 'geo', ifNull(e.asn, 0), 0) AS asn,
    if(k.1 = 'geo', ifNull(e.as_org, ''), '') AS as_org,
    count() AS events,
    sum(if(k.1 = 'path', 0, e.count)) AS requests
FROM {{database}}.events AS e
ARRAY JOIN arrayConcat([('ip', ''), ('geo', '')], arrayMap(p -> ('path', p), e.sample_paths)) AS k
GROUP BY ts, dim, ip, deployment, path, country, asn, as_org;

INSERT INTO {{database}}.events_by_day (ts, dim, ip, events, requests)
SETTINGS insert_deduplicate = 0, max_threads = 1, max_partitions_per_insert_block = 0
SELECT i.ts, 'ip', i.ip, i.events, i.requests FROM {{database}}.events_by_ip_day AS i;

INSERT INTO {{database}}.events_by_day (ts, dim, path, events)
SETTINGS insert_deduplicate = 0, max_threads = 1, max_partitions_per_insert_block = 0
SELECT p.ts, 'path', p.path, p.events FROM {{database}}.events_by_path_day AS p;

INSERT INTO {{database}}.events_by_day (ts, dim, deployment, country, asn, as_org, events, requests)
SETTINGS insert_deduplicate = 0, max_threads = 1, max_partitions_per_insert_block = 0
SELECT g.ts, 'geo', g.deployment, g.country, g.asn, g.as_org, g.events, g.requests FROM {{database}}.events_by_geo_day AS g;

DROP TABLE IF EXISTS {{database}}.events_by_ip_day{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_path_day{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_geo_day{{on_cluster}} SYNC
