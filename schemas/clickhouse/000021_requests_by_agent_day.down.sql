DROP VIEW IF EXISTS {{database}}.requests_by_agent_day_mv{{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{database}}.requests_by_agent_day{{on_cluster}} SYNC
