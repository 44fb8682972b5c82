-- title: Which rule fired most?
-- description: Detectors by number of events over the last N days, with the addresses caught and the event types raised (per-minute rollups).
-- param: days UInt32 = 7 | how many days back
--
-- Which rule fired most?
--
-- Detectors (rate, not_found, auth_failure, unique_paths, repeated_hits,
-- filter:<rule id>, signature:<rule id>, blocklist) by number of events over
-- the last {days} days (7 by default), with the distinct addresses they caught and the event
-- types they raised. Reads the per-minute rollups, not raw events: sum()
-- because rows of one minute may not be merged yet. Run with `logwarden sql --saved top_detectors` (or POST
-- /api/soc/queries/top_detectors/run; clickhouse-client works too).
SELECT
    r.detector AS detector,
    sum(r.events) AS events,
    sum(r.requests) AS requests,
    groupUniqArray(toString(r.type)) AS types,
    groupUniqArray(r.deployment) AS deployments
FROM events_by_minute AS r
WHERE r.ts >= now('UTC') - toIntervalDay({days:UInt32})
GROUP BY detector
ORDER BY events DESC, detector
LIMIT 50
