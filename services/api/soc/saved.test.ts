// Saved queries: the header's rules, the operator's folder, and every shipped
// query run through the analyst sandbox against seeded data in the real
// engine (embedded chdb, or CLICKHOUSE_URL).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../shared/config/load.js';
import { ConfigError } from '../../../shared/config/errors.js';
import { defaultMigrationsDir, migrate } from '../../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir, type TestClickHouse } from '../../../shared/clickhouse/testing.js';
import { SocSandbox } from './sandbox.js';
import { bindParams, loadSavedQueries, parseSavedQuery } from './saved.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const SHIPPED = join(defaultMigrationsDir(), 'soc');
const analyst = { name: 'soc', role: 'analyst' as const };
const tmp = mkdtempSync(join(tmpdir(), 'logwarden-saved-'));
let t: TestClickHouse;
let sandbox: SocSandbox;
const now = Date.now();

function issue(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.issues[0]?.path, 'soc.saved_queries_dir');
    return err.issues[0]?.reason ?? '';
  }
  return assert.fail('no error');
}

test('the header: title, description, typed parameters with defaults; the SQL must use exactly those', () => {
  const q = parseSavedQuery('x', '-- title: T\n-- description: D\n-- param: ip IPv6 | the address\n-- param: days UInt32 = 7 | days back\n-- prose\nSELECT {ip:IPv6}, {days:UInt32}\n', 'shipped');
  assert.deepEqual(q.params, [{ name: 'ip', type: 'IPv6', description: 'the address' }, { name: 'days', type: 'UInt32', default: '7', description: 'days back' }]);
  assert.equal(q.title, 'T');
  assert.equal(q.sql, 'SELECT {ip:IPv6}, {days:UInt32}');
  assert.match(issue(() => parseSavedQuery('x', 'SELECT 1', 'operator')), /no "-- title:"/);
  assert.match(issue(() => parseSavedQuery('x', '-- title: T\nSELECT {a:String}', 'operator')), /declares no such param/);
  assert.match(issue(() => parseSavedQuery('x', '-- title: T\n-- param: a String\nSELECT 1', 'operator')), /declared but not used/);
  assert.match(issue(() => parseSavedQuery('x', '-- title: T\n-- param: a String\nSELECT {a:UInt8}', 'operator')), /declared String but used as UInt8/);
  assert.match(issue(() => parseSavedQuery('x', '-- title: T\n-- param: a Map\nSELECT {a:Map}', 'operator')), /type Map is not one of/);
  assert.match(issue(() => parseSavedQuery('Bad Name', '-- title: T\nSELECT 1', 'operator')), /file name/);
  const q2 = parseSavedQuery('y', '-- title: T\n-- param: a UInt8 = 1\n-- param: b String\nSELECT {a:UInt8}, {b:String}', 'shipped');
  assert.deepEqual(bindParams(q2, { b: 'x' }), { params: { a: '1', b: 'x' } });
  assert.deepEqual(bindParams(q2, {}), { error: 'parameter b (String) is required', field: 'params.b' });
  assert.equal((bindParams(q2, { b: 'x', c: 1 }) as { field: string }).field, 'params.c');
});

test("the operator's folder adds queries and replaces shipped ones of the same name; a missing folder stops the start", () => {
  const dir = join(tmp, 'operator');
  rmSync(dir, { recursive: true, force: true });
  assert.match(issue(() => loadSavedQueries(SHIPPED, dir)), /does not exist/);
  mkdirSync(dir);
  writeFileSync(join(dir, 'top_detectors.sql'), '-- title: Ours\n-- description: the operator\'s own version\nSELECT 1 AS one\n');
  writeFileSync(join(dir, 'blocked_today.sql'), '-- title: Blocked today\n-- param: n UInt32 = 10 | how many\nSELECT ip FROM blocks LIMIT {n:UInt32}\n');
  writeFileSync(join(dir, 'notes.txt'), 'not a query');
  const all = loadSavedQueries(SHIPPED, dir);
  assert.equal(all.get('top_detectors')?.title, 'Ours');
  assert.equal(all.get('top_detectors')?.source, 'operator');
  assert.equal(all.get('blocked_today')?.source, 'operator');
  assert.equal(all.get('who_scanned_us_today')?.source, 'shipped');
  writeFileSync(join(dir, 'broken.sql'), 'SELECT 1');
  assert.match(issue(() => loadSavedQueries(SHIPPED, dir)), /saved query broken: the header has no "-- title:" line/);
});

