DROP TABLE IF EXISTS {{database}}.requests{{on_cluster}} SYNC
