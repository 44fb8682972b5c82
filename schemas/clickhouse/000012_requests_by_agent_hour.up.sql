-- Captured requests per hour by deployment and user agent (top user agents).
-- Like 000011, from the requests table (events carry no user agent): data only
-- while real-time capture is on, kept {{requests_ttl_days}} days.
--
-- user_agent  the first 256 characters: a client choosing a new agent string
--             per request must not make this table as large as requests
-- blocked     requests nginx itself refused (blocked_by set)
CREATE TABLE IF NOT EXISTS {{database}}.requests_by_agent_hour{{on_cluster}}
(
    ts          DateTime('UTC'),
    deployment  LowCardinality(String),
    user_agent  String CODEC(ZSTD(1)),
    requests    UInt64,
    blocked     UInt64
)
ENGINE = {{engine_prefix}}SummingMergeTree((requests, blocked))
PARTITION BY toDate(ts)
ORDER BY (ts, deployment, user_agent)
TTL toDateTime(ts) + INTERVAL {{requests_ttl_days}} DAY
SETTINGS ttl_only_drop_parts = 1,
         materialize_ttl_recalculate_only = 1,
         non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.requests_by_agent_hour_mv{{on_cluster}}
TO {{database}}.requests_by_agent_hour
AS SELECT
    toStartOfHour(r.ts) AS ts,
    r.deployment AS deployment,
    substringUTF8(r.user_agent, 1, 256) AS user_agent,
    count() AS requests,
    countIf(r.blocked_by IS NOT NULL) AS blocked
FROM {{database}}.requests AS r
GROUP BY ts, deployment, user_agent