before(async () => {
  t = await openTestClickHouse('soc_saved');
  await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 7 });
  sandbox = new SocSandbox(t.ch, loadConfig({ text: '', env: {} }).soc);
  let n = 0;
  const ev = (ip: string, ts: number, over: Record<string, unknown> = {}) => ({
    id: `e${++n}`, ts, type: 'scan_detected', detector: 'unique_paths', ip, deployment: 'web', count: 20, window_start: ts - MIN, window_end: ts, sample_paths: ['/.env'], details: {}, ...over,
  });
  await t.ch.insert('events', [
    ev('203.0.113.7', now - MIN), ev('203.0.113.7', now - 2 * MIN),
    ev('198.51.100.9', now - 3 * MIN, { type: 'rate_limited', detector: 'rate', deployment: 'api', count: 100 }),
    // Enriched as the ingester does it: two events from Google's AS, one from Cloudflare's.
    ev('8.8.8.8', now - 4 * MIN, { country: 'US', asn: 15169, as_org: 'GOOGLE' }), ev('8.8.4.4', now - 5 * MIN, { country: 'US', asn: 15169, as_org: 'GOOGLE', deployment: 'api' }),
    ev('1.1.1.1', now - 6 * MIN, { country: 'AU', asn: 13335, as_org: 'CLOUDFLARENET', count: 5 }),
  ]);
  const block = (ip: string, ts: number, over: Record<string, unknown> = {}) => ({
    ts, action: 'block', ip, reason: 'auto: offence weight 60 ≥ 50', source: 'auto', actor: 'unique_paths', created_at: ts, expires_at: null, deployment: null, escalation_level: 0, ...over,
  });
  const unblock = (ip: string, ts: number, actor: string) => ({ ...block(ip, ts), action: 'unblock', reason: 'manual unblock', source: 'manual', actor });
  await t.ch.insert('blocks', [
    block('203.0.113.7', now - 3 * DAY), block('203.0.113.7', now - DAY), block('198.51.100.0/24', now - 10 * MIN, { source: 'manual', actor: 'api:ops', reason: 'noisy range' }),
    // Lifted after 2 hours: a manual unblock, not a false-positive candidate.
    block('198.51.100.9', now - 4 * HOUR, { actor: 'detector', reason: 'auto: offence weight 101 ≥ 50 within 120s (rate)' }), unblock('198.51.100.9', now - 2 * HOUR, 'api:ops'),
    // Lifted after 20 minutes: both.
    block('192.0.2.5', now - 30 * MIN, { actor: 'signature:file-secrets' }), unblock('192.0.2.5', now - 10 * MIN, 'api:alice'),
  ]);
  const request = (country: string | null, blocked: boolean) => ({
    ts: now - MIN, node: 'n1', deployment: 'web', client_ip: '198.51.100.1', method: 'GET', host: 'example.test', path: '/', query: '', status: blocked ? 403 : 200,
    bytes: 100, request_time: 0.01, upstream_time: null, user_agent: 'ua', referer: '', country, auth_user: null, request_id: `r${++n}`,
    blocked_by: blocked ? 'blocklist' : null, filter_alert: null, extra: {},
  });
  await t.ch.insert('requests', [request('DE', true), request('DE', true), request('DE', false), request('FR', true), request(null, false)]);
});

after(async () => {
  await t.dispose();
  removeTestDataDir();
  rmSync(tmp, { recursive: true, force: true });
});

async function run(name: string, given: Record<string, unknown> = {}): Promise<Array<Record<string, unknown>>> {
  const q = loadSavedQueries(SHIPPED, '').get(name);
  assert.ok(q, `${name} is shipped`);
  const bound = bindParams(q, given);
  assert.ok('params' in bound, JSON.stringify(bound));
  return (await sandbox.run(q.sql, { principal: analyst, params: bound.params, saved: name })).rows;
}

test('the shipped saved queries, each with a title and a description', () => {
  const all = loadSavedQueries(SHIPPED, '');
  assert.deepEqual([...all.keys()], [
    'address_story', 'attack_volume_by_deployment', 'false_positive_candidates', 'manual_unblocks', 'repeat_offenders', 'top_asns_under_attack', 'top_countries_under_attack', 'top_detectors',
    'who_scanned_us_today',
  ]);
  for (const q of all.values()) {
    assert.ok(q.title.length > 3 && q.description.length > 20, q.name);
    assert.equal(q.source, 'shipped');
  }
});

