// The one way logwarden talks to ClickHouse: a ClickHouse server over HTTP(S)
// when `url` is set, otherwise the embedded engine (chdb, plugged into
// @clickhouse/client as its connection, data under `dataDir`). Both run the
// same SQL through the same client calls.
//
// Rules every caller relies on:
// - Values always travel as bound parameters (`{name:Type}`); only our own
//   validated identifiers are spliced into SQL.
// - Table names are qualified (`ch.table('events')`); the database is also
//   the default in both modes, so an unqualified name resolves the same way.
// - Per-statement settings go in the statement's SETTINGS clause, never in
//   `clickhouse_settings`: chdb turns those into a session-wide `SET` that
//   outlives the call (a dedup token set for one insert would silently
//   deduplicate every later insert of the process). insert() does this.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ErrorLogParams,
  type Logger as ClientLogger,
  type LogParams,
  type WarnLogParams,
} from '@clickhouse/client';
import { Counter, Histogram } from 'prom-client';
import { componentLogger } from '../log.js';
import { registry } from '../metrics.js';
import { DrainingConnection, type EngineConnection } from './chdb-guard.js';
import { insertSettings } from './insert-settings.js';
import { insertRows, prepareBlockDir } from './insert-rows.js';
import { parseNativeType, type NativeType } from './native-format.js';
import {
  ClickHouseLayerError,
  ClickHouseRejectedError,
  ClickHouseUnavailableError,
  classifyError,
} from './errors.js';
import { isClusterName, isIdentifier, onClusterClause, qualifiedTable, quoteIdentifier } from './sql.js';

export { isRetryable } from './errors.js';
export { serializeRows, type InsertBody } from './json-rows.js';

const log = componentLogger('clickhouse');

