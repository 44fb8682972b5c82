// Numbered schema migrations for ClickHouse (schemas/clickhouse/, rules in
// its README). Safe to run twice and from several processes at once:
// - every DDL statement in the files is idempotent (IF [NOT] EXISTS), so a
//   migration applied by two processes at the same time ends in one schema;
// - schema_migrations is a ReplacingMergeTree keyed by version, so the two
//   identical records such a race writes collapse into one, and we read it
//   with argMax, which does not depend on merges having happened;
// - on one host the runs take turns: an in-process mutex, plus a lock file
//   in the data dir for the embedded engine. Server mode across hosts relies
//   on the idempotence above.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentLogger } from '../log.js';
import type { ClickHouse } from './client.js';
import { ClickHouseLayerError } from './errors.js';
import { withFileLock, withProcessMutex, type FileLockOptions } from './lock.js';
import { isClusterName, onClusterClause, quoteIdentifier, renderTemplate, splitStatements } from './sql.js';

const log = componentLogger('clickhouse-migrate');

const FILE_NAME = /^(\d{6})_([a-z0-9][a-z0-9_]*)\.(up|down)\.sql$/;
const MAX_DAYS = 36_500;

export interface Migration {
  version: number;
  /** "create_requests" */
  name: string;
  /** "000001_create_requests" */
  id: string;
  up: string;
  down: string;
  /** sha256 (hex) of the up file, line endings normalised. */
  checksum: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAtMs: number;
}

export interface RetentionOptions {
  /** TTL of events (and, later, rollups), in days. */
  retentionDays: number;
  /** TTL of captured requests, in days. */
  requestsTtlDays: number;
  /** Defaults to the connection's cluster. */
  cluster?: string;
}

export interface MigrateOptions extends RetentionOptions {
  /** Folder of the migration files; defaults to the project's schemas/clickhouse. */
  dir?: string;
  /** Embedded mode: how long to wait for another process's migration run. */
  lock?: FileLockOptions;
}

export interface MigrateResult {
  /** Migrations applied by this run, in order. */
  applied: { version: number; name: string }[];
  /** Highest applied version after the run. */
  version: number;
  /** Tables whose TTL this run changed. */
  retentionChanged: string[];
}

/** Tables whose TTL follows configuration, and which setting drives it. */
const RETENTION_TABLES: readonly { table: string; days: keyof Pick<RetentionOptions, 'retentionDays' | 'requestsTtlDays'> }[] = [
  { table: 'requests', days: 'requestsTtlDays' },
  { table: 'events', days: 'retentionDays' },
  { table: 'events_by_minute', days: 'retentionDays' },
  { table: 'events_by_ip_minute', days: 'retentionDays' },
  { table: 'requests_by_minute', days: 'requestsTtlDays' },
  { table: 'events_by_path_hour', days: 'retentionDays' },
  { table: 'requests_by_country_hour', days: 'requestsTtlDays' },
  { table: 'requests_by_agent_hour', days: 'requestsTtlDays' },
  { table: 'requests_by_agent_day', days: 'requestsTtlDays' },
  { table: 'events_top_ips_hour', days: 'retentionDays' },
  { table: 'events_by_hour', days: 'retentionDays' },
  { table: 'events_by_geo_hour', days: 'retentionDays' },
  { table: 'events_by_ip_day', days: 'retentionDays' },
  { table: 'events_by_path_day', days: 'retentionDays' },
  { table: 'events_by_geo_day', days: 'retentionDays' },
  { table: 'crawler_verdicts', days: 'retentionDays' },
];

function invalid(message: string): ClickHouseLayerError {
  return new ClickHouseLayerError('LW_CH_MIGRATION_INVALID', message);
}

function badConfig(message: string): ClickHouseLayerError {
  return new ClickHouseLayerError('LW_CH_BAD_CONFIG', message);
}

/** The project's schemas/clickhouse, found from this module in src/ or dist/. */
export function defaultMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'schemas', 'clickhouse');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw invalid('cannot find schemas/clickhouse above ' + dirname(fileURLToPath(import.meta.url)));
    dir = parent;
  }
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/** Read and check the migration files of `dir`, ordered by version. */
export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const parts = new Map<number, { name: string; up?: string; down?: string }>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_NAME.exec(file);
    if (!m) throw invalid(`${join(dir, file)}: migration files are named NNNNNN_name.up.sql / NNNNNN_name.down.sql`);
    const [, num, name, kind] = m as unknown as [string, string, string, 'up' | 'down'];
    const version = Number(num);
    if (version === 0) throw invalid(`${file}: versions start at 000001`);
    const entry = parts.get(version) ?? { name };
    if (entry.name !== name) throw invalid(`version ${num} is used by two names: ${entry.name} and ${name}`);
    if (entry[kind] !== undefined) throw invalid(`${file} is given twice`);
    entry[kind] = readFileSync(join(dir, file), 'utf8');
    parts.set(version, entry);
  }
  const out: Migration[] = [];
  for (const [version, p] of [...parts].sort((a, b) => a[0] - b[0])) {
    const id = `${String(version).padStart(6, '0')}_${p.name}`;
    if (p.up === undefined) throw invalid(`${id}: the .up.sql file is missing`);
    if (p.down === undefined) throw invalid(`${id}: the .down.sql file is missing (every migration can be rolled back)`);
    out.push({ version, name: p.name, id, up: p.up, down: p.down, checksum: checksumOf(p.up) });
  }
  return out;
}

