DROP VIEW IF EXISTS {{database}}.events_by_path_hour_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_path_hour{{on_cluster}} SYNC
