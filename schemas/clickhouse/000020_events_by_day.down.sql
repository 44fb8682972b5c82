DROP VIEW IF EXISTS {{database}}.events_by_day_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_day{{on_cluster}} SYNC
