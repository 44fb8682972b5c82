-- Which rule fired most?
--
-- Detectors (rate, not_found, auth_failure, unique_paths, repeated_hits,
-- filter:<rule id>, signature:<rule id>, blocklist) by number of events over
-- the last 7 days, with the distinct addresses they caught and the event
-- types they raised. Reads the per-minute rollups, not raw events: sum()
-- because rows of one minute may not be merged yet. Run in the logwarden
-- database, e.g. clickhouse-client -d logwarden --queries-file top_detectors.sql
SELECT
    r.detector AS detector,
    sum(r.events) AS events,
    sum(r.requests) AS requests,
    groupUniqArray(toString(r.type)) AS types,
    groupUniqArray(r.deployment) AS deployments
FROM events_by_minute AS r
WHERE r.ts >= now('UTC') - INTERVAL 7 DAY
GROUP BY detector
ORDER BY events DESC, detector
LIMIT 50
