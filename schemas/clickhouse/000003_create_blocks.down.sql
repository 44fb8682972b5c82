DROP TABLE IF EXISTS {{database}}.blocks{{on_cluster}} SYNC
