DROP VIEW IF EXISTS {{database}}.events_by_ip_minute_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_ip_minute{{on_cluster}} SYNC
