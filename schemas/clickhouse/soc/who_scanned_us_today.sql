-- title: Who scanned us today?
-- description: Addresses with scan_detected events since midnight UTC, most scans first, with the deployments they hit, the detectors that caught them and some paths they tried.
--
-- Who scanned us today?
--
-- Addresses with scan_detected events since midnight UTC, most scans
-- first, with the deployments they hit, the detectors that caught them and
-- some of the paths they tried. Reads the raw events (today only: one
-- partition). Run with `logwarden sql --saved who_scanned_us_today` (or POST
-- /api/soc/queries/who_scanned_us_today/run; clickhouse-client works too).
SELECT
    replaceRegexpOne(IPv6NumToString(ip), '^::ffff:([0-9]{1,3}(\\.[0-9]{1,3}){3})$', '\\1') AS ip,
    count() AS scans,
    sum(count) AS requests,
    groupUniqArray(deployment) AS deployments,
    groupUniqArray(detector) AS detectors,
    arraySlice(groupUniqArrayArray(sample_paths), 1, 20) AS sample_paths,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM events
WHERE type = 'scan_detected'
  AND ts >= toStartOfDay(now('UTC'))
GROUP BY ip
ORDER BY scans DESC, requests DESC, ip
LIMIT 100
