// Analyst SQL, safe by construction: one SELECT over logwarden's own tables,
// read-only, bounded, with bound parameters, audited. Used by POST
// /api/soc/query and by the saved queries; the same steps in embedded mode
// (chdb) and against a ClickHouse server, since every step is SQL.
//
// ClickHouse itself decides what the text is; no hand-written SQL parser:
// 1. `formatQuery({q:String})`: the text travels as a bound value, and
//    ClickHouse's parser answers with one canonical statement or refuses
//    ("Multi-statements are not allowed"). Only this canonical text is used
//    from here on. Why this comes first: chdb runs every statement of a
//    multi-statement text, so even an EXPLAIN of the raw text could run a
//    second statement hidden after a `;`.
// 2. `EXPLAIN AST` of it (parse only, nothing resolved or read): the root must
//    be a SELECT (or UNION of them) with no FORMAT or INTO OUTFILE, no
//    SETTINGS anywhere (a subquery's `SETTINGS readonly=0` would lift
//    read-only for that subquery), and every table function must be one of
//    TABLE_FUNCTIONS. This runs before step 3 because resolving `url()`,
//    `file()` or `remote()` already reaches out (schema inference).
// 3. `EXPLAIN QUERY TREE` (the analyzer resolves every name): every table read
//    (FROM, JOIN, `IN table`, CTEs, views) must be in our database or one of
//    SYSTEM_TABLES, and no function in DENIED_FUNCTIONS is called (the scalar
//    `file()` reads a server file even under readonly=1; `dictGet` and
//    `joinGet` reach dictionaries and Join tables whose sources may be other
//    servers).
// 4. The canonical text runs with our SETTINGS clause appended: readonly=1
//    first (a query can neither change settings nor write after it), then
//    the limits, each with overflow mode `throw`. Settings go in the
//    statement, never in `clickhouse_settings`, which chdb would turn into a
//    session-wide SET (see shared/clickhouse/client.ts).
//
// One answer row. chdb (3.4) leaves the output of a query that fails half-way
// (a limit reached after some rows went out, a timeout) in its session, and
// the next query of the process, whoever makes it, gets those rows in front
// of its own. So the analyst's query runs as the subquery of one aggregate,
// `groupArray(max_result_rows + 1)(tuple(columns))`: nothing is written until
// the whole result is built, and a failure writes nothing. Its columns come
// from `DESCRIBE (query)`; its rows keep their order (the aggregate reads the
// sorted stream as it comes). max_result_rows and max_result_bytes are checked
// on subqueries too, so they still stop the work early. The embedded client
// now drains such output itself for every caller (shared/clickhouse/
// chdb-guard.ts), so the aggregate is a second line of defence here.
//
// A breached limit is a 422 naming the config key; the per-token concurrency
// limit a 429. Every query is audited: a log line and metrics with the token's
// name and role, the sha256 of the text, duration, rows and outcome.
import { createHash } from 'node:crypto';
import { Counter, Histogram } from 'prom-client';
import type { ClickHouse, QueryParams } from '../../../shared/clickhouse/client.js';
import { withDeadline } from '../../../shared/clickhouse/deadline.js';
import { clickhouseCodeOf, isRetryable } from '../../../shared/clickhouse/errors.js';
import type { SocConfig } from '../../../shared/config/types.js';
import { componentLogger, type Logger } from '../../../shared/log.js';
import { registry } from '../../../shared/metrics.js';
import type { Principal } from '../../../shared/auth/tokens.js';
import { ApiError } from '../errors.js';

const log = componentLogger('soc');

