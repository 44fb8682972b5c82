-- title: An address's full story
-- description: Everything logwarden stored about one address over the last N days, oldest first: its security events (detector, deployment, count, sample paths) and every block, unblock and expiry of it or of a range holding it (who, why, until when).
-- param: ip IPv6 | the address (IPv4 or IPv6)
-- param: days UInt32 = 30 | how many days back
--
-- Events are found through the ip skip index; blocks by their text form
-- (the blocks table keeps the address or range exactly as decided).
SELECT * FROM (
SELECT
    e.ts AS ts,
    'event' AS kind,
    toString(e.type) AS what,
    e.detector AS by,
    e.deployment AS deployment,
    concat('count=', toString(e.count), if(empty(e.sample_paths), '', concat(' paths=', arrayStringConcat(arraySlice(e.sample_paths, 1, 5), ' ')))) AS detail
FROM events AS e
WHERE e.ip = {ip:IPv6}
  AND e.ts >= now64(3, 'UTC') - toIntervalDay({days:UInt32})
UNION ALL
SELECT
    b.ts AS ts,
    'block' AS kind,
    concat(toString(b.action), ' ', b.ip) AS what,
    if(b.actor = '', toString(b.source), concat(toString(b.source), ':', b.actor)) AS by,
    ifNull(b.deployment, '') AS deployment,
    concat(b.reason, if(b.action = 'block', concat(' (until ', ifNull(toString(b.expires_at), 'unblocked'), ', level ', toString(b.escalation_level), ')'), '')) AS detail
FROM blocks AS b
-- the address as the blocks table writes it: IPv4 without its ::ffff: prefix
ARRAY JOIN [replaceRegexpOne(IPv6NumToString({ip:IPv6}), '^::ffff:([0-9]{1,3}(\\.[0-9]{1,3}){3})$', '\\1')] AS ip_text
WHERE (b.ip = ip_text OR (position(b.ip, '/') > 0 AND isIPAddressInRange(ip_text, b.ip)))
  AND b.ts >= now64(3, 'UTC') - toIntervalDay({days:UInt32})
)
ORDER BY ts, kind
LIMIT 1000
