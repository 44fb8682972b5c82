-- Captured requests per hour by deployment and client country. Security
-- events carry no country (shared/records.ts SecurityEvent), so "by country"
-- comes from the requests table: it has data only while real-time capture is
-- on, and lives as long as the requests ({{requests_ttl_days}} days).
--
-- country  ISO 3166-1 alpha-2; '' when unknown (a sorting key cannot be Nullable)
-- blocked  requests nginx itself refused (blocked_by set)
-- Same rules as events_by_minute (000004): sum() with GROUP BY when reading.
CREATE TABLE IF NOT EXISTS {{database}}.requests_by_country_hour{{on_cluster}}
(
    ts          DateTime('UTC'),
    deployment  LowCardinality(String),
    country     LowCardinality(String),
    requests    UInt64,
    blocked     UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((requests, blocked))
PARTITION BY toDate(ts)
ORDER BY (ts, deployment, country)
TTL toDateTime(ts) + INTERVAL {{requests_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.requests_by_country_hour_mv{{on_cluster}}
TO {{database}}.requests_by_country_hour
AS SELECT
    toStartOfHour(r.ts) AS ts,
    r.deployment AS deployment,
    ifNull(r.country, '') AS country,
    count() AS requests,
    countIf(r.blocked_by IS NOT NULL) AS blocked
FROM {{database}}.requests AS r
GROUP BY ts, deployment, country