const queriesTotal = new Counter({
  name: 'logwarden_soc_queries_total',
  help: 'Analyst SQL queries (ad hoc and saved) by token, role and outcome (ok, refused, limit, failed, unavailable).',
  labelNames: ['token', 'role', 'outcome'] as const,
  registers: [registry],
});
const queryRows = new Counter({
  name: 'logwarden_soc_query_rows_total',
  help: 'Rows answered to analyst SQL queries, by token.',
  labelNames: ['token'] as const,
  registers: [registry],
});
const querySeconds = new Histogram({
  name: 'logwarden_soc_query_duration_seconds',
  help: 'Duration of analyst SQL queries, checks included, by outcome.',
  labelNames: ['outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** Table functions that read nothing but generated values. Every other one (file, url, remote, s3, mysql, merge, view, ...) is refused. */
export const TABLE_FUNCTIONS: ReadonlySet<string> = new Set(['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'generate_series', 'generateseries', 'values', 'null']);

/** system tables an analyst may read: constants and descriptions of ClickHouse itself, nothing of other databases or the server's state. */
export const SYSTEM_TABLES: ReadonlySet<string> = new Set(['one', 'numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'functions', 'data_type_families', 'time_zones']);

/** Functions that reach beyond the query's tables (files, dictionaries, Join tables, models, introspection). Compared lower-case. */
const DENIED_FUNCTIONS: readonly RegExp[] = [
  /^file$/, /^dict/, /^joinget/, /^catboostevaluate$/, /^naivebayesclassifier$/, /^evalmlmethod$/, /^getmacro$/,
  /^addresstoline/, /^addresstosymbol$/, /^demangle$/, /^getserversetting$/, /^getmergetreesetting$/, /^getclienthttpheader$/,
];

/** The format EXPLAIN is read in; the client appends it as FORMAT, which EXPLAIN AST then shows as the root's last child. */
const EXPLAIN_FORMAT = 'TabSeparatedRaw';

export type SocOutcome = 'ok' | 'refused' | 'limit' | 'failed' | 'unavailable';

export interface SocResult {
  columns: Array<{ name: string; type: string }>;
  rows: Array<Record<string, unknown>>;
  rows_read: number | undefined;
  elapsed_ms: number;
  sha256: string;
}

export interface RunOptions {
  principal: Principal;
  params?: QueryParams;
  /** The saved query's name, for the audit line. */
  saved?: string;
}

/** Any column name as a backquoted identifier (names of expressions such as `count()` included). */
function anyIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

function refused(message: string): ApiError {
  return new ApiError('LW_API_SQL_REFUSED', message, 'sql');
}

/** The config key a ClickHouse limit error stands for, from its code (and message where one code covers two limits). */
function limitOf(err: unknown): string | undefined {
  const code = clickhouseCodeOf(err);
  const message = err instanceof Error ? err.message : '';
  switch (code) {
    case 159: // TIMEOUT_EXCEEDED
    case 160: // TOO_SLOW (estimated or sleep time over the limit)
      return 'soc.query_timeout';
    case 158: // TOO_MANY_ROWS
    case 307: // TOO_MANY_BYTES (to read)
      return 'soc.max_rows_to_read';
    case 396: // TOO_MANY_ROWS_OR_BYTES (result)
      return /max bytes/i.test(message) ? 'soc.max_result_bytes' : 'soc.max_result_rows';
    case 241: // MEMORY_LIMIT_EXCEEDED
      return 'soc.max_memory_bytes';
    default:
      return undefined;
  }
}

/** ClickHouse's own words, without the stack or the echoed query. */
function clickhouseMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const text = raw.replace(/^[^:]*\[[^\]]*\]: /, '').replace(/\s*\(version [^)]*\)\s*$/, '');
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** One lower-case name per node of an EXPLAIN AST listing, with its depth: "Function file", "TableIdentifier db.t". */
interface AstLine {
  depth: number;
  kind: string;
  name: string;
}

function astLines(rows: readonly string[]): AstLine[] {
  return rows.map((text) => {
    const depth = text.length - text.trimStart().length;
    const [kind = '', name = ''] = text.trim().replace(/ \(children \d+\)$/, '').split(/ (.*)/s);
    return { depth, kind, name };
  });
}

export class SocSandbox {
  private readonly running = new Map<string, number>();

  constructor(
    private readonly ch: ClickHouse,
    private readonly limits: SocConfig,
    /** Where the audit lines go. */
    private readonly auditLog: Logger = log,
  ) {}

  /** The SETTINGS clause every analyst query runs with; readonly first, so nothing after it in the text can change a setting. */
  settingsClause(): string {
    const l = this.limits;
    return [
      'readonly = 1',
      `max_execution_time = ${Math.max(1, Math.ceil(l.query_timeout_ms / 1000))}`,
      "timeout_overflow_mode = 'throw'",
      `max_rows_to_read = ${l.max_rows_to_read}`,
      "read_overflow_mode = 'throw'",
      `max_result_rows = ${l.max_result_rows}`,
      `max_result_bytes = ${l.max_result_bytes}`,
      "result_overflow_mode = 'throw'",
      `max_memory_usage = ${l.max_memory_bytes}`,
      // The answer row's tuples as JSON arrays, matched to DESCRIBE's columns by position.
      'output_format_json_named_tuples_as_objects = 0',
    ].join(', ');
  }

  /** Run one analyst query (steps 1-4 of the header), audited. */
  async run(sql: string, opts: RunOptions): Promise<SocResult> {
    const { principal } = opts;
    const sha256 = createHash('sha256').update(sql, 'utf8').digest('hex');
    const active = this.running.get(principal.name) ?? 0;
    const t0 = performance.now();
    let outcome: SocOutcome = 'ok';
    let rows = 0;
    let limit: string | undefined;
    if (active >= this.limits.max_concurrent_queries_per_token) {
      outcome = 'limit';
      limit = 'soc.max_concurrent_queries_per_token';
      this.audit(principal, sha256, opts, outcome, 0, 0, limit);
      throw new ApiError('LW_API_SQL_BUSY', `this token already runs ${active} queries (soc.max_concurrent_queries_per_token = ${this.limits.max_concurrent_queries_per_token})`, undefined, { limit });
    }
    this.running.set(principal.name, active + 1);
    try {
      const result = await this.execute(sql, opts.params ?? {}, sha256);
      rows = result.rows.length;
      return result;
    } catch (err) {
      const e = this.toApiError(err);
      outcome = e.code === 'LW_API_SQL_REFUSED' ? 'refused' : e.code === 'LW_API_SQL_LIMIT' ? 'limit' : e.code === 'LW_API_STORAGE_UNAVAILABLE' ? 'unavailable' : 'failed';
      limit = typeof e.extra?.limit === 'string' ? e.extra.limit : undefined;
      throw e;
    } finally {
      const n = (this.running.get(principal.name) ?? 1) - 1;
      if (n <= 0) this.running.delete(principal.name);
      else this.running.set(principal.name, n);
      this.audit(principal, sha256, opts, outcome, performance.now() - t0, rows, limit);
    }
  }

  private audit(principal: Principal, sha256: string, opts: RunOptions, outcome: SocOutcome, ms: number, rows: number, limit: string | undefined): void {
    queriesTotal.inc({ token: principal.name, role: principal.role, outcome });
    querySeconds.observe({ outcome }, ms / 1000);
    if (rows > 0) queryRows.inc({ token: principal.name }, rows);
    this.auditLog.info(
      { audit: 'soc_query', token: principal.name, role: principal.role, at: new Date().toISOString(), sha256, duration_ms: Math.round(ms), rows, outcome, ...(opts.saved ? { saved: opts.saved } : {}), ...(limit ? { limit } : {}) },
      'analyst query',
    );
  }

  private toApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    const limit = limitOf(err) ?? limitOf((err as { cause?: unknown }).cause);
    if (limit) return new ApiError('LW_API_SQL_LIMIT', `${limit} reached: ${clickhouseMessage((err as { cause?: unknown }).cause ?? err)}`, undefined, { limit });
    if (isRetryable(err)) return new ApiError('LW_API_STORAGE_UNAVAILABLE');
    return new ApiError('LW_API_SQL_FAILED', `ClickHouse refused the query: ${clickhouseMessage((err as { cause?: unknown }).cause ?? err)}`, 'sql');
  }

  /** Deadline on waiting for one step: the query's own limit plus slack (ClickHouse enforces the limit; this bounds a ClickHouse that does not answer). */
  private wait<T>(p: Promise<T>, what: string): Promise<T> {
    return withDeadline(p, this.limits.query_timeout_ms + 5_000, what);
  }

  private async execute(sql: string, params: QueryParams, sha256: string): Promise<SocResult> {
    const t0 = performance.now();
    const [formatted] = await this.wait(this.ch.query<{ f: string }>(`SELECT formatQuery({q:String}) AS f SETTINGS readonly = 1`, { q: sql }), 'formatQuery');
    const canonical = formatted?.f ?? '';
    if (canonical === '') throw refused('the text holds no statement');
    await this.checkAst(canonical, params);
    await this.checkQueryTree(canonical, params);
    const described = await this.wait(this.ch.client.query({ query: `DESCRIBE (${canonical})`, query_params: params, format: 'JSONEachRow' }), 'DESCRIBE');
    const columns = (await this.wait(described.json<{ name: string; type: string }>(), 'DESCRIBE')).map((c) => ({ name: c.name, type: c.type }));
    // One row out, built once the whole result is (see "One answer row" in the header).
    const max = this.limits.max_result_rows;
    const text = `SELECT groupArray(${max + 1})(tuple(${columns.map((c) => anyIdentifier(c.name)).join(', ')})) AS r FROM (${canonical})\nSETTINGS ${this.settingsClause()}`;
    const rs = await this.wait(this.ch.client.query({ query: text, query_params: params, format: 'JSONEachRow' }), 'analyst query');
    const [out] = await this.wait(rs.json<{ r: unknown[][] }>(), 'analyst query');
    const data = out?.r ?? [];
    if (data.length > max) throw new ApiError('LW_API_SQL_LIMIT', `soc.max_result_rows reached: the result has more than ${max} rows`, undefined, { limit: 'soc.max_result_rows' });
    const rows = data.map((r) => Object.fromEntries(columns.map((c, i) => [c.name, r[i]])));
    const summary = rs.response_headers['x-clickhouse-summary'];
    let rowsRead: number | undefined;
    if (typeof summary === 'string') {
      const n = Number((JSON.parse(summary) as { read_rows?: string }).read_rows);
      rowsRead = Number.isFinite(n) ? n : undefined;
    }
    return { columns, rows, rows_read: rowsRead, elapsed_ms: Math.round(performance.now() - t0), sha256 };
  }

  /** EXPLAIN's lines as text (TabSeparatedRaw: its JSON forms mangle the quotes of a bound string value). */
  private async explain(kind: 'AST' | 'QUERY TREE', canonical: string, params: QueryParams): Promise<string[]> {
    const rs = await this.wait(this.ch.client.query({ query: `EXPLAIN ${kind} ${canonical}`, query_params: params, format: EXPLAIN_FORMAT }), `EXPLAIN ${kind}`);
    const text = await this.wait(rs.text(), `EXPLAIN ${kind}`);
    // chdb writes EXPLAIN AST's lines CSV-quoted whatever the format; a server as asked. String values in
    // the dump are escaped (no raw newline), so one line is one node either way.
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (l.length >= 2 && l.startsWith('"') && l.endsWith('"') ? l.slice(1, -1).replace(/""/g, '"') : l));
  }

  private async checkAst(canonical: string, params: QueryParams): Promise<void> {
    const lines = astLines(await this.explain('AST', canonical, params));
    const root = lines[0];
    if (!root || root.kind !== 'SelectWithUnionQuery') throw refused(`only a SELECT is allowed (got ${root?.kind ?? 'nothing'})`);
    // Root's children: the list of SELECTs, then the FORMAT the client itself appends; anything else is FORMAT or INTO OUTFILE of the text.
    const rootChildren = lines.filter((l) => l.depth === 1);
    const extra = rootChildren.slice(1).filter((l) => !(l.kind === 'Identifier' && l.name === EXPLAIN_FORMAT));
    if (rootChildren[0]?.kind !== 'ExpressionList' || extra.length > 0 || rootChildren.length > 2) throw refused('FORMAT and INTO OUTFILE are not allowed: the API chooses the format');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i] as AstLine;
      if (l.kind === 'Set' || l.kind === 'SetQuery') throw refused('SETTINGS are not allowed: the limits are set by logwarden (soc.* in the config)');
      if (l.kind === 'Function') this.checkFunction(l.name);
      // Names written with their database are checked before anything resolves them (a missing system table would only fail).
      if (l.kind === 'TableIdentifier' && l.name.includes('.')) this.checkTable(l.name);
      if (l.kind === 'TableExpression') {
        const child = lines[i + 1];
        if (child && child.depth === l.depth + 1 && child.kind === 'Function' && !TABLE_FUNCTIONS.has(child.name.toLowerCase())) {
          throw refused(`table function ${child.name}() is not allowed (only ${[...TABLE_FUNCTIONS].join(', ')})`);
        }
      }
    }
  }

  /** A table name as EXPLAIN shows it ("db.table", or "table" in the default database, ours). */
  private checkTable(table: string): void {
    const db = this.ch.database;
    const dot = table.indexOf('.');
    const [tdb, name] = dot < 0 ? [db, table] : [table.slice(0, dot).replace(/`/g, ''), table.slice(dot + 1).replace(/`/g, '')];
    if (tdb === 'system' && SYSTEM_TABLES.has(name)) return;
    if (tdb === 'system') throw refused(`system.${name} is not allowed (only system.${[...SYSTEM_TABLES].join(', system.')})`);
    if (tdb !== db) throw refused(`table ${table} is outside the logwarden database ${db}`);
  }

  private checkFunction(name: string): void {
    const lower = name.toLowerCase();
    if (DENIED_FUNCTIONS.some((re) => re.test(lower))) throw refused(`function ${name}() is not allowed: it reaches beyond logwarden's tables`);
  }

  private async checkQueryTree(canonical: string, params: QueryParams): Promise<void> {
    const rows = await this.explain('QUERY TREE', canonical, params);
    for (const text of rows) {
      const table = /^\s*TABLE id: \d+,.*\btable_name: ([^,\s]+)/.exec(text)?.[1];
      if (table !== undefined) {
        this.checkTable(table);
        continue;
      }
      const tableFunction = /^\s*TABLE_FUNCTION id: \d+,.*\btable_function_name: ([^,\s]+)/.exec(text)?.[1];
      if (tableFunction !== undefined && !TABLE_FUNCTIONS.has(tableFunction.toLowerCase())) throw refused(`table function ${tableFunction}() is not allowed`);
      const fn = /^\s*FUNCTION id: \d+, function_name: ([^,\s]+)/.exec(text)?.[1];
      if (fn !== undefined) this.checkFunction(fn);
    }
  }
}
