DROP VIEW IF EXISTS {{database}}.events_by_geo_hour_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.events_by_geo_hour{{on_cluster}} SYNC