function checkDays(label: string, v: number): string {
  if (!Number.isInteger(v) || v < 1 || v > MAX_DAYS) throw badConfig(`${label} must be a whole number of days in 1..${MAX_DAYS}, got ${v}`);
  return String(v);
}

function resolveCluster(ch: ClickHouse, cluster: string | undefined): string | undefined {
  const c = cluster || ch.cluster || undefined;
  if (c === undefined) return undefined;
  if (ch.mode === 'embedded') throw badConfig('a cluster needs a ClickHouse server (clickhouse.url); the embedded engine is one node');
  if (!isClusterName(c)) throw badConfig(`not a valid cluster name: ${JSON.stringify(c)}`);
  return c;
}

function templateVars(ch: ClickHouse, cluster: string | undefined, retention?: RetentionOptions): Record<string, string> {
  const vars: Record<string, string> = {
    database: quoteIdentifier(ch.database),
    on_cluster: onClusterClause(cluster),
    engine_prefix: cluster ? 'Replicated' : '',
  };
  if (retention) {
    vars.retention_days = checkDays('retention_days', retention.retentionDays);
    vars.requests_ttl_days = checkDays('requests_ttl_days', retention.requestsTtlDays);
  }
  return vars;
}

function render(m: Migration, which: 'up' | 'down', vars: Record<string, string>): string[] {
  try {
    return splitStatements(renderTemplate(m[which], vars));
  } catch (err) {
    throw invalid(`${m.id}.${which}.sql: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Serialise migration runs on this host (see the header). */
async function exclusive<T>(ch: ClickHouse, opts: FileLockOptions | undefined, fn: () => Promise<T>): Promise<T> {
  if (ch.mode === 'server') return withProcessMutex(`server|${ch.url ?? ''}|${ch.database}`, fn);
  const lockFile = join(ch.dataDir, `.logwarden-migrate-${ch.database}.lock`);
  return withProcessMutex(lockFile, () => withFileLock(lockFile, fn, opts));
}

async function ensureMigrationsTable(ch: ClickHouse, vars: Record<string, string>): Promise<void> {
  await ch.command(
    renderTemplate(
      `CREATE TABLE IF NOT EXISTS {{database}}.schema_migrations{{on_cluster}}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC'),
    revision   UInt64,
    is_deleted UInt8
)
ENGINE = {{engine_prefix}}ReplacingMergeTree(revision, is_deleted)
ORDER BY version`,
      vars,
    ),
  );
}

/** Migrations currently applied, by version (latest record per version wins). */
export async function appliedMigrations(ch: ClickHouse): Promise<AppliedMigration[]> {
  const rows = await ch.query<{ version: number; name: string; checksum: string; applied_at_ms: string | number }>(
    `SELECT version,
            argMax(name, revision)       AS name,
            argMax(checksum, revision)   AS checksum,
            argMax(toUnixTimestamp64Milli(applied_at), revision) AS applied_at_ms,
            argMax(is_deleted, revision) AS deleted
       FROM ${ch.table('schema_migrations')}
      GROUP BY version
     HAVING deleted = 0
      ORDER BY version`,
  );
  return rows.map((r) => ({ version: Number(r.version), name: r.name, checksum: r.checksum, appliedAtMs: Number(r.applied_at_ms) }));
}

async function nextRevision(ch: ClickHouse): Promise<number> {
  const [row] = await ch.query<{ r: string | number }>(`SELECT max(revision) AS r FROM ${ch.table('schema_migrations')}`);
  // Microseconds since the epoch stay below 2^53 until the year 2255.
  return Math.max(Number(row?.r ?? 0) + 1, Date.now() * 1000);
}

async function record(ch: ClickHouse, m: Migration, deleted: boolean): Promise<void> {
  await ch.insert('schema_migrations', [
    {
      version: m.version,
      name: m.name,
      checksum: m.checksum,
      applied_at: Date.now(),
      revision: await nextRevision(ch),
      is_deleted: deleted ? 1 : 0,
    },
  ]);
}

function refuseChanged(applied: AppliedMigration[], byVersion: Map<number, Migration>): void {
  for (const a of applied) {
    const m = byVersion.get(a.version);
    if (m && m.checksum !== a.checksum) {
      throw new ClickHouseLayerError(
        'LW_CH_MIGRATION_CHANGED',
        `migration ${m.id} was edited after it was applied (recorded checksum ${a.checksum.slice(0, 12)}…, ` +
          `file now ${m.checksum.slice(0, 12)}…). Never edit an applied migration: restore the file and add a new numbered one.`,
      );
    }
  }
}

/**
 * Apply the pending up-migrations in version order, record each, then bring
 * the TTLs in line with the retention settings.
 */
export async function migrate(ch: ClickHouse, opts: MigrateOptions): Promise<MigrateResult> {
  const cluster = resolveCluster(ch, opts.cluster);
  const vars = templateVars(ch, cluster, opts);
  const migrations = loadMigrations(opts.dir);
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  // Render everything first: a template error in a later file must stop the
  // run before the earlier ones are applied.
  const statementsOf = new Map(migrations.map((m) => [m.version, render(m, 'up', vars)]));

  return exclusive(ch, opts.lock, async () => {
    const t0 = performance.now();
    await ensureMigrationsTable(ch, vars);
    const applied = await appliedMigrations(ch);
    refuseChanged(applied, byVersion);
    const done = new Set(applied.map((a) => a.version));
    for (const a of applied) {
      if (!byVersion.has(a.version)) {
        log.warn({ version: a.version, name: a.name }, 'applied migration has no file here: this database is newer than this code');
      }
    }

    const ran: MigrateResult['applied'] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      const statements = statementsOf.get(m.version) ?? [];
      const tm = performance.now();
      for (const sql of statements) await ch.command(sql);
      await record(ch, m, false);
      ran.push({ version: m.version, name: m.name });
      log.info({ migration: m.id, statements: statements.length, ms: Math.round(performance.now() - tm) }, 'migration applied');
    }

    const retentionChanged = await applyRetention(ch, { ...opts, cluster });
    const version = Math.max(0, ...applied.map((a) => a.version), ...ran.map((r) => r.version));
    log.info({ database: ch.database, version, applied: ran.length, ms: Math.round(performance.now() - t0) }, 'schema up to date');
    return { applied: ran, version, retentionChanged };
  });
}

/**
 * Roll back every applied migration above `toVersion`, newest first, with
 * its .down.sql. `toVersion = 0` removes them all.
 */
export async function migrateDown(
  ch: ClickHouse,
  toVersion: number,
  opts: { dir?: string; cluster?: string; lock?: FileLockOptions } = {},
): Promise<number[]> {
  if (!Number.isInteger(toVersion) || toVersion < 0) throw badConfig(`toVersion must be a whole number ≥ 0, got ${toVersion}`);
  const cluster = resolveCluster(ch, opts.cluster);
  const vars = templateVars(ch, cluster);
  const migrations = loadMigrations(opts.dir);
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  const statementsOf = new Map(migrations.map((m) => [m.version, render(m, 'down', vars)]));

  return exclusive(ch, opts.lock, async () => {
    await ensureMigrationsTable(ch, vars);
    const applied = await appliedMigrations(ch);
    refuseChanged(applied, byVersion);
    const rolledBack: number[] = [];
    for (const a of applied.filter((x) => x.version > toVersion).reverse()) {
      const m = byVersion.get(a.version);
      if (!m) throw invalid(`cannot roll back migration ${a.version} (${a.name}): its files are not here`);
      for (const sql of statementsOf.get(m.version) ?? []) await ch.command(sql);
      await record(ch, m, true);
      rolledBack.push(m.version);
      log.info({ migration: m.id }, 'migration rolled back');
    }
    return rolledBack;
  });
}

/** TTL in days of a table as ClickHouse reports it, if it has our form of TTL. */
function ttlDaysOf(engineFull: string): number | undefined {
  const m = /\bTTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)/.exec(engineFull);
  return m ? Number(m[1]) : undefined;
}

/**
 * Make each retention-driven table's TTL match the settings. Issues ALTER
 * ... MODIFY TTL only where the TTL differs, so a normal start changes
 * nothing. Returns the tables it changed. Tables not created yet are skipped.
 */
export async function applyRetention(ch: ClickHouse, opts: RetentionOptions): Promise<string[]> {
  const cluster = resolveCluster(ch, opts.cluster);
  const wanted = new Map(RETENTION_TABLES.map((t) => [t.table, Number(checkDays(t.days, opts[t.days]))]));
  const rows = await ch.query<{ name: string; engine_full: string }>(
    'SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}',
    { db: ch.database, names: [...wanted.keys()] },
  );
  const changed: string[] = [];
  for (const row of rows.sort((a, b) => a.name.localeCompare(b.name))) {
    const days = wanted.get(row.name);
    if (days === undefined || ttlDaysOf(row.engine_full) === days) continue;
    // The tables carry materialize_ttl_recalculate_only = 1: the ALTER only
    // recomputes TTL info per part, and expired day partitions are dropped
    // whole (ttl_only_drop_parts), so this stays cheap on big tables.
    await ch.command(
      `ALTER TABLE ${ch.table(row.name)}${onClusterClause(cluster)} MODIFY TTL toDateTime(ts) + INTERVAL ${days} DAY`,
    );
    changed.push(row.name);
    log.info({ table: row.name, days }, 'retention changed');
  }
  return changed;
}
