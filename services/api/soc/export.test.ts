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
import { checkEcsDocument, documentedFields } from '../../../shared/testing/ecs-check.js';
import { ECS_BLOCK_FIELDS, ECS_FIELDS, decisionId } from '../../../shared/ecs.js';
import type { BlockDecision } from '../../../shared/records.js';
import { blockRow } from '../../sink/index.js';

const ANALYST = 'lw_export-analyst-token-0123456789abcdef';
const NOW = Date.now();
const MIN = 60_000;
/** The blocks history: an auto block, its challenge tier, a feed's block of a range, a person's unblock, an expiry (two days back). */
const DECISIONS: BlockDecision[] = [
  { ip: '203.0.113.7', action: 'challenge', reason: 'auto: offence weight 30', source: 'auto', created_at: NOW - 4 * MIN, expires_at: NOW + MIN, deployment: null, escalation_level: 0 },
  { ip: '203.0.113.7', action: 'block', reason: 'auto: offence weight 51', source: 'auto', created_at: NOW - 3 * MIN, expires_at: NOW + 86_400_000, deployment: 'web', escalation_level: 1 },
  { ip: '198.51.100.0/24', action: 'block', reason: 'listed by spamhaus-drop', source: 'feed:spamhaus-drop', created_at: NOW - 2 * MIN, expires_at: null, deployment: null, escalation_level: 0 },
  { ip: '203.0.113.7', action: 'unblock', reason: 'false positive', source: 'manual', created_at: NOW - MIN, expires_at: null, deployment: null, escalation_level: 0, actor: 'api:ops' },
  { ip: '192.0.2.1', action: 'unblock', reason: 'expired', source: 'auto', created_at: NOW - 2 * 86_400_000, expires_at: null, deployment: null, escalation_level: 0 },
];
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
  await t.ch.insert('blocks', DECISIONS.map(blockRow));
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

async function exported(query: string, what = 'events'): Promise<{ status: number; type: string; lines: Array<Record<string, unknown>>; body: string }> {
  const res = await app.inject({ method: 'GET', url: `/api/security/${what}/export${query}`, headers: { authorization: `Bearer ${ANALYST}` } });
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

test('the blocks history exports as ECS documents of the README\'s block table, with the ids the SIEM push gives the same decisions', async () => {
  assert.deepEqual([...documentedFields('ecs-block-fields').keys()], ECS_BLOCK_FIELDS.map((f) => f.field));
  const fields = documentedFields('ecs-block-fields');
  const all: Array<Record<string, unknown>> = [];
  for (const q of ['?limit=2', `?since=${NOW - 2 * MIN - 1}`]) {
    const r = await exported(q, 'blocks');
    assert.equal(r.status, 200, r.body);
    assert.match(r.type, /^application\/x-ndjson/);
    all.push(...r.lines);
  }
  for (const doc of all) checkEcsDocument(doc, fields);
  type Doc = { event: { id: string; action: string; type: string[] }; rule: { name: string }; source: { ip?: string; address: string }; user?: { name: string } };
  const docs = all as Doc[];
  // The last 24 hours, oldest first: challenge, block, the feed's range, the unblock (the expiry is two days old).
  assert.deepEqual(docs.map((d) => d.event.id), DECISIONS.slice(0, 4).map(decisionId), 'the same id as the push gives the decision');
  assert.deepEqual(docs.map((d) => [d.event.action, d.event.type[0], d.rule.name]), [['challenge', 'denied', 'auto'], ['block', 'denied', 'auto'], ['block', 'denied', 'feed:spamhaus-drop'], ['unblock', 'allowed', 'manual']]);
  assert.deepEqual(docs[2]?.source, { address: '198.51.100.0/24' }, 'a range is an address, not an ip');
  assert.deepEqual(docs.map((d) => d.user?.name), [undefined, undefined, undefined, 'api:ops'], 'only a person is a user');
  const expiry = await exported(`?since=${NOW - 3 * 86_400_000}&action=expire`, 'blocks');
  assert.deepEqual(expiry.lines.map((d) => [(d as Doc).event.id, (d as Doc).event.action]), [[decisionId(DECISIONS[4] as BlockDecision), 'unblock']]);
  assert.deepEqual((await exported('?ip=198.51.100.0/24', 'blocks')).lines.length, 1);
  assert.equal((await exported('?limit=3', 'blocks')).status, 400);
  assert.equal((await exported('?action=ban', 'blocks')).status, 400);
  assert.equal((await exported('?ip=nope', 'blocks')).status, 400);
  assert.equal((await app.inject({ method: 'GET', url: '/api/security/blocks/export' })).statusCode, 401);
});
