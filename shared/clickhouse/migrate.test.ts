// Migrations against a real engine: embedded chdb, or the server at
// CLICKHOUSE_URL (shared/clickhouse/testing.ts chooses).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { AccessRecord, BlockDecision, SecurityEvent } from '../records.js';
import { openClickHouse, type ClickHouse, type ClickHouseOptions } from './client.js';
import { ClickHouseLayerError } from './errors.js';
import { appliedMigrations, applyRetention, defaultMigrationsDir, loadMigrations, migrate, migrateDown } from './migrate.js';
import { epochMs, ipText, onClusterClause, quoteIdentifier, renderTemplate, splitStatements } from './sql.js';
import { openTestClickHouse, removeTestDataDir } from './testing.js';

const tempDirs: string[] = [];

after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  removeTestDataDir();
});

/**
 * A private copy of the first three migration files: the migrator's mechanics
 * are tested on a fixed set, so migrations added later do not change these
 * tests' expectations (the live set is tested as a whole at the end).
 */
function copyOfMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logwarden-migrations-'));
  tempDirs.push(dir);
  const base = defaultMigrationsDir();
  // Matched on the path inside the folder: the checkout's own path may hold "/soc/" (a worktree named soc).
  cpSync(base, dir, { recursive: true, filter: (src) => !/^00000[4-9]_|^0000[1-9]\d_|^soc(\/|$)/.test(relative(base, src)) });
  return dir;
}

const BASE = copyOfMigrations();
const RETENTION = { retentionDays: 30, requestsTtlDays: 7, dir: BASE };

async function withDb(base: string, fn: (ch: ClickHouse, options: ClickHouseOptions) => Promise<void>): Promise<void> {
  const t = await openTestClickHouse(base);
  try {
    await fn(t.ch, t.options);
  } finally {
    await t.dispose();
  }
}

async function tables(ch: ClickHouse): Promise<string[]> {
  const rows = await ch.query<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: ch.database });
  return rows.map((r) => r.name);
}

/** Raw rows of schema_migrations per version, before any collapsing. */
async function recordCounts(ch: ClickHouse): Promise<Record<number, number>> {
  const rows = await ch.query<{ version: number; n: string | number }>(
    `SELECT version, count() AS n FROM ${ch.table('schema_migrations')} GROUP BY version ORDER BY version`,
  );
  return Object.fromEntries(rows.map((r) => [r.version, Number(r.n)]));
}

async function showCreate(ch: ClickHouse, table: string): Promise<string> {
  const [row] = await ch.query<{ statement: string }>(`SHOW CREATE TABLE ${ch.table(table)}`);
  return row?.statement ?? '';
}

test('the shipped migration files are well formed and numbered from 1', () => {
  const ms = loadMigrations(BASE);
  assert.deepEqual(
    ms.map((m) => m.id),
    ['000001_create_requests', '000002_create_events', '000003_create_blocks'],
  );
  for (const m of ms) assert.match(m.checksum, /^[0-9a-f]{64}$/);
});

test('migrations apply in order and are recorded with their checksums', async () => {
  await withDb('apply', async (ch) => {
    const t0 = performance.now();
    const res = await migrate(ch, RETENTION);
    const ms = Math.round(performance.now() - t0);
    console.log(`# all migrations on a fresh ${ch.mode} database: ${ms} ms`);
    const files = loadMigrations(BASE);
    assert.deepEqual(res.applied, files.map((m) => ({ version: m.version, name: m.name })));
    assert.equal(res.version, 3);
    assert.deepEqual(await tables(ch), ['blocks', 'events', 'requests', 'schema_migrations']);
    const applied = await appliedMigrations(ch);
    assert.deepEqual(
      applied.map((a) => [a.version, a.name, a.checksum]),
      files.map((m) => [m.version, m.name, m.checksum]),
    );
    // Applied one after the other, in version order.
    for (let i = 1; i < applied.length; i++) assert.ok(applied[i - 1]!.appliedAtMs <= applied[i]!.appliedAtMs);
    assert.deepEqual(await recordCounts(ch), { 1: 1, 2: 1, 3: 1 });
  });
});

