-- Events per day, for reads over many days (30-day stats and top lists): the
-- hourly and per-minute rollups hold tens of millions of rows for 30 days of
-- a busy site (one row per address per minute, per path per hour), which
-- takes a 30-day read hundreds of milliseconds. One table with a row kind,
-- so one view fills all three:
--
-- dim 'ip'    per source address (deployment ''): stats' top offending IPs
-- dim 'path'  per sample path, all deployments together (deployment ''),
--             events only (requests 0): top paths without a deployment filter
-- dim 'geo'   per deployment, country, AS and its organisation: top
--             countries and ASes of events
--
-- Columns that do not belong to a kind hold their default ('', '::', 0).
-- Readers take whole days from here and the partial days at the ends of a
-- range from the finer rollup (events_by_ip_minute, events_by_path_hour,
-- events_by_geo_hour), so results equal a read of the finer rollup alone.
-- Same rules as 000004: SummingMergeTree, sum() with GROUP BY when reading.
--
-- Sorted by (dim, ip, ...): an address's days are adjacent, and each day is
-- its own partition (retention), so a lookup of 50 addresses over 30 days
-- reads one granule per address and day; the small index_granularity keeps
-- that granule small (the minute rollup's 8192-row granules are what made
-- the 30-day top-IP read slow).
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
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS index_granularity = 1024,
         ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

-- One row per event for 'ip' and 'geo', one per sample path for 'path' (as
-- events_by_path_hour counts them).
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

-- The history from before this migration, from the finer rollups; the view
-- above fills everything inserted from now on (as 000014: migrations run
-- before this process's sinks start; fixed tokens make a second, concurrent
-- run a no-op). The address rows go in unaggregated (one per address and
-- minute; merges add them up): grouping every address of the retention
-- period at once would take gigabytes.
INSERT INTO {{database}}.events_by_day (ts, dim, ip, events, requests)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000020_events_by_day_ip', max_threads = 1, max_partitions_per_insert_block = 0
SELECT toStartOfDay(m.ts), 'ip', m.ip, m.events, m.requests
FROM {{database}}.events_by_ip_minute AS m;

INSERT INTO {{database}}.events_by_day (ts, dim, path, events)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000020_events_by_day_path', max_threads = 1, max_partitions_per_insert_block = 0
SELECT toStartOfDay(p.ts) AS day, 'path', p.path, sum(p.events)
FROM {{database}}.events_by_path_hour AS p
GROUP BY day, p.path;

INSERT INTO {{database}}.events_by_day (ts, dim, deployment, country, asn, as_org, events, requests)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000020_events_by_day_geo', max_threads = 1, max_partitions_per_insert_block = 0
SELECT toStartOfDay(g.ts) AS day, 'geo', g.deployment, g.country, g.asn, g.as_org, sum(g.events), sum(g.requests)
FROM {{database}}.events_by_geo_hour AS g
GROUP BY day, g.deployment, g.country, g.asn, g.as_org
