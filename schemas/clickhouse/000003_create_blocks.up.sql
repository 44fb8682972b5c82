-- History of every BlockDecision (shared/records.ts): each block, each
-- unblock, and each expiry, with who and why. An audit trail, so no TTL.
-- The blocks in force live in the control-plane state, not here.
--
-- ts          when this entry happened (created_at for a block, the time of
--             the unblock or of the expiry)
-- ip          the address or CIDR exactly as decided ("203.0.113.7",
--             "2001:db8::/64"); a String because a range is not one IPv6
-- actor       who: the detector for auto blocks, the API user/token name for
--             manual ones, the rule id for filter ones; "" when unknown
-- expires_at  null: permanent
-- deployment  null: every deployment
CREATE TABLE IF NOT EXISTS {{database}}.blocks{{on_cluster}}
(
    ts               DateTime64(3, 'UTC'),
    action           Enum8('block' = 1, 'unblock' = 2, 'expire' = 3),
    ip               String,
    reason           String,
    source           Enum8('auto' = 1, 'manual' = 2, 'filter' = 3),
    actor            String,
    created_at       DateTime64(3, 'UTC'),
    expires_at       Nullable(DateTime64(3, 'UTC')),
    deployment       LowCardinality(Nullable(String)),
    escalation_level UInt16
)
ENGINE = {{engine_prefix}}MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ip, ts)
SETTINGS non_replicated_deduplication_window = 10000
