-- Events per minute by source address and deployment: top offending IPs
-- and repeat offenders without scanning events. Same rules as
-- events_by_minute (000004): sum() with GROUP BY when reading.
--
-- ip: IPv6, IPv4 stored mapped (see 000001 for reading it back).
CREATE TABLE IF NOT EXISTS {{database}}.events_by_ip_minute{{on_cluster}}
(
    ts          DateTime('UTC'),
    ip          IPv6,
    deployment  LowCardinality(String),
    events      UInt64,
    requests    UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((events, requests))
PARTITION BY toDate(ts)
ORDER BY (ip, deployment, ts)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.events_by_ip_minute_mv{{on_cluster}}
TO {{database}}.events_by_ip_minute
AS SELECT
    toStartOfMinute(e.ts) AS ts,
    e.ip AS ip,
    e.deployment AS deployment,
    count() AS events,
    sum(e.count) AS requests
FROM {{database}}.events AS e
GROUP BY ts, ip, deployment
