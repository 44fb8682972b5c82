-- title: An address's full story
-- description: Everything logwarden stored about one address, oldest first: its events per hour and deployment over the last N days (from the per-address rollup), each of its events of the last detail_hours hours (type, detector, count, sample paths), and every block, unblock and expiry of it or of a range holding it (who, why, until when).
-- param: ip IPv6 | the address (IPv4 or IPv6)
-- param: days UInt32 = 30 | how many days back
-- param: detail_hours UInt32 = 24 | the latest hours shown event by event
--
-- The hourly totals read events_by_ip_minute, sorted by address: fast for
-- any address. The raw events are sorted by (deployment, type, ts), so the
-- event-by-event part keeps to the latest hours (their partitions only): a
-- heavy offender's events sit in every granule of the table.
SELECT * FROM (
SELECT
    toDateTime64(r.hour, 3, 'UTC') AS ts,
    'events per hour' AS kind,
    concat(toString(sum(r.events)), ' events') AS what,
    '' AS by,
    toString(r.deployment) AS deployment,
    concat(toString(sum(r.requests)), ' requests') AS detail
FROM (
    SELECT toStartOfHour(m.ts) AS hour, m.deployment AS deployment, m.events AS events, m.requests AS requests
    FROM events_by_ip_minute AS m
    WHERE m.ip = {ip:IPv6} AND m.ts >= now('UTC') - toIntervalDay({days:UInt32})
) AS r
GROUP BY r.hour, r.deployment
UNION ALL
SELECT
    e.ts AS ts,
    'event' AS kind,
    toString(e.type) AS what,
    toString(e.detector) AS by,
    toString(e.deployment) AS deployment,
    concat('count=', toString(e.count), if(empty(e.sample_paths), '', concat(' paths=', arrayStringConcat(arraySlice(e.sample_paths, 1, 5), ' ')))) AS detail
FROM events AS e
WHERE e.ip = {ip:IPv6}
  AND e.ts >= now64(3, 'UTC') - toIntervalHour(least({detail_hours:UInt32}, 24 * {days:UInt32}))
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
LIMIT 5000
