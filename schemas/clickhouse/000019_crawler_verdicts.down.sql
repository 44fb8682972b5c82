-- Undoes 000019: drops the crawler verdicts.
DROP TABLE IF EXISTS {{database}}.crawler_verdicts{{on_cluster}} SYNC
