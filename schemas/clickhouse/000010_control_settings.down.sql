DROP TABLE IF EXISTS {{database}}.control_settings{{on_cluster}} SYNC
