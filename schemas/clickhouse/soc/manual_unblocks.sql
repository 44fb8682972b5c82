-- title: Blocks lifted by hand, and why they were made
-- description: Every manual unblock of the last N days, newest first: the address or range, when and by whom it was lifted, and the block it lifted (its source, the detector or user behind it, its reason, how long it had been in force).
-- param: days UInt32 = 30 | how many days back
--
-- An unblock row is matched to the latest block of the same address or
-- range before it (ASOF JOIN on the blocks history).
SELECT
    u.ip AS ip,
    u.ts AS lifted_at,
    u.actor AS lifted_by,
    u.reason AS lift_reason,
    toString(b.source) AS block_source,
    -- the detectors behind an auto block: its actor, or the "(rate, ...)" its reason ends with
    if(b.actor IN ('', 'detector', 'auto', 'manual', 'filter'), ifNull(nullIf(extract(b.reason, '\\(([^()]+)\\)\\s*$'), ''), b.actor), b.actor) AS blocked_by,
    b.reason AS block_reason,
    b.ts AS blocked_at,
    round(dateDiff('second', b.ts, u.ts) / 60, 1) AS minutes_in_force,
    ifNull(u.deployment, '') AS deployment
FROM (SELECT * FROM blocks WHERE action = 'unblock' AND source = 'manual' AND ts >= now64(3, 'UTC') - toIntervalDay({days:UInt32})) AS u
ASOF LEFT JOIN (SELECT * FROM blocks WHERE action = 'block') AS b
    ON b.ip = u.ip AND b.ts <= u.ts
ORDER BY lifted_at DESC
LIMIT 500
