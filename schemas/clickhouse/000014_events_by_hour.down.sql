DROP VIEW IF EXISTS {{database}}.events_by_hour_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_hour{{on_cluster}} SYNC
