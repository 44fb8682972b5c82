-- Blocklist feeds (services/feeds): a block decided by a feed has source
-- 'feed' and the feed's name in `feed` (the API shows it as feed:<name>).
-- Adding an enum value and a column with a default are metadata changes:
-- nothing is rewritten.
ALTER TABLE {{database}}.control_blocks{{on_cluster}}
    MODIFY COLUMN source Enum8('auto' = 1, 'manual' = 2, 'filter' = 3, 'feed' = 4);
ALTER TABLE {{database}}.control_blocks{{on_cluster}}
    ADD COLUMN IF NOT EXISTS feed LowCardinality(String) DEFAULT '' AFTER source;
ALTER TABLE {{database}}.blocks{{on_cluster}}
    MODIFY COLUMN source Enum8('auto' = 1, 'manual' = 2, 'filter' = 3, 'feed' = 4);
ALTER TABLE {{database}}.blocks{{on_cluster}}
    ADD COLUMN IF NOT EXISTS feed LowCardinality(String) DEFAULT '' AFTER source