const operations = new Counter({
  name: 'logwarden_clickhouse_operations_total',
  help: 'ClickHouse calls by operation and outcome (ok, unavailable, rejected).',
  labelNames: ['op', 'outcome'] as const,
  registers: [registry],
});
const operationSeconds = new Histogram({
  name: 'logwarden_clickhouse_operation_duration_seconds',
  help: 'Duration of ClickHouse calls, failed ones included.',
  labelNames: ['op'] as const,
  buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
const insertedRows = new Counter({
  name: 'logwarden_clickhouse_inserted_rows_total',
  help: 'Rows sent in acknowledged inserts (rows dropped by insert deduplication included), by body format (Native, or JSON where a value has no exact Native form).',
  labelNames: ['table', 'format'] as const,
  registers: [registry],
});

export interface ClickHouseOptions {
  /** http(s)://host:8123 of a ClickHouse server; absent = embedded engine. */
  url?: string;
  username?: string;
  password?: string;
  database: string;
  /** Embedded mode: the engine's data directory (one per process). */
  dataDir: string;
  /** Server mode: DDL runs ON CLUSTER this cluster and MergeTree engines become Replicated*. */
  cluster?: string;
  /** Server mode: give up on one HTTP request after this long. */
  requestTimeoutMs?: number;
}

export type ClickHouseMode = 'embedded' | 'server';

export type QueryParams = Record<string, unknown>;

export interface InsertOptions {
  /**
   * Same token, same table → ClickHouse keeps the first insert and acknowledges
   * the others without writing (within the table's deduplication window,
   * `non_replicated_deduplication_window` on plain MergeTree). Without a
   * token, the insert is never deduplicated, even when its rows are identical
   * to an earlier insert's.
   */
  dedupToken?: string;
  /**
   * false skips ClickHouse's pass that collapses an inserted block's rows by
   * sorting key in Replacing/Summing/Aggregating tables (the table itself and
   * the rollups its views feed). Only for inserts where that pass finds
   * nothing (views that group by their target's whole sorting key) or whose
   * readers collapse anyway (sum() with GROUP BY, FINAL): there it is pure
   * cost, ~10% of an insert into events. Default: ClickHouse's (collapse).
   */
  optimizeOnInsert?: boolean;
}

export interface ClickHouse {
  /** The underlying @clickhouse/client; prefer the methods below (see the header). */
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly mode: ClickHouseMode;
  readonly cluster: string | undefined;
  /** Embedded: the data directory. Server: as configured, unused. */
  readonly dataDir: string;
  /** Server URL without credentials, for logs and lock keys; undefined when embedded. */
  readonly url: string | undefined;
  /** `db`.`name` in this connection's database (or "db.name" as given). */
  table(name: string): string;
  /** Run a SELECT; `{name:Type}` placeholders are bound from `params`. Rows as JSONEachRow objects. */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /** Run a statement without result rows (DDL, ALTER, INSERT ... SELECT). */
  command(sql: string, params?: QueryParams): Promise<void>;
  /**
   * Insert rows (JSON values: epoch-ms numbers for DateTime64(3), strings for IPs), as one
   * Native block when every value has an exact binary form, else as JSON (insert-rows.ts).
   */
  insert(table: string, rows: readonly object[], opts?: InsertOptions): Promise<void>;
  /** True when ClickHouse answers. */
  ping(): Promise<boolean>;
  /** Waits for calls in flight, then closes. Safe to call twice. */
  close(): Promise<void>;
}

// The client's own log lines go to our logger. Its request errors are
// debug only: the caller gets them as typed errors and decides what to log.
class ClientLogAdapter implements ClientLogger {
  trace({ module, message, args }: LogParams): void {
    log.trace({ module, ...args }, message);
  }
  debug({ module, message, args }: LogParams): void {
    log.debug({ module, ...args }, message);
  }
  info({ module, message, args }: LogParams): void {
    log.info({ module, ...args }, message);
  }
  warn({ module, message, args, err }: WarnLogParams): void {
    log.warn({ module, ...args, err }, message);
  }
  error({ module, message, args, err }: ErrorLogParams): void {
    log.debug({ module, ...args, err }, message);
  }
}
const clientLog = { LoggerClass: ClientLogAdapter, level: ClickHouseLogLevel.WARN };

const CHDB_MISSING =
  'embedded ClickHouse needs the optional package chdb (npm install chdb), or set clickhouse.url / CLICKHOUSE_URL';

// The slice of chdb we use. Declared here rather than imported so the
// project compiles where the optional package is absent.
interface ChdbConnectionModule {
  createChdbConnection(opts: { path: string }): EngineConnection;
}
interface ChdbRootModule {
  drainPending(): Promise<void>;
}

async function importOptional<T>(specifier: string): Promise<T> {
  // A variable specifier keeps tsc from resolving the optional package.
  const mod = (await import(specifier)) as T & { default?: T };
  // A CommonJS module may only expose its exports under `default`.
  return { ...(mod.default ?? {}), ...mod };
}

async function loadChdb(): Promise<{ connection: ChdbConnectionModule; root: ChdbRootModule }> {
  try {
    const [connection, root] = await Promise.all([
      importOptional<ChdbConnectionModule>('chdb/connection'),
      importOptional<ChdbRootModule>('chdb'),
    ]);
    if (typeof connection.createChdbConnection !== 'function' || typeof root.drainPending !== 'function') {
      throw new ClickHouseLayerError('LW_CH_CHDB_MISSING', 'chdb does not export createChdbConnection/drainPending (version >= 3.4 needed)');
    }
    return { connection, root };
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new ClickHouseLayerError('LW_CH_CHDB_MISSING', `${CHDB_MISSING} (loading chdb failed: ${detail})`, { cause: err });
  }
}

function validate(opts: ClickHouseOptions): void {
  const bad = (msg: string): never => {
    throw new ClickHouseLayerError('LW_CH_BAD_CONFIG', msg);
  };
  if (!isIdentifier(opts.database)) bad(`clickhouse.database must match [A-Za-z_][A-Za-z0-9_]*, got ${JSON.stringify(opts.database)}`);
  if (opts.cluster !== undefined && opts.cluster !== '' && !isClusterName(opts.cluster)) {
    bad(`clickhouse.cluster is not a valid cluster name: ${JSON.stringify(opts.cluster)}`);
  }
  if (opts.url) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      return bad(`clickhouse.url is not a URL: ${JSON.stringify(opts.url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') bad(`clickhouse.url must be http(s)://, got ${u.protocol}`);
  } else if (!opts.dataDir) {
    bad('clickhouse.data_dir is required for the embedded engine');
  }
}

function redactedUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

/** The start of a statement, for error messages (values are bound, so it holds none). */
function sqlHint(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return `[${flat.length > 80 ? flat.slice(0, 80) + '…' : flat}]`;
}

class ClickHouseImpl implements ClickHouse {
  private closing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Column types per target table, read once (a column missing here makes its inserts JSON). */
  private readonly columnTypes = new Map<string, Promise<Map<string, NativeType>>>();

  constructor(
    readonly client: ClickHouseClient,
    readonly database: string,
    readonly mode: ClickHouseMode,
    readonly cluster: string | undefined,
    readonly dataDir: string,
    readonly url: string | undefined,
    private readonly afterClose: () => Promise<void>,
    /** Embedded: the directory of Native block files (insert-rows.ts); server: undefined. */
    private readonly blockDir: string | undefined = undefined,
  ) {}

  table(name: string): string {
    return qualifiedTable(this.database, name);
  }

  private async run<T>(op: string, what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closing) throw new ClickHouseLayerError('LW_CH_CLOSED', `${what}: the ClickHouse connection is closed`);
    const end = operationSeconds.startTimer({ op });
    const p = fn();
    this.inFlight.add(p);
    try {
      const out = await p;
      operations.inc({ op, outcome: 'ok' });
      return out;
    } catch (err) {
      const typed = classifyError(err, what);
      operations.inc({ op, outcome: typed.retryable ? 'unavailable' : 'rejected' });
      throw typed;
    } finally {
      this.inFlight.delete(p);
      end();
    }
  }

  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    return this.run('query', `query ${sqlHint(sql)}`, async () => {
      const rs = await this.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return rs.json<T>();
    });
  }

  command(sql: string, params?: QueryParams): Promise<void> {
    return this.run('command', `command ${sqlHint(sql)}`, async () => {
      await this.client.command({ query: sql, query_params: params });
    });
  }

  insert(table: string, rows: readonly object[], opts: InsertOptions = {}): Promise<void> {
    return this.run('insert', `insert into ${table}`, async () => {
      const target = this.table(table);
      if (rows.length === 0) return;
      const settings = insertSettings(opts.dedupToken ?? `once:${randomUUID()}`, opts.optimizeOnInsert !== false);
      const types = await this.typesOf(table);
      const format = await insertRows({ client: this.client, blockDir: this.blockDir, target, rows, settings, types });
      insertedRows.inc({ table: table.slice(table.indexOf('.') + 1), format }, rows.length);
    });
  }

  /** The table's columns this client can write as Native (native-format.ts), by name. */
  private typesOf(table: string): Promise<Map<string, NativeType>> {
    const dot = table.indexOf('.');
    const [db, name] = dot >= 0 ? [table.slice(0, dot), table.slice(dot + 1)] : [this.database, table];
    const key = `${db}.${name}`;
    let p = this.columnTypes.get(key);
    if (!p) {
      p = (async () => {
        const rows = await this.client.query({
          query: 'SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {name:String}',
          query_params: { db, name },
          format: 'JSONEachRow',
        });
        const types = new Map<string, NativeType>();
        for (const c of await rows.json<{ name?: unknown; type?: unknown }>()) {
          if (typeof c.name !== 'string' || typeof c.type !== 'string') continue;
          const t = parseNativeType(c.type);
          if (t) types.set(c.name, t);
        }
        // A table not there yet (no columns): ask again next time.
        if (types.size === 0) this.columnTypes.delete(key);
        return types;
      })();
      this.columnTypes.set(key, p);
      p.catch(() => this.columnTypes.delete(key));
    }
    return p;
  }

  async ping(): Promise<boolean> {
    if (this.closing) return false;
    try {
      const r = await this.client.ping();
      if (!r.success) log.debug({ err: r.error }, 'ClickHouse ping failed');
      return r.success;
    } catch (err) {
      log.debug({ err }, 'ClickHouse ping failed');
      return false;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Closing chdb under a running call aborts the engine for the whole
      // process, so let every call finish first.
      await Promise.allSettled([...this.inFlight]);
      try {
        await this.client.close();
      } finally {
        await this.afterClose();
      }
    })();
    return this.closing;
  }
}

