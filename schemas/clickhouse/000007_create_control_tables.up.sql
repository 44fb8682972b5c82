-- Control-plane state: the source of truth after any restart (every change
-- is also published on Kafka so enforcers learn it at once). One row per
-- key and version: a change inserts the whole row again with a higher
-- version; a removal inserts it with is_deleted = 1. Read with FINAL, which
-- keeps the highest version per key and hides deleted keys.
--
-- version     UInt64, strictly increasing per key (epoch microseconds, or a
--             counter); equal versions keep the last inserted row
-- updated_at  when this version was written
-- deployment  '' means every deployment (a sorting key cannot be Nullable)

-- Addresses and ranges never blocked.
CREATE TABLE IF NOT EXISTS {{database}}.control_whitelist{{on_cluster}}
(
    ip_or_cidr  String,
    deployment  LowCardinality(String),
    note        String,
    created_by  String,
    updated_at  DateTime64(3, 'UTC'),
    version     UInt64,
    is_deleted  UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(version, is_deleted)
ORDER BY (ip_or_cidr, deployment);

-- Blocks in force (manual, auto, filter); their history is in blocks.
-- expires_at null: permanent. Expired rows stay until removed; readers
-- filter with expires_at IS NULL OR expires_at > now.
CREATE TABLE IF NOT EXISTS {{database}}.control_blocks{{on_cluster}}
(
    ip_or_cidr        String,
    deployment        LowCardinality(String),
    reason            String,
    source            Enum8('auto' = 1, 'manual' = 2, 'filter' = 3),
    created_at        DateTime64(3, 'UTC'),
    expires_at        Nullable(DateTime64(3, 'UTC')),
    escalation_level  UInt16,
    updated_at        DateTime64(3, 'UTC'),
    version           UInt64,
    is_deleted        UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(version, is_deleted)
ORDER BY (ip_or_cidr, deployment);

-- Protected routes. credential_hash: a hash of the credential (never the
-- credential itself), in the format the API writes (e.g. scrypt$...).
CREATE TABLE IF NOT EXISTS {{database}}.control_routes{{on_cluster}}
(
    id               String,
    deployment       LowCardinality(String),
    path             String,
    method           LowCardinality(String),
    auth_type        LowCardinality(String),
    credential_hash  String,
    updated_at       DateTime64(3, 'UTC'),
    version          UInt64,
    is_deleted       UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(version, is_deleted)
ORDER BY id;

-- Security policy per deployment. rate_limit: requests per minute, 0 = none.
CREATE TABLE IF NOT EXISTS {{database}}.control_deployments{{on_cluster}}
(
    name           String,
    enabled        Bool,
    rate_limit     UInt32,
    allowed_ips    Array(String),
    blocked_paths  Array(String),
    updated_at     DateTime64(3, 'UTC'),
    version        UInt64,
    is_deleted     UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(version, is_deleted)
ORDER BY name;

-- security_filter rule sets, one JSON document per level ("global", a
-- deployment name, ...), stored as the API validated it.
CREATE TABLE IF NOT EXISTS {{database}}.control_filters{{on_cluster}}
(
    level       String,
    document    String CODEC(ZSTD(1)),
    updated_at  DateTime64(3, 'UTC'),
    version     UInt64,
    is_deleted  UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(version, is_deleted)
ORDER BY level