test("an address's full story: hourly totals, its latest events one by one, and the blocks of it or of a range holding it, oldest first", async () => {
  const rows = await run('address_story', { ip: '203.0.113.7' });
  const detailed = rows.filter((r) => r.kind !== 'events per hour');
  assert.deepEqual(detailed.map((r) => [r.kind, r.what]), [['block', 'block 203.0.113.7'], ['block', 'block 203.0.113.7'], ['event', 'scan_detected'], ['event', 'scan_detected']]);
  const hourly = rows.filter((r) => r.kind === 'events per hour');
  assert.equal(hourly.reduce((n, r) => n + Number(/^(\d+) events$/.exec(String(r.what))?.[1]), 0), 2, JSON.stringify(hourly));
  assert.deepEqual(hourly.map((r) => r.deployment), hourly.map(() => 'web'));
  const range = (await run('address_story', { ip: '198.51.100.9', days: 1 })).filter((r) => r.kind !== 'events per hour');
  assert.deepEqual(range.map((r) => [r.kind, r.what, r.by]), [
    ['block', 'block 198.51.100.9', 'auto:detector'], ['block', 'unblock 198.51.100.9', 'manual:api:ops'], ['block', 'block 198.51.100.0/24', 'manual:api:ops'], ['event', 'rate_limited', 'rate'],
  ]);
  // Event by event only within detail_hours; the hourly totals still count them.
  const noDetail = await run('address_story', { ip: '203.0.113.7', detail_hours: 0 });
  assert.equal(noDetail.filter((r) => r.kind === 'event').length, 0);
  assert.ok(noDetail.some((r) => r.kind === 'events per hour'));
});

test('blocks lifted by hand, who lifted them and why they were made', async () => {
  const rows = await run('manual_unblocks');
  assert.deepEqual(rows.map((r) => [r.ip, r.lifted_by, r.block_source, r.blocked_by, r.minutes_in_force]), [
    ['192.0.2.5', 'api:alice', 'auto', 'signature:file-secrets', 20],
    ['198.51.100.9', 'api:ops', 'auto', 'rate', 120],
  ]);
});

test('false-positive candidates: blocks lifted within the hour, by what made them', async () => {
  const rows = await run('false_positive_candidates');
  assert.deepEqual(rows.map((r) => [r.source, r.made_by, Number(r.lifted_soon), r.addresses]), [['auto', 'signature:file-secrets', 1, ['192.0.2.5']]]);
  const wider = await run('false_positive_candidates', { within_minutes: 180 });
  assert.equal(wider.length, 2);
});

test('attack volume by deployment over time, top countries under attack, and the three older queries', async () => {
  const volume = await run('attack_volume_by_deployment', { hours: 1, step_minutes: 60 * 24 });
  assert.deepEqual(volume.map((r) => [r.deployment, Number(r.events), Number(r.requests)]).sort(), [['api', 2, 120], ['web', 4, 65]]);
  const countries = await run('top_countries_under_attack');
  assert.deepEqual(countries.map((r) => [r.country, Number(r.blocked), Number(r.requests)]), [['DE', 2, 3], ['FR', 1, 1]]);
  const startOfDay = Math.floor(now / DAY) * DAY;
  const expectScans = [now - MIN, now - 2 * MIN].filter((ts) => ts >= startOfDay).length;
  const scans = (await run('who_scanned_us_today')).filter((r) => r.ip === '203.0.113.7');
  assert.deepEqual(scans.map((r) => [r.ip, Number(r.scans)]), expectScans ? [['203.0.113.7', expectScans]] : []);
  assert.deepEqual((await run('top_detectors')).map((r) => [r.detector, Number(r.events)]), [['unique_paths', 5], ['rate', 1]]);
  const ases = await run('top_asns_under_attack');
  assert.deepEqual(ases.map((r) => [r.asn, r.as_org, r.countries, Number(r.events), Number(r.requests), [...(r.deployments as string[])].sort()]), [
    ['(unknown)', '', ['(unknown)'], 3, 140, ['api', 'web']],
    ['AS15169', 'GOOGLE', ['US'], 2, 40, ['api', 'web']],
    ['AS13335', 'CLOUDFLARENET', ['AU'], 1, 5, ['web']],
  ]);
  assert.deepEqual((await run('top_asns_under_attack', { top: 1 })).map((r) => r.asn), ['(unknown)']);
  assert.deepEqual((await run('repeat_offenders')).map((r) => [r.ip, Number(r.blocks)]), [['203.0.113.7', 2]]);
});
