-- CHALLENGE (lua/logwarden/challenge.lua): a challenge decision is a fourth
-- action of the blocks history and a second kind of entry in force in
-- control_blocks (one entry per address: a block replaces a challenge);
-- challenge pages served, passed and failed are events of type 'challenge'.
-- Adding an Enum8 value only changes metadata; the existing values keep their
-- numbers.
ALTER TABLE {{database}}.events{{on_cluster}}
    MODIFY COLUMN type Enum8('blocked_ip' = 1, 'rate_limited' = 2, 'auth_failed' = 3, 'suspicious' = 4, 'scan_detected' = 5, 'challenge' = 6);
ALTER TABLE {{database}}.events_by_minute{{on_cluster}}
    MODIFY COLUMN type Enum8('blocked_ip' = 1, 'rate_limited' = 2, 'auth_failed' = 3, 'suspicious' = 4, 'scan_detected' = 5, 'challenge' = 6);
ALTER TABLE {{database}}.events_by_hour{{on_cluster}}
    MODIFY COLUMN type Enum8('blocked_ip' = 1, 'rate_limited' = 2, 'auth_failed' = 3, 'suspicious' = 4, 'scan_detected' = 5, 'challenge' = 6);
ALTER TABLE {{database}}.blocks{{on_cluster}}
    MODIFY COLUMN action Enum8('block' = 1, 'unblock' = 2, 'expire' = 3, 'challenge' = 4);
ALTER TABLE {{database}}.control_blocks{{on_cluster}}
    ADD COLUMN IF NOT EXISTS action Enum8('block' = 1, 'challenge' = 2) DEFAULT 'block'
