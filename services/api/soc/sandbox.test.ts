// The analyst SQL sandbox against the real engine: embedded chdb (the default,
// the logwarden process's own session, shared with the sink's writes), or the
// server at CLICKHOUSE_URL. Every refusal the issue lists, every limit, bound
// parameters, the audit line and metric.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../../../shared/config/load.js';
import type { SocConfig } from '../../../shared/config/types.js';
import { migrate } from '../../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir, testClickHouseMode, type TestClickHouse } from '../../../shared/clickhouse/testing.js';
import { registry } from '../../../shared/metrics.js';
import { ApiError } from '../errors.js';
import { SocSandbox } from './sandbox.js';

const MIN = 60_000;
const analyst = { name: 'soc', role: 'analyst' as const };
let t: TestClickHouse;
const auditLines: Array<Record<string, unknown>> = [];
const auditLog = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) auditLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);
const outDir = mkdtempSync(join(tmpdir(), 'logwarden-soc-'));

function limits(over: Partial<SocConfig> = {}): SocConfig {
  return { ...loadConfig({ text: '', env: {} }).soc, ...over };
}

before(async () => {
  t = await openTestClickHouse('soc_sandbox');
  await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 7 });
  const now = Date.now();
  const ev = (ip: string, ts: number, type = 'scan_detected') => ({
    id: `e-${ip}-${ts}`, ts, type, detector: 'unique_paths', ip, deployment: 'web', count: 20, window_start: ts - MIN, window_end: ts, sample_paths: ['/.env'], details: {},
  });
  await t.ch.insert('events', [ev('203.0.113.7', now - MIN), ev('203.0.113.7', now - 2 * MIN), ev('198.51.100.9', now - 3 * MIN, 'rate_limited')]);
});
after(async () => {
  await t.dispose();
  removeTestDataDir();
  rmSync(outDir, { recursive: true, force: true });
});

async function eventCount(): Promise<number> {
  const [r] = await t.ch.query<{ n: string }>(`SELECT count() AS n FROM ${t.ch.table('events')}`);
  return Number(r?.n);
}

async function refusedWith(sb: SocSandbox, sql: string, code: string, pattern?: RegExp, params: Record<string, unknown> = {}): Promise<ApiError> {
  let caught: unknown;
  try {
    await sb.run(sql, { principal: analyst, params });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ApiError, `${sql}: refused with an ApiError (got ${String(caught)})`);
  assert.equal(caught.code, code, `${sql}: ${caught.message}`);
  if (pattern) assert.match(caught.message, pattern, sql);
  return caught;
}

test(`a SELECT with bound parameters answers columns and rows (${testClickHouseMode()})`, async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  const r = await sb.run('SELECT toString(type) AS type, count() AS n FROM events WHERE ip = {ip:IPv6} AND ts >= {since:DateTime64(3)} GROUP BY type', {
    principal: analyst,
    params: { ip: '203.0.113.7', since: new Date(Date.now() - 3_600_000).toISOString().replace('T', ' ').replace('Z', '') },
  });
  assert.deepEqual(r.columns, [{ name: 'type', type: 'String' }, { name: 'n', type: 'UInt64' }]);
  assert.deepEqual(r.rows.map((x) => [x.type, Number(x.n)]), [['scan_detected', 2]]);
  assert.match(r.sha256, /^[0-9a-f]{64}$/);
});

test('parameters are bound by ClickHouse, never spliced: a hostile value stays a value', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  const hostile = "x' OR 1=1; DROP TABLE events; --";
  const r = await sb.run('SELECT {s:String} AS s', { principal: analyst, params: { s: hostile } });
  assert.deepEqual(r.rows, [{ s: hostile }]);
  await refusedWith(sb, 'SELECT count() FROM events WHERE ip = {ip:IPv6}', 'LW_API_SQL_FAILED', undefined, { ip: hostile });
  await refusedWith(sb, 'SELECT count() FROM events WHERE ip = {ip:IPv6}', 'LW_API_SQL_FAILED', /ip/);
  assert.equal(await eventCount(), 3);
});

