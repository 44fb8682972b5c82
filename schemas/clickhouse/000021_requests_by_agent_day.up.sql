-- Captured requests per day by deployment and user agent, for top user agents
-- over many days: the hourly rollup (000012) repeats a busy site's agents every
-- hour (0.98M hourly rows for one day of capture in `npm run bench:query`,
-- the heaviest read of a 30-day topStats once paths and geo came from
-- events_by_day). Readers take whole days from here and the partial days at
-- the ends from requests_by_agent_hour, as 000020 does for events, so results
-- equal a read of the hourly rollup alone. Same rules as 000012: data only
-- while real-time capture is on, kept {{requests_ttl_days}} days, the first
-- 256 characters of the agent, SummingMergeTree read with sum() and GROUP BY.
CREATE TABLE IF NOT EXISTS {{database}}.requests_by_agent_day{{on_cluster}}
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

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.requests_by_agent_day_mv{{on_cluster}}
TO {{database}}.requests_by_agent_day
AS SELECT
    toStartOfDay(r.ts) AS ts,
    r.deployment AS deployment,
    substringUTF8(r.user_agent, 1, 256) AS user_agent,
    count() AS requests,
    countIf(r.blocked_by IS NOT NULL) AS blocked
FROM {{database}}.requests AS r
GROUP BY ts, deployment, user_agent;

-- The capture from before this migration, from the hourly rollup; the view
-- fills everything inserted from now on (as 000020: migrations run before
-- this process's sinks start; a fixed token makes a second, concurrent run a
-- no-op).
INSERT INTO {{database}}.requests_by_agent_day (ts, deployment, user_agent, requests, blocked)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = '000021_requests_by_agent_day', max_threads = 1, max_partitions_per_insert_block = 0
SELECT toStartOfDay(h.ts) AS day, h.deployment, h.user_agent, sum(h.requests), sum(h.blocked)
FROM {{database}}.requests_by_agent_hour AS h
GROUP BY day, h.deployment, h.user_agent