test('running migrate twice changes nothing', async () => {
  await withDb('twice', async (ch) => {
    await migrate(ch, RETENTION);
    const before = await Promise.all(['requests', 'events', 'blocks'].map((t) => showCreate(ch, t)));
    const again = await migrate(ch, RETENTION);
    assert.deepEqual(again.applied, []);
    assert.deepEqual(again.retentionChanged, []);
    assert.equal(again.version, 3);
    assert.deepEqual(await Promise.all(['requests', 'events', 'blocks'].map((t) => showCreate(ch, t))), before);
    assert.deepEqual(await recordCounts(ch), { 1: 1, 2: 1, 3: 1 });
  });
});

test('two concurrent migrate() calls both succeed, with one record per version', async () => {
  await withDb('concurrent', async (a, options) => {
    // A second connection to the same database, as a second service would have.
    const b = await openClickHouse(options);
    try {
      const [ra, rb] = await Promise.all([migrate(a, RETENTION), migrate(b, RETENTION)]);
      assert.equal(ra.version, 3);
      assert.equal(rb.version, 3);
      const appliedTwice = ra.applied.filter((x) => rb.applied.some((y) => y.version === x.version));
      assert.deepEqual(appliedTwice, [], 'each migration ran in one of the two calls');
      assert.deepEqual([...ra.applied, ...rb.applied].map((x) => x.version).sort(), [1, 2, 3]);
      assert.deepEqual(await recordCounts(a), { 1: 1, 2: 1, 3: 1 });
    } finally {
      await b.close();
    }
  });
});

test('every shipped statement is idempotent, and a doubled record collapses', async () => {
  // What two servers applying the same migration at once would do: each
  // statement twice, and two records for one version.
  await withDb('idempotent', async (ch) => {
    await migrate(ch, RETENTION);
    const vars = { database: quoteIdentifier(ch.database), on_cluster: onClusterClause(ch.cluster), engine_prefix: ch.cluster ? 'Replicated' : '', retention_days: '30', requests_ttl_days: '7' };
    const before = await Promise.all(['requests', 'events', 'blocks'].map((t) => showCreate(ch, t)));
    for (const m of loadMigrations(BASE)) {
      for (const sql of splitStatements(renderTemplate(m.up, vars))) await ch.command(sql);
    }
    assert.deepEqual(await Promise.all(['requests', 'events', 'blocks'].map((t) => showCreate(ch, t))), before);

    const [first] = await appliedMigrations(ch);
    assert.ok(first);
    await ch.insert('schema_migrations', [{ version: first.version, name: first.name, checksum: first.checksum, applied_at: Date.now(), revision: 1, is_deleted: 0 }]);
    assert.equal((await recordCounts(ch))[first.version], 2);
    assert.deepEqual((await appliedMigrations(ch)).map((a) => a.version), [1, 2, 3]);
    assert.deepEqual((await migrate(ch, RETENTION)).applied, []);

    for (const m of loadMigrations(BASE).reverse()) {
      for (let i = 0; i < 2; i++) for (const sql of splitStatements(renderTemplate(m.down, vars))) await ch.command(sql);
    }
    assert.deepEqual(await tables(ch), ['schema_migrations']);
  });
});

