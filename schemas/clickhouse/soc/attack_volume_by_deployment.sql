-- title: Attack volume by deployment over time
-- description: Security events and the requests behind them per deployment and time step (step_minutes, 60 by default) over the last N hours, oldest first. Reads the per-minute rollup (sum(): rows of one minute may not be merged yet).
-- param: hours UInt32 = 24 | how many hours back
-- param: step_minutes UInt32 = 60 | width of one time step
SELECT
    toStartOfInterval(r.ts, toIntervalMinute({step_minutes:UInt32})) AS t,
    r.deployment AS deployment,
    sum(r.events) AS events,
    sum(r.requests) AS requests,
    uniqExact(r.detector) AS detectors
FROM events_by_minute AS r
WHERE r.ts >= now('UTC') - toIntervalHour({hours:UInt32})
GROUP BY t, deployment
ORDER BY t, events DESC, deployment
LIMIT 5000
