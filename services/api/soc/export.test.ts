// GET /api/security/events/export over the real API wiring and the real engine
// (embedded chdb, or CLICKHOUSE_URL): every exported line is checked against
// the field types the README's ECS table states; range, filters and bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../../shared/bus/memory.js';
import { migrate } from '../../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir, type TestClickHouse } from '../../../shared/clickhouse/testing.js';
import { loadConfig } from '../../../shared/config/load.js';
import { hashToken } from '../../../shared/auth/tokens.js';
import { buildApi } from '../server.js';
import { ECS_FIELDS } from '../../../shared/ecs.js';
import { checkEcsDocument, documentedFields } from '../../../shared/testing/ecs-check.js';

const ANALYST = 'lw_export-analyst-token-0123456789abcdef';
const NOW = Date.now();
const MIN = 60_000;
let t: TestClickHouse;
let app: ReturnType<typeof buildApi>;
const bus = new MemoryBus();

before(async () => {
  t = await openTestClickHouse('soc_export');
  await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
  const ev = (id: string, ip: string, ts: number, over: Record<string, unknown> = {}) => ({
    id, ts, type: 'scan_detected', detector: 'unique_paths', ip, deployment: 'web', count: 20, window_start: ts - MIN, window_end: ts, sample_paths: ['/.env', '/"quoted"\n'], details: { note: 'x' }, ...over,
  });
  await t.ch.insert('events', [
    ev('e1', '203.0.113.7', NOW - 3 * MIN), ev('e2', '2001:db8::1', NOW - 2 * MIN, { type: 'blocked_ip', detector: 'blocklist', deployment: 'api', details: {} }),
    ev('e3', '198.51.100.9', NOW - MIN, { type: 'rate_limited', detector: 'rate', sample_paths: [] }), ev('old', '203.0.113.7', NOW - 3 * 86_400_000),
  ]);
  const config = loadConfig({ text: `api: { port: 0, tokens: [{ name: soc, role: analyst, hash: "${hashToken(ANALYST)}" }] }\nsoc: { export_max_rows: 2 }\nlog_level: silent`, env: {} });
  app = buildApi({ config, bus, ch: t.ch, version: 'test' });
  await app.ready();
});
after(async () => {
  await app.close();
  await bus.close();
  await t.dispose();
  removeTestDataDir();
});

async function exported(query: string): Promise<{ status: number; type: string; lines: Array<Record<string, unknown>>; body: string }> {
  const res = await app.inject({ method: 'GET', url: `/api/security/events/export${query}`, headers: { authorization: `Bearer ${ANALYST}` } });
  const lines = res.statusCode === 200 ? res.body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { status: res.statusCode, type: String(res.headers['content-type']), lines, body: res.body };
}

test('the README documents exactly the fields the code maps', () => {
  assert.deepEqual([...documentedFields().keys()], ECS_FIELDS.map((f) => f.field));
});

test('every exported line is an ECS document whose fields have the types the README states', async () => {
  const fields = documentedFields();
  const r = await exported(`?since=${NOW - 3_600_000}&limit=2`);
  assert.equal(r.status, 200, r.body);
  assert.match(r.type, /^application\/x-ndjson/);
  assert.equal(r.lines.length, 2);
  for (const doc of r.lines) checkEcsDocument(doc, fields);
  const [first, second] = r.lines as Array<{ '@timestamp': string; event: { id: string; action: string; type: string[] }; source: { ip: string }; rule: { name: string }; service: { name: string } }>;
  assert.deepEqual([first?.event.id, first?.event.action, first?.source.ip, first?.rule.name], ['e1', 'scan_detected', '203.0.113.7', 'unique_paths']);
  assert.deepEqual([second?.event.id, second?.event.type, second?.source.ip, second?.service.name], ['e2', ['denied'], '2001:db8::1', 'api']);
  assert.equal(first?.['@timestamp'], new Date(NOW - 3 * MIN).toISOString());
});

test('time range (default: the last 24 hours), filters, and the bound', async () => {
  assert.deepEqual((await exported('')).lines.map((l) => (l.event as { id: string }).id), ['e1', 'e2']);
  assert.deepEqual((await exported(`?since=${NOW - 4 * 86_400_000}&until=${NOW - 86_400_000}`)).lines.map((l) => (l.event as { id: string }).id), ['old']);
  assert.deepEqual((await exported('?type=rate_limited')).lines.map((l) => (l.event as { id: string }).id), ['e3']);
  assert.deepEqual((await exported('?ip=203.0.113.0/24')).lines.map((l) => (l.event as { id: string }).id), ['e1']);
  assert.deepEqual((await exported('?deployment=api&detector=blocklist')).lines.map((l) => (l.event as { id: string }).id), ['e2']);
  const over = await exported('?limit=3');
  assert.equal(over.status, 400, 'more than soc.export_max_rows is refused');
  assert.match(over.body, /limit/);
  assert.equal((await exported('?ip=not-an-ip')).status, 400);
  assert.equal((await exported('?since=yesterday')).status, 400);
  assert.equal((await exported(`?since=${NOW}&until=${NOW - 1}`)).status, 400);
  assert.equal((await exported('?until=9999999999999999')).status, 400);
  const anon = await app.inject({ method: 'GET', url: '/api/security/events/export' });
  assert.equal(anon.statusCode, 401);
});
