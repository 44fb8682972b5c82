// /api/soc over the real API wiring (buildApi, fastify.inject) and the real
// engine (embedded chdb, or CLICKHOUSE_URL): roles, answers, refusals and
// limits as JSON naming what was wrong, saved queries by name, the OpenAPI
// document.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../../shared/bus/memory.js';
import { migrate } from '../../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir, type TestClickHouse } from '../../../shared/clickhouse/testing.js';
import { loadConfig } from '../../../shared/config/load.js';
import { ControlState } from '../../../shared/control/state.js';
import { ControlStore } from '../../../shared/control/store.js';
import { topicNames } from '../../../shared/topics.js';
import { hashToken } from '../../../shared/auth/tokens.js';
import { buildApi } from '../server.js';

const ANALYST = 'lw_soc-analyst-token-0123456789abcdef';
const ADMIN = 'lw_soc-admin-token-0123456789abcdef';
let t: TestClickHouse;
let app: ReturnType<typeof buildApi>;
const bus = new MemoryBus();

before(async () => {
  t = await openTestClickHouse('soc_api');
  await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
  const now = Date.now();
  await t.ch.insert('events', [
    { id: 'a', ts: now - 60_000, type: 'scan_detected', detector: 'unique_paths', ip: '203.0.113.7', deployment: 'web', count: 20, window_start: now - 120_000, window_end: now - 60_000, sample_paths: ['/.env'], details: {} },
  ]);
  const topics = topicNames('socapi.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
  const config = loadConfig({
    text: [
      `api: { port: 0, tokens: [{ name: soc, role: analyst, hash: "${hashToken(ANALYST)}" }, { name: ops, role: admin, hash: "${hashToken(ADMIN)}" }] }`,
      'soc: { max_result_rows: 50 }',
      'log_level: silent',
    ].join('\n'),
    env: {},
  });
  const control = new ControlState();
  app = buildApi({ config, bus, ch: t.ch, version: 'test', topics, control: { state: control, store: new ControlStore(t.ch, bus, topics, control) } });
  await app.ready();
});
after(async () => {
  await app.close();
  await bus.close();
  await t.dispose();
  removeTestDataDir();
});

async function call(method: 'GET' | 'POST', url: string, body?: unknown, token: string | null = ANALYST): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await app.inject({
    method,
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: res.json<Record<string, unknown>>() };
}

test('POST /api/soc/query: an analyst runs a SELECT with bound parameters', async () => {
  const r = await call('POST', '/api/soc/query', { sql: 'SELECT IPv6NumToString(ip) AS addr, count() AS n FROM events WHERE ip = {ip:IPv6} GROUP BY addr', params: { ip: '203.0.113.7' } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const data = r.json.data as { columns: unknown[]; rows: Array<Record<string, unknown>>; sha256: string };
  assert.deepEqual(data.columns, [{ name: 'addr', type: 'String' }, { name: 'n', type: 'UInt64' }]);
  assert.deepEqual(data.rows.map((x) => [x.addr, Number(x.n)]), [['::ffff:203.0.113.7', 1]]);
  // The admin role may too; no token may not.
  assert.equal((await call('POST', '/api/soc/query', { sql: 'SELECT 1' }, ADMIN)).status, 200);
  const anon = await call('POST', '/api/soc/query', { sql: 'SELECT 1' }, null);
  assert.equal(anon.status, 401);
});

test('refusals, ClickHouse errors and limits are JSON naming the field or the limit', async () => {
  const drop = await call('POST', '/api/soc/query', { sql: 'DROP TABLE events' });
  assert.equal(drop.status, 400);
  assert.equal(drop.json.code, 'LW_API_SQL_REFUSED');
  assert.equal(drop.json.field, 'sql');
  const tf = await call('POST', '/api/soc/query', { sql: "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')" });
  assert.equal(tf.json.code, 'LW_API_SQL_REFUSED');
  const bad = await call('POST', '/api/soc/query', { sql: 'SELECT nope FROM events' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'LW_API_SQL_FAILED');
  const big = await call('POST', '/api/soc/query', { sql: 'SELECT number FROM numbers(1000)' });
  assert.equal(big.status, 422);
  assert.equal(big.json.code, 'LW_API_SQL_LIMIT');
  assert.equal(big.json.limit, 'soc.max_result_rows');
  const unknownField = await call('POST', '/api/soc/query', { sql: 'SELECT 1', setting: 'x' });
  assert.equal(unknownField.status, 400);
  assert.equal(unknownField.json.field, 'setting');
  const badName = await call('POST', '/api/soc/query', { sql: 'SELECT {a:String}', params: { 'a b': 'x' } });
  assert.equal(badName.status, 400);
  assert.equal(badName.json.code, 'LW_API_VALIDATION');
});

test('saved queries: listed with their parameters, shown, run by name with parameters and defaults', async () => {
  const list = await call('GET', '/api/soc/queries');
  assert.equal(list.status, 200);
  const items = list.json.data as Array<{ name: string; params: Array<{ name: string; default?: string }> }>;
  assert.ok(items.length >= 8);
  assert.deepEqual(items.find((q) => q.name === 'address_story')?.params.map((p) => [p.name, p.default]), [['ip', undefined], ['days', '30'], ['detail_hours', '24']]);
  const one = await call('GET', '/api/soc/queries/address_story');
  assert.match(String((one.json.data as { sql: string }).sql), /FROM events/);
  const missing = await call('POST', '/api/soc/queries/address_story/run', {});
  assert.equal(missing.status, 400);
  assert.equal(missing.json.field, 'params.ip');
  const story = await call('POST', '/api/soc/queries/address_story/run', { params: { ip: '203.0.113.7', days: 2 } });
  assert.equal(story.status, 200, JSON.stringify(story.json));
  assert.deepEqual((story.json.data as { rows: Array<Record<string, unknown>> }).rows.filter((r) => r.kind !== 'events per hour').map((r) => [r.kind, r.what]), [['event', 'scan_detected']]);
  const noBody = await call('POST', '/api/soc/queries/top_detectors/run');
  assert.equal(noBody.status, 200, JSON.stringify(noBody.json));
  assert.equal((await call('POST', '/api/soc/queries/nope/run', {})).status, 404);
  assert.equal((await call('GET', '/api/soc/queries/..%2Fetc')).status, 400);
});

test('the routes are in the OpenAPI document, with the checks they make', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json<{ paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, Record<string, unknown>> } }> } }>> }>();
  for (const p of ['/api/soc/query', '/api/soc/queries', '/api/soc/queries/{name}', '/api/soc/queries/{name}/run']) assert.ok(doc.paths[p], p);
  const body = doc.paths['/api/soc/query']?.post?.requestBody?.content['application/json']?.schema.properties;
  assert.equal(body?.sql?.maxLength, 100_000);
  assert.ok(body?.params?.propertyNames, 'parameter names are constrained');
});
