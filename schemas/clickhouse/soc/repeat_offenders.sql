-- Repeat offenders
--
-- Addresses and ranges blocked more than once in the last 30 days (from the
-- blocks history: auto, manual and filter blocks alike), most blocks first,
-- with the highest escalation level reached and why they were blocked. Good
-- candidates for a permanent block. Run in the logwarden database, e.g.
--   clickhouse-client -d logwarden --queries-file repeat_offenders.sql
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
  AND b.ts >= now('UTC') - INTERVAL 30 DAY
GROUP BY ip
HAVING blocks > 1
ORDER BY blocks DESC, last_block DESC, ip
LIMIT 100
