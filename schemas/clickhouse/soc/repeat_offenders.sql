-- title: Repeat offenders
-- description: Addresses and ranges blocked more than once in the last N days (auto, manual and filter blocks alike), most blocks first, with the highest escalation reached and why. Candidates for a permanent block.
-- param: days UInt32 = 30 | how many days back
--
-- Repeat offenders
--
-- Addresses and ranges blocked more than once in the last {days} days (30 by default) (from the
-- blocks history: auto, manual and filter blocks alike), most blocks first,
-- with the highest escalation level reached and why they were blocked. Good
-- candidates for a permanent block. Run with `logwarden sql --saved repeat_offenders` (or POST
-- /api/soc/queries/repeat_offenders/run; clickhouse-client works too).
SELECT
    b.ip AS ip,
    count() AS blocks,
    max(b.escalation_level) AS max_escalation,
    groupUniqArray(toString(b.source)) AS sources,
    arraySlice(groupUniqArray(b.reason), 1, 10) AS reasons,
    min(b.ts) AS first_block,
    max(b.ts) AS last_block
FROM blocks AS b
WHERE b.action = 'block'
  AND b.ts >= now('UTC') - toIntervalDay({days:UInt32})
GROUP BY ip
HAVING blocks > 1
ORDER BY blocks DESC, last_block DESC, ip
LIMIT 100
