DROP VIEW IF EXISTS {{database}}.requests_by_country_hour_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.requests_by_country_hour{{on_cluster}} SYNC
