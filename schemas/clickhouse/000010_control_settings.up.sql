-- Run-time settings changed through the API (realtime capture, overrides of
-- the security: block), one JSON document per name; absent names follow the
-- config file. Versioned like the other control tables (000007): read with
-- FINAL. Also records how control_deployments.rate_limit is read since the
-- API landed: requests per second per client IP (nginx's limit_req unit),
-- 0 = no limit.
CREATE TABLE IF NOT EXISTS {{database}}.control_settings{{on_cluster}}
(
    name        String,
    document    String,
    updated_by  String,
    updated_at  DateTime64(3, 'UTC'),
    version     UInt64,
    is_deleted  UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(version, is_deleted)
ORDER BY name;

ALTER TABLE {{database}}.control_deployments{{on_cluster}}
    COMMENT COLUMN rate_limit 'requests per second per client IP, 0 = none'