test('an applied migration whose file changed is refused', async () => {
  await withDb('tamper', async (ch) => {
    const dir = copyOfMigrations();
    await migrate(ch, { ...RETENTION, dir });
    const file = join(dir, '000002_create_events.up.sql');
    writeFileSync(file, readFileSync(file, 'utf8').replace('UInt32', 'UInt64'));
    // A new migration next to it must not run either.
    writeFileSync(join(dir, '000004_add_note.up.sql'), `ALTER TABLE {{database}}.events{{on_cluster}} ADD COLUMN IF NOT EXISTS note String`);
    writeFileSync(join(dir, '000004_add_note.down.sql'), `ALTER TABLE {{database}}.events{{on_cluster}} DROP COLUMN IF EXISTS note`);
    await assert.rejects(migrate(ch, { ...RETENTION, dir }), (err: unknown) => {
      assert.ok(err instanceof ClickHouseLayerError);
      assert.equal(err.code, 'LW_CH_MIGRATION_CHANGED');
      assert.match(err.message, /000002_create_events was edited after it was applied/);
      return true;
    });
    assert.deepEqual((await appliedMigrations(ch)).map((a) => a.version), [1, 2, 3]);
    assert.doesNotMatch(await showCreate(ch, 'events'), /note/);
  });
});

test('a new migration added later is the only one applied', async () => {
  await withDb('later', async (ch) => {
    const dir = copyOfMigrations();
    await migrate(ch, { ...RETENTION, dir });
    writeFileSync(
      join(dir, '000004_add_note.up.sql'),
      `-- two statements; the ';' inside the string must not split them
ALTER TABLE {{database}}.events{{on_cluster}} ADD COLUMN IF NOT EXISTS note String DEFAULT 'a;b';
ALTER TABLE {{database}}.blocks{{on_cluster}} ADD COLUMN IF NOT EXISTS note String DEFAULT '';
`,
    );
    writeFileSync(
      join(dir, '000004_add_note.down.sql'),
      `ALTER TABLE {{database}}.events{{on_cluster}} DROP COLUMN IF EXISTS note;
ALTER TABLE {{database}}.blocks{{on_cluster}} DROP COLUMN IF EXISTS note;`,
    );
    const res = await migrate(ch, { ...RETENTION, dir });
    assert.deepEqual(res.applied, [{ version: 4, name: 'add_note' }]);
    assert.match(await showCreate(ch, 'events'), /`note` String DEFAULT 'a;b'/);
    assert.match(await showCreate(ch, 'blocks'), /`note` String/);
    assert.deepEqual(await migrateDown(ch, 3, { dir }), [4]);
    assert.doesNotMatch(await showCreate(ch, 'events'), /note/);
  });
});

test('down then up restores the schema; down to 0 removes it all', async () => {
  await withDb('downup', async (ch) => {
    await migrate(ch, RETENTION);
    const before = await Promise.all(['requests', 'events', 'blocks'].map((t) => showCreate(ch, t)));

    assert.deepEqual(await migrateDown(ch, 1, { dir: BASE }), [3, 2]);
    assert.deepEqual(await tables(ch), ['requests', 'schema_migrations']);
    assert.deepEqual((await appliedMigrations(ch)).map((a) => a.version), [1]);
    assert.deepEqual(await migrateDown(ch, 1, { dir: BASE }), [], 'nothing left above 1');

    const up = await migrate(ch, RETENTION);
    assert.deepEqual(up.applied.map((a) => a.version), [2, 3]);
    assert.deepEqual(await Promise.all(['requests', 'events', 'blocks'].map((t) => showCreate(ch, t))), before);
    assert.deepEqual((await appliedMigrations(ch)).map((a) => a.version), [1, 2, 3]);

    assert.deepEqual(await migrateDown(ch, 0, { dir: BASE }), [3, 2, 1]);
    assert.deepEqual(await tables(ch), ['schema_migrations']);
    assert.deepEqual(await appliedMigrations(ch), []);
  });
});

