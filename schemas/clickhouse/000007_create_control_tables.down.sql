DROP TABLE IF EXISTS {{database}}.control_filters{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.control_deployments{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.control_routes{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.control_blocks{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.control_whitelist{{on_cluster}} SYNC
