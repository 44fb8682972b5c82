// ClickHouse as the config file describes it (clickhouse: and the retention
// keys of security:): one place for the runtime and `logwarden migrate`.
import type { Config } from '../config/load.js';
import { openClickHouse, type ClickHouse } from './client.js';
import { migrate, type MigrateResult } from './migrate.js';

const DAY_MS = 86_400_000;

/** The server at clickhouse.url, or the embedded engine under clickhouse.data_dir. */
export function openConfigured(config: Config): Promise<ClickHouse> {
  const c = config.clickhouse;
  return openClickHouse({
    ...(c.url ? { url: c.url, username: c.username, password: c.password } : {}),
    database: c.database,
    dataDir: c.data_dir,
    ...(c.cluster ? { cluster: c.cluster } : {}),
  });
}

/** Applies the pending migrations with the configured retentions (requests' TTL rounded up to whole days). */
export function migrateConfigured(ch: ClickHouse, config: Config): Promise<MigrateResult> {
  return migrate(ch, {
    retentionDays: config.security.retention_days,
    requestsTtlDays: Math.max(1, Math.ceil(config.clickhouse.requests_ttl_ms / DAY_MS)),
  });
}