test('writes, DDL and several statements are refused, and nothing changes', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  const before = await eventCount();
  for (const sql of [
    "INSERT INTO events (id) VALUES ('x')",
    'DROP TABLE events',
    'TRUNCATE TABLE events',
    'ALTER TABLE events DELETE WHERE 1',
    'CREATE TABLE evil (a UInt8) ENGINE = Memory',
    'OPTIMIZE TABLE events FINAL',
    'SET readonly = 0',
    'SYSTEM DROP DNS CACHE',
    'KILL QUERY WHERE 1',
    'GRANT ALL ON *.* TO default',
    'SHOW TABLES',
    'EXPLAIN SELECT 1',
  ]) await refusedWith(sb, sql, 'LW_API_SQL_REFUSED', /only a SELECT/);
  // chdb would run every statement of such a text: ClickHouse's own parser refuses it before anything runs.
  await refusedWith(sb, 'SELECT 1; DROP TABLE events', 'LW_API_SQL_FAILED', /Multi-statements/);
  await refusedWith(sb, "SELECT 1; INSERT INTO events (id) VALUES ('x')", 'LW_API_SQL_FAILED', /Multi-statements/);
  assert.equal(await eventCount(), before);
});

test('table functions that reach files, URLs, other servers or other tables are refused', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  for (const call of [
    "file('/etc/passwd', 'LineAsString')", "url('http://127.0.0.1:9/x', 'CSV', 'a String')", "remote('127.0.0.1:9', system.one)",
    "remoteSecure('127.0.0.1:9', system.one)", "cluster('default', system.one)", "s3('http://127.0.0.1:9/b/k', 'CSV', 'a String')",
    "executable('id', 'TSV', 'a String')", "mysql('127.0.0.1:9', 'd', 't', 'u', 'p')", "postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')",
    "jdbc('jdbc:x', 't')", "hdfs('hdfs://127.0.0.1:9/x', 'CSV', 'a String')", "odbc('dsn', 't')", "sqlite('/tmp/x.db', 't')",
    "merge('system', '.*')", 'view(SELECT * FROM system.tables)', "input('a String')", "generateRandom('a String')", "dictionary('d')",
    "azureBlobStorage('http://127.0.0.1:9', 'c', 'b')", "mongodb('127.0.0.1:9', 'd', 'c', 'u', 'p', 'a String')",
  ]) {
    await refusedWith(sb, `SELECT * FROM ${call}`, 'LW_API_SQL_REFUSED', /table function/);
  }
  // Also inside a subquery, a JOIN and an IN.
  await refusedWith(sb, "SELECT count() FROM events WHERE toString(ip) IN (SELECT * FROM file('/etc/passwd', 'LineAsString'))", 'LW_API_SQL_REFUSED', /table function file/);
  await refusedWith(sb, "SELECT 1 FROM events AS e JOIN url('http://127.0.0.1:9/x', 'CSV', 'a String') AS u ON 1 = 1", 'LW_API_SQL_REFUSED', /table function url/);
  // Generated values only: allowed.
  const r = await sb.run('SELECT sum(number) AS s FROM numbers(10)', { principal: analyst });
  assert.equal(Number(r.rows[0]?.s), 45);
});

test('functions that read files, dictionaries or Join tables are refused, whatever their case', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  for (const sql of ["SELECT file('/etc/hostname')", "SELECT FILE('/etc/hostname')", "SELECT dictGet('d', 'a', 1)", "SELECT joinGet('j', 'v', 1)", "SELECT arrayMap(x -> file(x), ['/etc/hostname'])"]) {
    await refusedWith(sb, sql, 'LW_API_SQL_REFUSED', /not allowed/);
  }
});

