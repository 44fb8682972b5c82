// SQL injection through the management API over real HTTP: every filter that
// reaches a ClickHouse query (and the control-plane list filters beside them)
// gets quotes, backslashes, statement breaks, ClickHouse's own `{name:Type}`
// placeholders, NULs and non-ASCII text. Each call must be refused with a 4xx
// or answer an empty result — never a 5xx, never rows the filter did not ask
// for — and every table must still be there afterwards. (Bound parameters at
// the query layer: shared/clickhouse/queries.test.ts; this goes through the
// routes, their validation and the wiring.)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { securityEventCodec } from '../../shared/avro/codec.js';
import { loadConfig } from '../../shared/config/load.js';
import type { SecurityEvent } from '../../shared/records.js';
import { uniqueName } from '../../shared/testing/kafka.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { hashToken } from '../../shared/auth/tokens.js';
import { clickHouseEnv } from '../../shared/clickhouse/testing.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-injection-'));
const TOKEN = 'lw_injection-admin-token-0123456789abcdef';
const database = uniqueName('inj').replace(/[^A-Za-z0-9_]/g, '_');

const INJECTIONS = [
  "'",
  '"',
  '\\',
  "\\'",
  "'; DROP TABLE events; --",
  "x'); DROP TABLE blocks; --",
  "1' OR '1'='1",
  "' OR 1=1 --",
  '" OR ""="',
  "') UNION ALL SELECT name, name, name FROM system.tables --",
  '{x:String}',
  '{ip:IPv6}',
  "{deployment:String}' OR '1'='1",
  '*/ SELECT 1 /*',
  '1; SELECT sleep(3)',
  '\u0000',
  "\u0000' OR 1=1 --",
  'é漢字🙂\u202e',
  '%27%20OR%201%3D1',
  '$(id)',
  '1e309',
  '-1',
];

/** Query parameters that reach a query, per route: [path, parameter]. */
const FILTERS: Array<[string, string]> = [
  ['/api/security/events', 'type'],
  ['/api/security/events', 'ip'],
  ['/api/security/events', 'deployment'],
  ['/api/security/events', 'detector'],
  ['/api/security/events', 'since'],
  ['/api/security/events', 'until'],
  ['/api/security/events', 'cursor'],
  ['/api/security/blocked-ips', 'source'],
  ['/api/security/blocked-ips', 'ip'],
  ['/api/security/blocked-ips', 'deployment'],
  ['/api/security/stats/timeseries', 'deployment'],
  ['/api/security/stats/timeseries', 'from'],
  ['/api/security/stats/timeseries', 'to'],
  ['/api/dashboard/top', 'deployment'],
  ['/api/security/whitelist', 'deployment'],
  ['/api/security/protected-routes', 'deployment'],
];

/** Nothing came back: a list with no item, or a time series with no bucket. */
function empty(body: Record<string, unknown>): boolean {
  const data = body.data;
  if (Array.isArray(data)) return data.length === 0;
  if (data && typeof data === 'object') {
    return Object.values(data).every((v) => !Array.isArray(v) || v.length === 0);
  }
  return false;
}

describe('injection strings through every API filter', () => {
  let rt: Runtime;
  const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${rt.apiPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { raw: text };
    }
    return { status: res.status, body };
  };
  const tables = async (): Promise<string[]> => {
    const ch = rt.ch;
    assert.ok(ch);
    const rows = await ch.query<{ name: string }>('SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: database });
    return rows.map((r) => r.name);
  };

  before(async () => {
    const yaml = [
      `kafka: { brokers: [], topic_prefix: "${uniqueName('inj')}." }`,
      `clickhouse: { database: ${database} }`,
      'ingest: { udp: { enabled: false } }',
      `api: { port: 0, tokens: [{ name: ops, role: admin, hash: "${hashToken(TOKEN)}" }] }`,
      `data_dir: ${JSON.stringify(dataDir)}`,
      'log_level: warn',
    ].join('\n');
    rt = await startRuntime(loadConfig({ text: yaml, env: clickHouseEnv() }), new Set(['api', 'sink']));
  });
  after(async () => {
    await rt?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('each filter answers 4xx or nothing, never 5xx; the tables survive', async () => {
    // Rows an injection that worked would return: an event, a block, a whitelist entry, a route.
    const now = Date.now();
    const ev: SecurityEvent = {
      id: 'inj-seed', ts: now - 60_000, type: 'scan_detected', detector: 'unique_paths', ip: '203.0.113.9', deployment: 'shop', count: 3,
      window_start: now - 120_000, window_end: now - 60_000, sample_paths: ['/a'], details: {},
    };
    await rt.bus.publish(rt.topics.events, [{ key: ev.ip, value: securityEventCodec.encode(ev) }]);
    const post = async (path: string, body: unknown): Promise<number> =>
      (await fetch(`http://127.0.0.1:${rt.apiPort}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;
    assert.equal(await post('/api/security/blocked-ips', { ip: '203.0.113.10', reason: 'seed', duration: 3600, deployment: 'shop' }), 201);
    assert.equal(await post('/api/security/whitelist', { type: 'ip', value: '192.0.2.44', deployment: 'shop' }), 201);
    assert.equal(await post('/api/security/protected-routes', { path: '/admin', auth_type: 'bearer', credentials: 'seed-token-0123456789', deployment: 'shop' }), 201);
    const deadline = Date.now() + 30_000;
    while ((((await get('/api/security/events')).body.data as unknown[]) ?? []).length === 0 || (((await get('/api/security/blocked-ips')).body.data as unknown[]) ?? []).length === 0) {
      assert.ok(Date.now() < deadline, 'seed rows stored');
      await sleep(100);
    }
    const before = await tables();
    assert.ok(before.includes('events') && before.includes('blocks'), `tables: ${before.join(', ')}`);

    const bad: string[] = [];
    let refused = 0;
    let answeredEmpty = 0;
    for (const [path, param] of FILTERS) {
      for (const value of INJECTIONS) {
        const url = `${path}?${param}=${encodeURIComponent(value)}`;
        const r = await get(url);
        if (r.status >= 500) bad.push(`${url} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        else if (r.status >= 400) refused++;
        else if (r.status === 200 && empty(r.body)) answeredEmpty++;
        else bad.push(`${url} → ${r.status} with rows: ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    }
    // The same strings as path parameters.
    for (const value of INJECTIONS) {
      for (const path of ['/api/security/blocked-ips/', '/api/security/whitelist/', '/api/security/protected-routes/', '/api/deployments/']) {
        const url = `${path}${encodeURIComponent(value)}${path === '/api/deployments/' ? '/security' : ''}`;
        const r = await get(url);
        if (r.status >= 500) bad.push(`${url} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        else if (r.status >= 400) refused++;
        else bad.push(`${url} → ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    }
    assert.deepEqual(bad, [], 'no 5xx and no rows for an injection string');
    assert.ok(refused + answeredEmpty > 0);

    assert.deepEqual(await tables(), before, 'every table is still there');
    // And the data too: the seeds are still listed.
    const evs = (await get('/api/security/events')).body.data as Array<{ id: string }>;
    assert.ok(evs.some((e) => e.id === 'inj-seed'), 'the seeded event is still there');
    const blocks = (await get('/api/security/blocked-ips')).body.data as Array<{ ip: string }>;
    assert.ok(blocks.some((b) => b.ip === '203.0.113.10'), 'the seeded block is still there');
  });
});
