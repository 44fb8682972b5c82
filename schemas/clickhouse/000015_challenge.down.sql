-- Undoes 000015: drops the control_blocks column. The enum values stay (rows
-- may hold them; removing a value in use fails).
ALTER TABLE {{database}}.control_blocks{{on_cluster}} DROP COLUMN IF EXISTS action
