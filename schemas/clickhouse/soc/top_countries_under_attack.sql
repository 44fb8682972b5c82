-- title: Top countries under attack
-- description: Client countries of the requests logwarden refused (blocked) over the last N hours, most refused first, with their share of that country's requests. Reads the hourly rollup of captured requests, so it counts only while realtime_capture is on.
-- param: hours UInt32 = 24 | how many hours back
--
-- Reads requests_by_country_hour (000011): refused requests, whichever rule
-- or block refused them; country '' = unknown. The attackers' ASes and
-- countries from the events themselves: top_asns_under_attack.
SELECT
    if(r.country = '', '(unknown)', r.country) AS country,
    sum(r.blocked) AS blocked,
    sum(r.requests) AS requests,
    round(100 * sum(r.blocked) / greatest(sum(r.requests), 1), 1) AS blocked_pct,
    groupUniqArray(r.deployment) AS deployments
FROM requests_by_country_hour AS r
WHERE r.ts >= toStartOfHour(now('UTC')) - toIntervalHour({hours:UInt32})
GROUP BY country
HAVING blocked > 0
ORDER BY blocked DESC, country
LIMIT 50
