-- title: Top attacking ASes and countries
-- description: The autonomous systems (with their country) whose clients raised the most security events over the last N hours, with the requests those events covered and the deployments they hit. Reads the hourly geo rollup of events, so it needs no real-time capture.
-- param: hours UInt32 = 24 | how many hours back
-- param: top UInt32 = 50 | how many ASes
--
-- events_by_geo_hour (000018) is filled from the events' country and AS,
-- which the ingester's databases set on every record (shared/geo); asn 0 and
-- country '' are unknown.
SELECT
    if(g.asn = 0, '(unknown)', concat('AS', toString(g.asn))) AS asn,
    anyHeavy(g.as_org) AS as_org,
    groupUniqArray(if(g.country = '', '(unknown)', g.country)) AS countries,
    sum(g.events) AS events,
    sum(g.requests) AS requests,
    groupUniqArray(g.deployment) AS deployments
FROM events_by_geo_hour AS g
WHERE g.ts >= toStartOfHour(now('UTC')) - toIntervalHour({hours:UInt32})
GROUP BY g.asn
ORDER BY events DESC, g.asn
LIMIT {top:UInt32}
