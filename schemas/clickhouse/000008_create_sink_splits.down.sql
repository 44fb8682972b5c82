DROP TABLE IF EXISTS {{database}}.sink_splits{{on_cluster}} SYNC
