-- Crawler verdicts: what DNS said of each address whose user agent claimed a
-- known crawler (CrawlerVerdict, shared/records.ts; the detectors publish one
-- per address, claimed crawler and verdict, see
-- services/detector/crawlers/report.ts). One row per address and claimed
-- crawler once parts merge (an address claiming two crawlers has two): the
-- latest verdict (highest ts) wins. Read with FINAL for the verdicts in force.
--
-- Not partitioned by day, unlike the event tables: rows of one address in two
-- partitions would never replace each other. Retention is a row TTL on the
-- latest verdict time ({{retention_days}} days, like events): an address not
-- seen claiming a crawler for that long is forgotten.
-- ip: IPv6 column, IPv4 stored mapped; hostname '' when DNS gave no name;
-- deployment '' when unknown (a sorting or replacing key cannot be Nullable,
-- and '' reads the same as in the control tables).
CREATE TABLE IF NOT EXISTS {{database}}.crawler_verdicts{{on_cluster}}
(
    ip          IPv6,
    crawler     LowCardinality(String),
    hostname    String,
    status      Enum8('failed' = 1, 'verified' = 2),
    ts          DateTime64(3, 'UTC'),
    first_ts    DateTime64(3, 'UTC'),
    deployment  LowCardinality(String)
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(ts)
ORDER BY (ip, crawler)
TTL toDateTime(ts) + INTERVAL {{retention_days}} DAY
SETTINGS non_replicated_deduplication_window = 10000
