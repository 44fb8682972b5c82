-- Insert history of the sinks, per table and topic partition: where they cut
-- the offsets into insert blocks beyond the fixed block boundaries, and up to
-- where everything is known to be stored. A sink writes one row per batch,
-- BEFORE that batch's inserts:
--
-- split_end     the batch's end offset: a cut every later delivery of these
--               offsets makes too, so their inserts repeat the same
--               deduplication tokens and ClickHouse drops them
-- stored_below  the batch's start: every offset below it was acknowledged by
--               ClickHouse (batches of a partition are stored in order), so a
--               replay of those offsets is skipped, not inserted again
--
-- services/sink/table-sink.ts explains the reasoning. Append-only; rows expire
-- after 7 days: a replay reaching further back falls back to the tables'
-- deduplication window (10000 inserts).
CREATE TABLE IF NOT EXISTS {{database}}.sink_splits{{on_cluster}}
(
    tbl           LowCardinality(String),
    topic         LowCardinality(String),
    partition     UInt32,
    split_end     UInt64,
    stored_below  UInt64,
    created_at    DateTime('UTC') DEFAULT now()
)
ENGINE = {{engine_prefix}}MergeTree
PARTITION BY toDate(created_at)
ORDER BY (tbl, topic, partition, split_end)
TTL created_at + INTERVAL 7 DAY
SETTINGS ttl_only_drop_parts = 1,
         non_replicated_deduplication_window = 10000
