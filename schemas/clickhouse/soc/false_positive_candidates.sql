-- title: False-positive candidates
-- description: Blocks lifted by hand within N minutes of being made (60 by default) over the last D days, grouped by what made them (auto blocks: the detector; filter blocks: the rule), most lifted first. A detector whose blocks are often lifted soon is a tuning candidate.
-- param: days UInt32 = 30 | how many days back
-- param: within_minutes UInt32 = 60 | a block lifted this soon counts
--
-- What made a block: the blocks history's actor, or for auto blocks (actor
-- "detector") the detectors its reason names at its end: "... (rate)".
WITH lifted AS (
    SELECT
        u.ip AS ip,
        u.ts AS lifted_at,
        b.ts AS blocked_at,
        toString(b.source) AS source,
        if(b.actor IN ('', 'detector', 'auto', 'manual', 'filter'), ifNull(nullIf(extract(b.reason, '\\(([^()]+)\\)\\s*$'), ''), b.actor), b.actor) AS actor,
        b.reason AS reason
    FROM (SELECT * FROM blocks WHERE action = 'unblock' AND source = 'manual' AND ts >= now64(3, 'UTC') - toIntervalDay({days:UInt32})) AS u
    ASOF INNER JOIN (SELECT * FROM blocks WHERE action = 'block') AS b
        ON b.ip = u.ip AND b.ts <= u.ts
    WHERE dateDiff('second', b.ts, u.ts) <= 60 * {within_minutes:UInt32}
)
SELECT
    source,
    if(actor = '', '(unknown)', actor) AS made_by,
    count() AS lifted_soon,
    round(avg(dateDiff('second', blocked_at, lifted_at)) / 60, 1) AS avg_minutes_in_force,
    arraySlice(groupUniqArray(ip), 1, 20) AS addresses,
    arraySlice(groupUniqArray(reason), 1, 5) AS reasons
FROM lifted
GROUP BY source, made_by
ORDER BY lifted_soon DESC, source, made_by
LIMIT 100
