-- events_by_day (000020) held three kinds of rows in one table sorted by the
-- columns of all three; each kind moves to a table of its own, with only its
-- columns, sorted for its reads, each the daily twin of a finer rollup:
--
-- events_by_ip_day    per source address (events_by_ip_minute's twin):
--                     stats' top IPs over whole days
-- events_by_path_day  per sample path, all deployments together
--                     (events_by_path_hour's): top paths
-- events_by_geo_day   per deployment, country and AS (events_by_geo_hour's):
--                     top countries and ASes of events
--
-- Why: the address rows are most of what is stored at insert (one per event
-- and day when most addresses are seen once: botnets, scanners on rotating
-- addresses), each a row of ten columns sorted by eight. `npm run
-- bench:sink-views` measured events_by_day's view as the heaviest rollup at
-- insert (2.5 of the engine's 7.8 CPU µs per event row, merges included);
-- with these three tables every view together costs 6.95 µs. And a 30-day
-- read of paths or geo rows skipped past the address rows in small granules:
-- top paths took 60 ms of a 30-day topStats at 100M events, 18 ms from a
-- table of their own.
--
-- events_by_ip_day keeps 000020's small granules: stats' top IPs look up ~50
-- candidate addresses over 30 days, one granule per address and day.
CREATE TABLE IF NOT EXISTS {{database}}.events_by_ip_day{{on_cluster}}
(
    ts        DateTime('UTC'),
    ip        IPv6,
    events    UInt64,
    requests  UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((events, requests))
PARTITION BY toDate(ts)
ORDER BY (ip, ts)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS index_granularity = 1024,
         ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {{database}}.events_by_path_day{{on_cluster}}
(
    ts      DateTime('UTC'),
    path    String CODEC(ZSTD(1)),
    events  UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree(events)
PARTITION BY toDate(ts)
ORDER BY (ts, path)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {{database}}.events_by_geo_day{{on_cluster}}
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

-- events_by_day's view stops first, then the new views start: as 000020,
-- migrations run before this process's sinks start, so nothing is inserted
-- between the two.
DROP VIEW IF EXISTS {{database}}.events_by_day_mv{{on_cluster}} SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_ip_day_mv{{on_cluster}}
TO {{database}}.events_by_ip_day
AS SELECT
    toStartOfDay(e.ts) AS ts,
    e.ip AS ip,
    count() AS events,
    sum(e.count) AS requests
FROM {{database}}.events AS e
GROUP BY ts, ip;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_path_day_mv{{on_cluster}}
TO {{database}}.events_by_path_day
AS SELECT
    toStartOfDay(e.ts) AS ts,
    p AS path,
    count() AS events
FROM {{database}}.events AS e
ARRAY JOIN e.sample_paths AS p
GROUP BY ts, path;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_geo_day_mv{{on_cluster}}
TO {{database}}.events_by_geo_day
AS SELECT
    toStartOfDay(e.ts) AS ts,
    e.deployment AS deployment,
    ifNull(e.country, '') AS country,
    ifNull(e.asn, 0) AS asn,
    ifNull(e.as_org, '') AS as_org,
    count() AS events,
    sum(e.count) AS requests
FROM {{database}}.events AS e
GROUP BY ts, deployment, country, asn, as_org;

-- What events_by_day holds, copied by kind as it is (unmerged rows add up
-- when read or merged); fixed tokens make a second, concurrent run a no-op.
INSERT INTO {{database}}.events_by_ip_day (ts, ip, events, requests)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000022_events_by_ip_day', max_threads = 1, max_partitions_per_insert_block = 0
SELECT d.ts, d.ip, d.events, d.requests FROM {{database}}.events_by_day AS d WHERE d.dim = 'ip';

INSERT INTO {{database}}.events_by_path_day (ts, path, events)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000022_events_by_path_day', max_threads = 1, max_partitions_per_insert_block = 0
SELECT d.ts, d.path, d.events FROM {{database}}.events_by_day AS d WHERE d.dim = 'path';

INSERT INTO {{database}}.events_by_geo_day (ts, deployment, country, asn, as_org, events, requests)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000022_events_by_geo_day', max_threads = 1, max_partitions_per_insert_block = 0
SELECT d.ts, d.deployment, d.country, d.asn, d.as_org, d.events, d.requests FROM {{database}}.events_by_day AS d WHERE d.dim = 'geo';

DROP TABLE IF EXISTS {{database}}.events_by_day{{on_cluster}} SYNC