test('only the logwarden database, and a few system tables', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  const other = `${t.ch.database}_other`;
  await t.ch.command(`CREATE DATABASE IF NOT EXISTS ${other}`);
  try {
    await t.ch.command(`CREATE TABLE IF NOT EXISTS ${other}.secrets (s String) ENGINE = MergeTree ORDER BY s`);
    await refusedWith(sb, `SELECT * FROM ${other}.secrets`, 'LW_API_SQL_REFUSED', /outside the logwarden database/);
    await refusedWith(sb, `SELECT 1 FROM events WHERE deployment IN ${other}.secrets`, 'LW_API_SQL_REFUSED', /outside the logwarden database/);
    await refusedWith(sb, `SELECT * FROM events AS e JOIN ${other}.secrets AS s ON e.deployment = s.s`, 'LW_API_SQL_REFUSED', /outside the logwarden database/);
    await refusedWith(sb, `WITH x AS (SELECT * FROM ${other}.secrets) SELECT * FROM x`, 'LW_API_SQL_REFUSED', /outside the logwarden database/);
    await refusedWith(sb, 'SELECT * FROM information_schema.tables', 'LW_API_SQL_REFUSED', /outside the logwarden database/);
  } finally {
    await t.ch.command(`DROP DATABASE IF EXISTS ${other} SYNC`);
  }
  for (const table of ['tables', 'users', 'query_log', 'settings', 'processes', 'databases', 'clusters', 'macros']) {
    await refusedWith(sb, `SELECT * FROM system.${table}`, 'LW_API_SQL_REFUSED', /system\..* is not allowed/);
  }
  const r = await sb.run('SELECT dummy FROM system.one', { principal: analyst });
  assert.deepEqual(r.rows, [{ dummy: 0 }]);
});

test('no SETTINGS, FORMAT or INTO OUTFILE; readonly=1 holds, and the session keeps writing', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  await refusedWith(sb, 'SELECT 1 SETTINGS readonly = 0', 'LW_API_SQL_REFUSED', /SETTINGS/);
  await refusedWith(sb, "SELECT r FROM (SELECT getSetting('readonly') AS r SETTINGS readonly = 0)", 'LW_API_SQL_REFUSED', /SETTINGS/);
  await refusedWith(sb, 'SELECT count() FROM events SETTINGS max_rows_to_read = 0', 'LW_API_SQL_REFUSED', /SETTINGS/);
  await refusedWith(sb, 'SELECT 1 FORMAT CSV', 'LW_API_SQL_REFUSED', /FORMAT/);
  const out = join(outDir, 'leak.csv');
  await refusedWith(sb, `SELECT * FROM events INTO OUTFILE '${out}'`, 'LW_API_SQL_REFUSED', /OUTFILE/);
  assert.equal(existsSync(out), false);
  const r = await sb.run("SELECT getSetting('readonly') AS r, getSetting('max_result_rows') AS m", { principal: analyst });
  assert.equal(Number(r.rows[0]?.r), 1);
  assert.equal(Number(r.rows[0]?.m), limits().max_result_rows);
  // The settings were the statement's own, not the session's: logwarden's writes go on.
  await t.ch.insert('events', [{ id: 'after', ts: Date.now(), type: 'suspicious', detector: 'x', ip: '192.0.2.1', deployment: 'web', count: 1, window_start: Date.now(), window_end: Date.now(), sample_paths: [], details: {} }]);
  assert.equal(await eventCount(), 4);
  await t.ch.command(`ALTER TABLE ${t.ch.table('events')} DELETE WHERE id = 'after' SETTINGS mutations_sync = 1`);
});

test('every limit, once breached, is a 4xx naming its config key', async () => {
  const cases: Array<[Partial<SocConfig>, string, string]> = [
    [{ max_result_rows: 5 }, 'SELECT number FROM numbers(1000)', 'soc.max_result_rows'],
    [{ max_result_bytes: 1024 }, "SELECT repeat('x', 100000) AS big", 'soc.max_result_bytes'],
    [{ max_rows_to_read: 1000 }, 'SELECT count() FROM numbers(100000)', 'soc.max_rows_to_read'],
    [{ max_memory_bytes: 1_048_576 }, 'SELECT length(groupArray(toString(number))) FROM numbers(10000000)', 'soc.max_memory_bytes'],
    [{ query_timeout: '1s', query_timeout_ms: 1000, max_rows_to_read: 1e15 }, 'SELECT count() FROM system.numbers WHERE sipHash64(number) = 0', 'soc.query_timeout'],
  ];
  for (const [over, sql, key] of cases) {
    const e = await refusedWith(new SocSandbox(t.ch, limits(over), auditLog), sql, 'LW_API_SQL_LIMIT', new RegExp(key.replace('.', '\\.')));
    assert.equal(e.statusCode, 422);
    assert.equal(e.toJSON().limit, key);
  }
});

