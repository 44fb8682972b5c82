DROP TABLE IF EXISTS {{database}}.events{{on_cluster}} SYNC