async function openServer(opts: ClickHouseOptions, url: string, cluster: string | undefined): Promise<ClickHouse> {
  const base = {
    url,
    username: opts.username,
    password: opts.password,
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    application: 'logwarden',
    log: clientLog,
  };
  // The database may not exist yet, and a client bound to a missing database
  // fails every request: create it through a client without one.
  const bootstrap = createClient(base);
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(opts.database)}${onClusterClause(cluster)}` });
  } catch (err) {
    throw classifyError(err, `create database ${opts.database} on ${redactedUrl(url)}`);
  } finally {
    await bootstrap.close();
  }
  const client = createClient({ ...base, database: opts.database });
  log.info({ url: redactedUrl(url), database: opts.database, cluster }, 'ClickHouse server connected');
  return new ClickHouseImpl(client, opts.database, 'server', cluster, opts.dataDir, redactedUrl(url), async () => {});
}

/**
 * The pid of another live process that has the engine's data dir open. The
 * engine keeps a `status` file ("PID: n") there while open; its own error
 * for a locked dir says only "Failed to create connection".
 */
function dataDirHolder(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(resolve(dataDir, 'status'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(/^PID: (\d+)/m.exec(text)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

async function openEmbedded(opts: ClickHouseOptions): Promise<ClickHouse> {
  const dataDir = resolve(opts.dataDir);
  const chdb = await loadChdb();
  mkdirSync(dataDir, { recursive: true });
  const t0 = performance.now();
  let connection: EngineConnection;
  try {
    connection = chdb.connection.createChdbConnection({ path: dataDir });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const holder = dataDirHolder(dataDir);
    if (holder !== undefined) {
      throw new ClickHouseUnavailableError(
        `embedded ClickHouse data dir ${dataDir} is in use by another process (pid ${holder}); one process per ` +
          `data dir: run the services in one process, or use a ClickHouse server`,
        { cause: err },
      );
    }
    if (/only one active data directory/i.test(detail)) {
      throw new ClickHouseLayerError(
        'LW_CH_EMBEDDED_DIR_BUSY',
        `this process already has another embedded ClickHouse data dir open; close it before opening ${dataDir}`,
        { cause: err },
      );
    }
    throw new ClickHouseRejectedError(`opening embedded ClickHouse at ${dataDir}: ${detail}`, { cause: err });
  }
  // The hook is typed for @clickhouse/client's own Connection; chdb implements it.
  // DrainingConnection: a failed statement's partial output must not reach the next one.
  const client = createClient({ connection: new DrainingConnection(connection) as never, log: clientLog });
  const ch = new ClickHouseImpl(client, opts.database, 'embedded', undefined, dataDir, undefined, () =>
    chdb.root.drainPending(),
    prepareBlockDir(dataDir),
  );
  try {
    await ch.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(opts.database)}`);
    // USE sticks to the chdb session, which makes it the default database
    // like `database` does for the HTTP client.
    await ch.command(`USE ${quoteIdentifier(opts.database)}`);
  } catch (err) {
    await ch.close().catch(() => undefined);
    throw err;
  }
  log.info({ dataDir, database: opts.database, open_ms: Math.round(performance.now() - t0) }, 'embedded ClickHouse opened');
  return ch;
}

/**
 * Connect to ClickHouse (server when `url` is set, else embedded) and make
 * sure the database exists. Throws a typed error: retryable when the server
 * is unreachable, LW_CH_CHDB_MISSING when embedded mode lacks chdb.
 */
export async function openClickHouse(opts: ClickHouseOptions): Promise<ClickHouse> {
  validate(opts);
  const cluster = opts.cluster ? opts.cluster : undefined;
  if (opts.url) return openServer(opts, opts.url, cluster);
  if (cluster) {
    throw new ClickHouseLayerError('LW_CH_BAD_CONFIG', 'clickhouse.cluster needs clickhouse.url (the embedded engine is a single node)');
  }
  return openEmbedded(opts);
}
