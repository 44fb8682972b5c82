DROP VIEW IF EXISTS {{database}}.requests_by_minute_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.requests_by_minute{{on_cluster}} SYNC