test('a retention change reaches the TTL at the next start, and only then', async () => {
  await withDb('retention', async (ch) => {
    await migrate(ch, RETENTION);
    assert.match(await showCreate(ch, 'events'), /TTL toDateTime\(ts\) \+ toIntervalDay\(30\)/);
    assert.match(await showCreate(ch, 'requests'), /TTL toDateTime\(ts\) \+ toIntervalDay\(7\)/);
    assert.match(await showCreate(ch, 'events'), /ttl_only_drop_parts = 1/);

    const res = await migrate(ch, { retentionDays: 90, requestsTtlDays: 2, dir: BASE });
    assert.deepEqual(res.applied, []);
    assert.deepEqual(res.retentionChanged, ['events', 'requests']);
    assert.match(await showCreate(ch, 'events'), /TTL toDateTime\(ts\) \+ toIntervalDay\(90\)/);
    assert.match(await showCreate(ch, 'requests'), /TTL toDateTime\(ts\) \+ toIntervalDay\(2\)/);

    assert.deepEqual(await applyRetention(ch, { retentionDays: 90, requestsTtlDays: 2 }), []);
    await assert.rejects(applyRetention(ch, { retentionDays: 0, requestsTtlDays: 2 }), /retentionDays must be a whole number/);
    await assert.rejects(migrate(ch, { retentionDays: 1.5, requestsTtlDays: 2, dir: BASE }), /retention_days must be a whole number/);
  });
});

test('a template error in a later file stops the run before anything is applied', async () => {
  await withDb('template', async (ch) => {
    const dir = copyOfMigrations();
    writeFileSync(join(dir, '000004_bad_var.up.sql'), 'ALTER TABLE {{database}}.events{{on_cluster}} MODIFY TTL toDateTime(ts) + INTERVAL {{retention_dayz}} DAY');
    writeFileSync(join(dir, '000004_bad_var.down.sql'), 'SELECT 1');
    await assert.rejects(migrate(ch, { ...RETENTION, dir }), (err: unknown) => {
      return err instanceof ClickHouseLayerError && err.code === 'LW_CH_MIGRATION_INVALID' && /000004_bad_var\.up\.sql: template variable \{\{retention_dayz\}\}/.test(err.message);
    });
    assert.deepEqual(await tables(ch), []);
  });
});

test('malformed migration folders are refused before anything runs', () => {
  const dir = copyOfMigrations();
  writeFileSync(join(dir, '4_bad.up.sql'), 'SELECT 1');
  assert.throws(() => loadMigrations(dir), (err: unknown) => err instanceof ClickHouseLayerError && err.code === 'LW_CH_MIGRATION_INVALID');
  rmSync(join(dir, '4_bad.up.sql'));
  writeFileSync(join(dir, '000004_no_down.up.sql'), 'SELECT 1');
  assert.throws(() => loadMigrations(dir), /000004_no_down: the .down.sql file is missing/);
  rmSync(join(dir, '000004_no_down.up.sql'));
  writeFileSync(join(dir, '000003_other_name.down.sql'), 'SELECT 1');
  assert.throws(() => loadMigrations(dir), /version 000003 is used by two names/);
  assert.ok(readdirSync(dir).includes('README.md'), 'other files are ignored');
});

