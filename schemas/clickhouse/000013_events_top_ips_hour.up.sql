-- The most frequent source addresses of each hour, as a mergeable top-K
-- sketch (topK, "Filtered Space-Saving"), so stats' top offending IPs need
-- not group every address of the window: events_by_ip_minute holds about one
-- row per event when most addresses are seen once (botnets, scanners on
-- rotating addresses), and grouping millions of them takes seconds.
-- stats() takes the candidates from here and their exact counts from
-- events_by_ip_minute (whose sorting key starts with ip). The candidates
-- are approximate: an address that is never among the ~50 most frequent of
-- its hours can be missed; the counts shown are exact.
CREATE TABLE IF NOT EXISTS {{database}}.events_top_ips_hour{{on_cluster}}
(
    ts   DateTime('UTC'),
    top  AggregateFunction(topK(50), IPv6)
)
ENGINE = {{engine_prefix}}AggregatingMergeTree
PARTITION BY toDate(ts)
ORDER BY ts
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_top_ips_hour_mv{{on_cluster}}
TO {{database}}.events_top_ips_hour
AS SELECT
    toStartOfHour(e.ts) AS ts,
    topKState(50)(e.ip) AS top
FROM {{database}}.events AS e
GROUP BY ts