test('concurrent queries per token: over the limit is a 429 naming it; another token is not held back', async () => {
  const sb = new SocSandbox(t.ch, limits({ max_concurrent_queries_per_token: 1 }), auditLog);
  const first = sb.run('SELECT count() FROM numbers(1000000)', { principal: analyst });
  const second = sb.run('SELECT 1', { principal: analyst }).then(() => undefined, (e: unknown) => e);
  const other = sb.run('SELECT 1 AS one', { principal: { name: 'soc2', role: 'analyst' } });
  const err = await second;
  assert.ok(err instanceof ApiError);
  assert.equal(err.code, 'LW_API_SQL_BUSY');
  assert.equal(err.statusCode, 429);
  assert.equal(err.toJSON().limit, 'soc.max_concurrent_queries_per_token');
  assert.equal(Number((await first).rows[0]?.['count()']), 1_000_000);
  assert.deepEqual((await other).rows, [{ one: 1 }]);
  // Once the first has ended, the token may run again.
  assert.deepEqual((await sb.run('SELECT 2 AS two', { principal: analyst })).rows, [{ two: 2 }]);
});

test('every query is audited: a log line (who, when, text hash, duration, rows, outcome) and metrics', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  const metric = async (outcome: string): Promise<number> => {
    const m = (await registry.getSingleMetric('logwarden_soc_queries_total')?.get())?.values ?? [];
    return m.find((v) => v.labels.token === 'auditor' && v.labels.outcome === outcome)?.value ?? 0;
  };
  const principal = { name: 'auditor', role: 'analyst' as const };
  const sql = 'SELECT number FROM numbers(3)';
  await sb.run(sql, { principal });
  await sb.run('DROP TABLE events', { principal }).catch(() => undefined);
  assert.equal(await metric('ok'), 1);
  assert.equal(await metric('refused'), 1);
  const lines = auditLines.filter((l) => l.token === 'auditor');
  assert.equal(lines.length, 2);
  const [ok, refusedLine] = lines;
  assert.equal(ok?.audit, 'soc_query');
  assert.equal(ok?.role, 'analyst');
  assert.equal(ok?.rows, 3);
  assert.equal(ok?.outcome, 'ok');
  assert.match(String(ok?.at), /^\d{4}-\d{2}-\d{2}T/);
  assert.equal(typeof ok?.duration_ms, 'number');
  const { createHash } = await import('node:crypto');
  assert.equal(ok?.sha256, createHash('sha256').update(sql).digest('hex'));
  assert.equal(refusedLine?.outcome, 'refused');
  assert.equal(JSON.stringify(lines).includes('DROP TABLE'), false, 'the text itself is not logged, only its hash');
});

test('a query failing half-way leaves nothing behind for the next query of the process (chdb keeps partial output)', async () => {
  const sb = new SocSandbox(t.ch, limits(), auditLog);
  // The first block (65536 rows) is complete before row 70000 throws: run as is, its rows would be written first.
  await refusedWith(sb, "SELECT number, throwIf(number = 70000, 'boom') AS x FROM numbers(100000)", 'LW_API_SQL_FAILED', /boom/);
  await refusedWith(new SocSandbox(t.ch, limits({ max_result_rows: 70000 }), auditLog), 'SELECT number FROM numbers(100000)', 'LW_API_SQL_LIMIT', /max_result_rows/);
  assert.deepEqual(await t.ch.query('SELECT 1 AS one'), [{ one: 1 }]);
});