test('every record field round-trips through its table', async () => {
  await withDb('records', async (ch) => {
    await migrate(ch, RETENTION);
    const now = Date.now();

    const access: AccessRecord = {
      ts: now - 1234,
      node: 'edge-1',
      deployment: 'shop',
      client_ip: '203.0.113.7',
      method: 'POST',
      host: 'shop.example',
      path: '/login',
      query: "u=a'b&x=1",
      status: 401,
      bytes: 5120,
      request_time: 0.125,
      upstream_time: null,
      user_agent: 'curl/8.0',
      referer: '',
      country: 'DE',
      auth_user: null,
      request_id: 'r-1',
      blocked_by: null,
      filter_alert: 'warn-ua',
      extra: { upstream_addr: '10.0.0.2:8080' },
    };
    const access6: AccessRecord = { ...access, client_ip: '2001:db8::7', upstream_time: 0.1, country: null, auth_user: 'bob', blocked_by: 'blocklist', request_id: 'r-2', extra: {} };
    await ch.insert('requests', [access, access6], { dedupToken: 'access:0:0-1' });
    const reqs = await ch.query<Record<string, unknown>>(
      `SELECT * EXCEPT (ts, client_ip), ${epochMs('ts')} AS ts, ${ipText('client_ip')} AS client_ip
         FROM ${ch.table('requests')} ORDER BY request_id`,
    );
    assert.deepEqual(reqs.map((r) => ({ ...r, ts: Number(r.ts), bytes: Number(r.bytes) })), [access, access6]);

    const event: SecurityEvent = {
      id: 'ev-1',
      ts: now - 500,
      type: 'scan_detected',
      detector: 'unique_paths',
      ip: '2001:db8::7',
      deployment: 'shop',
      count: 42,
      window_start: now - 120_000,
      window_end: now - 500,
      sample_paths: ['/.env', '/wp-login.php'],
      details: { distinct_paths: '42' },
    };
    await ch.insert('events', [event], { dedupToken: 'events:0:7' });
    const events = await ch.query<Record<string, unknown>>(
      `SELECT * EXCEPT (ts, ip, window_start, window_end), ${epochMs('ts')} AS ts, ${ipText('ip')} AS ip,
              ${epochMs('window_start')} AS window_start, ${epochMs('window_end')} AS window_end
         FROM ${ch.table('events')}`,
    );
    assert.deepEqual(
      events.map((e) => ({ ...e, ts: Number(e.ts), window_start: Number(e.window_start), window_end: Number(e.window_end) })),
      [event],
    );
    await assert.rejects(ch.insert('events', [{ ...event, type: 'nonsense' }]), /nonsense|Unknown element/i);

    const decision: BlockDecision = {
      ip: '198.51.100.0/24',
      action: 'block',
      reason: 'auto block: 250 events in 2m',
      source: 'auto',
      created_at: now - 100,
      expires_at: null,
      deployment: null,
      escalation_level: 2,
    };
    await ch.insert('blocks', [{ ...decision, ts: decision.created_at, actor: 'detector:rate' }]);
    await ch.insert('blocks', [{ ...decision, action: 'unblock', source: 'manual', ts: now, actor: 'api:admin', reason: 'false positive', expires_at: now + 1000, deployment: 'shop' }]);
    const history = await ch.query<Record<string, unknown>>(
      `SELECT ip, action, reason, source, actor, deployment, escalation_level,
              ${epochMs('created_at')} AS created_at, ${epochMs('expires_at')} AS expires_at
         FROM ${ch.table('blocks')} WHERE ip = {ip:String} ORDER BY ts`,
      { ip: decision.ip },
    );
    assert.deepEqual(
      history.map((h) => ({ ...h, created_at: Number(h.created_at), expires_at: h.expires_at === null ? null : Number(h.expires_at) })),
      [
        { ip: decision.ip, action: 'block', reason: decision.reason, source: 'auto', actor: 'detector:rate', deployment: null, escalation_level: 2, created_at: decision.created_at, expires_at: null },
        { ip: decision.ip, action: 'unblock', reason: 'false positive', source: 'manual', actor: 'api:admin', deployment: 'shop', escalation_level: 2, created_at: decision.created_at, expires_at: now + 1000 },
      ],
    );
  });
});

test('the live migration set applies in order, twice without change, and down to nothing', async () => {
  await withDb('live', async (ch) => {
    const live = loadMigrations();
    const res = await migrate(ch, { retentionDays: 30, requestsTtlDays: 7 });
    assert.deepEqual(res.applied.map((a) => a.version), live.map((m) => m.version));
    assert.equal(res.version, live[live.length - 1]?.version);
    const again = await migrate(ch, { retentionDays: 30, requestsTtlDays: 7 });
    assert.deepEqual(again.applied, []);
    assert.deepEqual(await migrateDown(ch, 0), live.map((m) => m.version).reverse());
    assert.deepEqual(await tables(ch), ['schema_migrations']);
  });
});
