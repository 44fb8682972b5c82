DROP VIEW IF EXISTS {{database}}.events_top_ips_hour_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_top_ips_hour{{on_cluster}} SYNC
