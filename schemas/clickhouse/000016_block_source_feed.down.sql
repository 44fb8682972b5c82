-- Drops the feed name. The enum keeps its 'feed' value: narrowing it would
-- fail on any stored feed row, and a wider enum reads every older row.
ALTER TABLE {{database}}.blocks{{on_cluster}} DROP COLUMN IF EXISTS feed;
ALTER TABLE {{database}}.control_blocks{{on_cluster}} DROP COLUMN IF EXISTS feed
