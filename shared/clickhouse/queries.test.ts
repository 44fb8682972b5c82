// Rollups, control tables and the API's queries
// against a real engine: embedded chdb, or the server at CLICKHOUSE_URL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessRecord, SecurityEvent } from '../records.js';
import { openClickHouse, type ClickHouse } from './client.js';
import { defaultMigrationsDir, migrate } from './migrate.js';
import { cleanupEvents, listEvents, parseCidr, QueryInputError, type EventRow } from './queries.js';
import { stats, timeSeries, topStats, wholeHours } from './rollup-queries.js';
import { onClusterClause, quoteIdentifier } from './sql.js';
import { openTestClickHouse, removeTestDataDir } from './testing.js';

const RETENTION = { retentionDays: 30, requestsTtlDays: 7 };
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
// Yesterday 12:00 UTC: day and minute boundaries are known, and the data
// stays well inside the tables' TTL (expired parts vanish at once).
const NOW = Math.floor(Date.now() / DAY) * DAY - DAY + 12 * HOUR;

after(() => removeTestDataDir());

async function withDb(base: string, fn: (ch: ClickHouse) => Promise<void>): Promise<void> {
  const t = await openTestClickHouse(base);
  try {
    await migrate(t.ch, RETENTION);
    await fn(t.ch);
  } finally {
    await t.dispose();
  }
}

let seq = 0;
function event(over: Partial<SecurityEvent> = {}): SecurityEvent {
  const ts = over.ts ?? NOW - MIN;
  return {
    id: `ev-${++seq}`,
    ts,
    type: 'rate_limited',
    detector: 'rate',
    ip: '203.0.113.7',
    deployment: 'web',
    count: 10,
    window_start: ts - MIN,
    window_end: ts,
    sample_paths: ['/'],
    details: {},
    country: null,
    asn: null,
    as_org: null,
    ...over,
  };
}

function request(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    ts: NOW - MIN, node: 'n1', deployment: 'web', client_ip: '198.51.100.1', method: 'GET', host: 'example.test',
    path: '/', query: '', status: 200, bytes: 100, request_time: 0.01, upstream_time: null, user_agent: 'ua',
    referer: '', country: null, auth_user: null, request_id: `r-${++seq}`, blocked_by: null, filter_alert: null, extra: {},
    ...over,
  };
}

async function sumRollup(ch: ClickHouse, sql: string): Promise<Record<string, unknown>[]> {
  return ch.query(sql);
}

test('rollups fill from events and requests, and a retried insert counts once', async () => {
  await withDb('rollups', async (ch) => {
    const batch1 = [
      event({ ts: NOW - 2 * MIN + 5_000, ip: '203.0.113.7', count: 4 }),
      event({ ts: NOW - 2 * MIN + 9_000, ip: '203.0.113.7', count: 6 }),
      event({ ts: NOW - 2 * MIN + 9_000, ip: '2001:db8::1', type: 'scan_detected', detector: 'unique_paths', count: 30 }),
    ];
    await ch.insert('events', batch1, { dedupToken: 'events-batch-1' });
    // The sink's retry of the same batch: same token, nothing written anywhere.
    await ch.insert('events', batch1, { dedupToken: 'events-batch-1' });
    await ch.insert('events', [event({ ts: NOW - MIN + 1_000, ip: '203.0.113.7', count: 1 })], { dedupToken: 'events-batch-2' });

    const byMinute = await sumRollup(ch, `SELECT toUnixTimestamp(ts) * 1000 AS t, toString(type) AS type, detector, deployment,
        toUInt64(sum(events)) AS events, toUInt64(sum(requests)) AS requests
      FROM ${ch.table('events_by_minute')} GROUP BY ALL ORDER BY t, type`);
    assert.deepEqual(byMinute.map((r) => [Number(r.t), r.type, r.detector, r.deployment, Number(r.events), Number(r.requests)]), [
      [NOW - 2 * MIN, 'rate_limited', 'rate', 'web', 2, 10],
      [NOW - 2 * MIN, 'scan_detected', 'unique_paths', 'web', 1, 30],
      [NOW - MIN, 'rate_limited', 'rate', 'web', 1, 1],
    ]);

    const byIp = await sumRollup(ch, `SELECT IPv6NumToString(ip) AS ip, toUInt64(sum(events)) AS events, toUInt64(sum(requests)) AS requests
      FROM ${ch.table('events_by_ip_minute')} GROUP BY ip ORDER BY ip`);
    assert.deepEqual(byIp.map((r) => [r.ip, Number(r.events), Number(r.requests)]), [
      ['2001:db8::1', 1, 30],
      ['::ffff:203.0.113.7', 3, 11],
    ]);

    await ch.insert('requests', [
      request({ status: 200, bytes: 10 }), request({ status: 204, bytes: 5 }), request({ status: 301 }),
      request({ status: 404 }), request({ status: 499 }), request({ status: 502 }), request({ status: 0 }),
      request({ status: 200, deployment: 'api', ts: NOW - 3 * MIN }),
    ]);
    const byStatus = await sumRollup(ch, `SELECT deployment, status_class, toUInt64(sum(requests)) AS n, toUInt64(sum(bytes)) AS b
      FROM ${ch.table('requests_by_minute')} GROUP BY ALL ORDER BY deployment, status_class`);
    assert.deepEqual(byStatus.map((r) => [r.deployment, r.status_class, Number(r.n)]), [
      ['api', '2xx', 1], ['web', '2xx', 2], ['web', '3xx', 1], ['web', '4xx', 2], ['web', '5xx', 1], ['web', 'other', 1],
    ]);
    assert.equal(Number(byStatus.find((r) => r.deployment === 'web' && r.status_class === '2xx')?.b), 15);
  });
});

test('stats: totals by type from the rollups, active blocks, recent threats, top IPs', async () => {
  await withDb('stats', async (ch) => {
    const events = [
      ...Array.from({ length: 5 }, (_, i) => event({ ts: NOW - (i + 1) * MIN, ip: '203.0.113.7', count: 2 })),
      ...Array.from({ length: 3 }, (_, i) => event({ ts: NOW - (i + 1) * 10 * MIN, ip: '198.51.100.9', type: 'auth_failed', detector: 'auth_failure', count: 5 })),
      event({ ts: NOW - 30 * HOUR, ip: '192.0.2.1', type: 'scan_detected' }), // outside a 24 h window
    ];
    await ch.insert('events', events);
    const block = (ip: string, expires: number | null, over: object = {}): object => ({
      ip_or_cidr: ip, deployment: '', reason: 'test', source: 'manual', created_at: NOW - HOUR, expires_at: expires,
      escalation_level: 0, updated_at: NOW - HOUR, version: 1, is_deleted: 0, ...over,
    });
    await ch.insert('control_blocks', [
      block('203.0.113.7', null), block('198.51.100.0/24', NOW + HOUR), block('192.0.2.1', NOW - MIN), // expired
      block('192.0.2.2', null),
    ]);
    await ch.insert('control_blocks', [block('192.0.2.2', null, { version: 2, is_deleted: 1 })]); // unblocked

    const s = await stats(ch, { now: NOW, top: 3 });
    assert.equal(s.to, NOW);
    assert.equal(s.from, NOW - 24 * HOUR);
    assert.equal(s.total_events, 8);
    assert.deepEqual(s.events_by_type, { blocked_ip: 0, rate_limited: 5, auth_failed: 3, suspicious: 0, scan_detected: 0, challenge: 0 });
    assert.equal(s.active_blocks, 2);
    assert.deepEqual(s.recent_threats.map((e) => e.ts), [NOW - MIN, NOW - 2 * MIN, NOW - 3 * MIN]);
    assert.equal(s.recent_threats[0]?.ip, '203.0.113.7');
    assert.deepEqual(s.top_offending_ips, [
      { ip: '203.0.113.7', events: 5, requests: 10 },
      { ip: '198.51.100.9', events: 3, requests: 15 },
    ]);
    // Past the sketch size (top-K candidates), every address is grouped: same answer.
    assert.deepEqual((await stats(ch, { now: NOW, top: 500 })).top_offending_ips, s.top_offending_ips);
    const wide = await stats(ch, { now: NOW, windowHours: 48 });
    assert.equal(wide.total_events, 9);
    assert.equal(wide.events_by_type.scan_detected, 1);
  });
});

test('topStats: top paths, deployments, user agents and countries over a range, from the rollups', async () => {
  await withDb('top', async (ch) => {
    const inRange = NOW - 2 * HOUR;
    await ch.insert('events', [
      event({ ts: inRange, deployment: 'web', sample_paths: ['/wp-login.php', '/.env'] }),
      event({ ts: inRange + MIN, deployment: 'web', sample_paths: ['/.env'], count: 5 }),
      event({ ts: inRange + 2 * MIN, deployment: 'api', sample_paths: ['/.env', '/admin'] }),
      event({ ts: NOW - 30 * HOUR, deployment: 'old', sample_paths: ['/old'] }), // before the range
    ]);
    await ch.insert('requests', [
      request({ ts: inRange, user_agent: 'sqlmap/1.7', country: 'RU', blocked_by: 'blocklist' }),
      request({ ts: inRange, user_agent: 'sqlmap/1.7', country: 'RU' }),
      request({ ts: inRange, user_agent: 'curl/8.0', country: null, deployment: 'api' }),
      request({ ts: inRange, user_agent: 'x'.repeat(400), country: 'DE' }),
      request({ ts: NOW + HOUR, user_agent: 'later', country: 'FR' }), // after the range
    ]);
    const r = await topStats(ch, { from: NOW - 24 * HOUR, to: NOW });
    assert.deepEqual(r.paths, [{ path: '/.env', events: 3 }, { path: '/admin', events: 1 }, { path: '/wp-login.php', events: 1 }]);
    assert.deepEqual(r.deployments, [{ deployment: 'web', events: 2, requests: 15 }, { deployment: 'api', events: 1, requests: 10 }]);
    assert.deepEqual(r.user_agents, [
      { user_agent: 'sqlmap/1.7', requests: 2, blocked: 1 },
      { user_agent: 'curl/8.0', requests: 1, blocked: 0 },
      { user_agent: 'x'.repeat(256), requests: 1, blocked: 0 },
    ]);
    assert.deepEqual(r.countries, [{ country: 'RU', requests: 2, blocked: 1 }, { country: null, requests: 1, blocked: 0 }, { country: 'DE', requests: 1, blocked: 0 }]);

    const api = await topStats(ch, { from: NOW - 24 * HOUR, to: NOW, deployment: 'api', top: 1 });
    assert.deepEqual(api.paths, [{ path: '/.env', events: 1 }]);
    assert.deepEqual(api.user_agents, [{ user_agent: 'curl/8.0', requests: 1, blocked: 0 }]);
    assert.deepEqual(api.deployments, [{ deployment: 'api', events: 1, requests: 10 }]);

    // Values are bound: an injection-looking deployment matches nothing.
    const odd = await topStats(ch, { from: NOW - 24 * HOUR, to: NOW, deployment: "web' OR 1=1 --" });
    assert.deepEqual([odd.paths, odd.deployments, odd.user_agents, odd.countries], [[], [], [], []]);
    await assert.rejects(topStats(ch, { from: NOW, to: NOW - 1 }), QueryInputError);
    await assert.rejects(topStats(ch, { from: 0, to: NOW, top: 0 }), QueryInputError);
  });
});

test('timeSeries buckets events and requests per minute and per hour', async () => {
  await withDb('series', async (ch) => {
    await ch.insert('events', [
      event({ ts: NOW - 2 * HOUR + 30_000 }), event({ ts: NOW - 2 * HOUR + 90_000 }),
      event({ ts: NOW - HOUR + 5_000, type: 'suspicious', deployment: 'api' }),
    ]);
    await ch.insert('requests', [request({ ts: NOW - 2 * HOUR + 1_000, status: 404 }), request({ ts: NOW - HOUR + 1_000 })]);
    const perMinute = await timeSeries(ch, { from: NOW - 3 * HOUR, to: NOW, step: 'minute' });
    assert.deepEqual(perMinute.events.map((p) => [p.t, p.type, p.events]), [
      [NOW - 2 * HOUR, 'rate_limited', 1], [NOW - 2 * HOUR + MIN, 'rate_limited', 1], [NOW - HOUR, 'suspicious', 1],
    ]);
    const perHour = await timeSeries(ch, { from: NOW - 3 * HOUR, to: NOW, step: 'hour' });
    assert.deepEqual(perHour.events.map((p) => [p.t, p.type, p.events, p.requests]), [
      [NOW - 2 * HOUR, 'rate_limited', 2, 20], [NOW - HOUR, 'suspicious', 1, 10],
    ]);
    assert.deepEqual(perHour.requests.map((p) => [p.t, p.status_class, p.requests]), [[NOW - 2 * HOUR, '4xx', 1], [NOW - HOUR, '2xx', 1]]);
    const api = await timeSeries(ch, { from: NOW - 3 * HOUR, to: NOW, step: 'hour', deployment: 'api' });
    assert.deepEqual(api.events.map((p) => p.type), ['suspicious']);
    assert.deepEqual(api.requests, []);
    await assert.rejects(timeSeries(ch, { from: NOW, to: NOW - HOUR, step: 'hour' }), QueryInputError);
  });
});

test('wholeHours: only hours all of whose minutes are in the range', () => {
  const h = (n: number): number => NOW + n * HOUR;
  assert.deepEqual(wholeHours(h(0), h(3) - MIN), { h_start: h(0), h_end: h(3) });
  assert.deepEqual(wholeHours(h(0) + MIN, h(3) - 2 * MIN), { h_start: h(1), h_end: h(2) });
  // Less than a whole hour: none (h_start = h_end).
  assert.deepEqual(wholeHours(h(0) + MIN, h(1) + 30 * MIN), { h_start: h(1), h_end: h(1) });
  assert.deepEqual(wholeHours(h(0) + MIN, h(0) + 5 * MIN), { h_start: h(1), h_end: h(1) });
});

test('stats, hourly time series and deployments read whole hours from events_by_hour and agree with the minute rollup', async () => {
  await withDb('hourly', async (ch) => {
    // Events over 30 hours, a few per hour at odd minutes, two deployments and types; and a retried insert.
    const rows: SecurityEvent[] = [];
    for (let i = 0; i < 30 * 7; i++) {
      rows.push(event({ ts: NOW - 30 * HOUR + i * 8 * MIN + 17_000, deployment: i % 3 ? 'web' : 'api', type: i % 2 ? 'rate_limited' : 'scan_detected', count: 1 + (i % 4) }));
    }
    await ch.insert('events', rows.slice(0, 100), { dedupToken: 'h1' });
    await ch.insert('events', rows.slice(0, 100), { dedupToken: 'h1' });
    await ch.insert('events', rows.slice(100), { dedupToken: 'h2' });
    const [hourly] = await ch.query<{ n: string }>(`SELECT sum(events) AS n FROM ${ch.table('events_by_hour')}`);
    assert.equal(Number(hourly?.n), rows.length, 'the view fills the hourly rollup, and the retry counts once');

    // Expected values straight from the minute rollup, for windows with partial hours at both ends.
    const fromMinute = async (from: number, to: number, inclusive: boolean, by: string): Promise<Record<string, number>> => {
      const got = await ch.query<{ k: string; n: string }>(
        `SELECT toString(${by}) AS k, sum(events) AS n FROM ${ch.table('events_by_minute')}
         WHERE ts >= toStartOfMinute(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND ts ${inclusive ? '<=' : '<'} fromUnixTimestamp64Milli({to:Int64}, 'UTC')
         GROUP BY k`,
        { from, to },
      );
      return Object.fromEntries(got.map((r) => [r.k, Number(r.n)]));
    };
    for (const [from, to] of [[NOW - 25 * HOUR + 13 * MIN + 5, NOW - 2 * HOUR - 7 * MIN], [NOW - 29 * HOUR, NOW - HOUR], [NOW - 3 * HOUR + MIN, NOW - 2 * HOUR - MIN]] as const) {
      const s = await stats(ch, { now: to, windowHours: (to - from) / HOUR });
      const want = await fromMinute(s.from, to, true, 'type');
      assert.deepEqual(Object.fromEntries(Object.entries(s.events_by_type).filter(([, n]) => n > 0)), want, `stats ${from}..${to}`);

      const top = await topStats(ch, { from, to });
      const wantDep = await fromMinute(from, to, false, 'deployment');
      assert.deepEqual(Object.fromEntries(top.deployments.map((d) => [d.deployment, d.events])), wantDep, `deployments ${from}..${to}`);

      const ts = await timeSeries(ch, { from, to, step: 'hour' });
      const perHour = await ch.query<{ t: string; type: string; events: string; requests: string }>(
        `SELECT toUnixTimestamp(toStartOfHour(ts)) * 1000 AS t, toString(type) AS type, sum(events) AS events, sum(requests) AS requests
         FROM ${ch.table('events_by_minute')}
         WHERE ts >= toStartOfMinute(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
         GROUP BY t, type ORDER BY t, type`,
        { from, to },
      );
      assert.deepEqual(ts.events, perHour.map((r) => ({ t: Number(r.t), type: r.type, events: Number(r.events), requests: Number(r.requests) })));
      const web = await timeSeries(ch, { from, to, step: 'hour', deployment: 'web' });
      assert.ok(web.events.length > 0 && web.events.reduce((n, r) => n + r.events, 0) < ts.events.reduce((n, r) => n + r.events, 0));
    }
  });
});

test('migration 000014 fills events_by_hour with the history already in events_by_minute', async () => {
  const t = await openTestClickHouse('hourly-backfill');
  const before = mkdtempSync(join(tmpdir(), 'lw-migrations-'));
  try {
    for (const f of readdirSync(defaultMigrationsDir())) if (/^0000(0\d|1[0-3])_/.test(f)) copyFileSync(join(defaultMigrationsDir(), f), join(before, f));
    await migrate(t.ch, { ...RETENTION, dir: before });
    // Events as they were before SecurityEvent version 2 (the table has no geo columns yet).
    const rows = Array.from({ length: 50 }, (_, i) => {
      const { country: _c, asn: _a, as_org: _o, ...e } = event({ ts: NOW - 5 * HOUR + i * 5 * MIN + 1000, deployment: i % 2 ? 'web' : 'api' });
      return e;
    });
    await t.ch.insert('events', rows);
    await migrate(t.ch, RETENTION);
    const s = await stats(t.ch, { now: NOW, windowHours: 6 });
    assert.equal(s.total_events, 50);
    const [h] = await t.ch.query<{ n: string }>(`SELECT sum(events) AS n FROM ${t.ch.table('events_by_hour')}`);
    assert.equal(Number(h?.n), 50);
  } finally {
    rmSync(before, { recursive: true, force: true });
    await t.dispose();
  }
});

test('listEvents filters by type, ip, cidr, deployment, detector and time', async () => {
  await withDb('filters', async (ch) => {
    await ch.insert('events', [
      event({ id: 'a', ts: NOW - 1_000, ip: '203.0.113.7' }),
      event({ id: 'b', ts: NOW - 2_000, ip: '203.0.113.200', type: 'auth_failed', detector: 'auth_failure' }),
      event({ id: 'c', ts: NOW - 3_000, ip: '198.51.100.1', deployment: 'api' }),
      event({ id: 'd', ts: NOW - 4_000, ip: '2001:db8::5', type: 'scan_detected', detector: 'unique_paths' }),
      event({ id: 'e', ts: NOW - 5_000, ip: '2001:db8:1::5' }),
    ]);
    const ids = async (f: Partial<Parameters<typeof listEvents>[1]>): Promise<string[]> =>
      (await listEvents(ch, { limit: 100, ...f })).events.map((e) => e.id);
    assert.deepEqual(await ids({}), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(await ids({ type: 'auth_failed' }), ['b']);
    assert.deepEqual(await ids({ ip: '203.0.113.7' }), ['a']);
    assert.deepEqual(await ids({ ip: '2001:DB8::5' }), ['d']);
    assert.deepEqual(await ids({ cidr: '203.0.113.0/24' }), ['a', 'b']);
    assert.deepEqual(await ids({ cidr: '203.0.113.128/25' }), ['b']);
    assert.deepEqual(await ids({ cidr: '2001:db8::/48' }), ['d']);
    assert.deepEqual(await ids({ cidr: '2001:db8::/32' }), ['d', 'e']);
    assert.deepEqual(await ids({ deployment: 'api' }), ['c']);
    assert.deepEqual(await ids({ detector: 'unique_paths' }), ['d']);
    assert.deepEqual(await ids({ since: NOW - 3_000, until: NOW - 1_000 }), ['b', 'c']);
    assert.deepEqual(await ids({ type: 'rate_limited', cidr: '203.0.113.0/24', deployment: 'web' }), ['a']);
    const [a] = (await listEvents(ch, { limit: 1 })).events;
    assert.deepEqual(a, { ...event({ id: 'a', ts: NOW - 1_000, ip: '203.0.113.7' }) } satisfies EventRow);
  });
});

test('injection-looking filter values match nothing and break nothing', async () => {
  await withDb('injection', async (ch) => {
    await ch.insert('events', [event({ id: 'x' })]);
    const evil = ["' OR 1=1 --", "web' OR '1'='1", '1); DROP TABLE events; --', '\\\'; SELECT 1', '{ip:String}'];
    for (const v of evil) {
      for (const key of ['type', 'ip', 'cidr', 'deployment', 'detector'] as const) {
        const page = await listEvents(ch, { limit: 10, [key]: v });
        assert.deepEqual(page.events, [], `${key}=${v}`);
      }
    }
    assert.equal(parseCidr("10.0.0.0/8' OR 1=1"), undefined);
    await assert.rejects(listEvents(ch, { limit: 10, cursor: "' OR 1=1" }), QueryInputError);
    // Everything still there.
    assert.deepEqual((await listEvents(ch, { limit: 10 })).events.map((e) => e.id), ['x']);
  });
});

test('paging through 100 events with limit 7 yields each once, in order, despite inserts between pages', async () => {
  await withDb('paging', async (ch) => {
    // Some share a timestamp, so the id breaks ties.
    const all = Array.from({ length: 100 }, (_, i) => event({ id: `p-${String(i).padStart(3, '0')}`, ts: NOW - Math.floor(i / 3) * 1_000 }));
    await ch.insert('events', all);
    const expected = [...all].sort((x, y) => y.ts - x.ts || (x.id < y.id ? 1 : -1)).map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await listEvents(ch, { limit: 7, ...(cursor ? { cursor } : {}) });
      pages++;
      seen.push(...page.events.map((e) => e.id));
      // Newer events arriving while the client pages.
      await ch.insert('events', [event({ id: `new-${pages}`, ts: NOW + pages * 1_000 })]);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    assert.equal(pages, Math.ceil(100 / 7));
    assert.deepEqual(seen, expected);
  });
});

test('pages of events spread over weeks: the same rows, in order, whichever window answers', async () => {
  await withDb('windows', async (ch) => {
    // Ages around the windows listEvents tries (an hour, a day, a week, then all), in
    // pairs sharing a timestamp, so that a page's last row often ties with the next.
    const now = Date.now();
    const ages = [
      ...Array.from({ length: 6 }, (_, i) => 60_000 + Math.floor(i / 2) * 600_000), // the last hour
      ...Array.from({ length: 20 }, (_, i) => 2 * HOUR + Math.floor(i / 2) * HOUR), // the last day
      ...Array.from({ length: 30 }, (_, i) => 2 * DAY + Math.floor(i / 2) * 6 * HOUR), // the last week
      ...Array.from({ length: 14 }, (_, i) => 9 * DAY + Math.floor(i / 2) * DAY), // older
    ];
    const spread = ages.map((age, i) => event({ id: `w-${String(i).padStart(3, '0')}`, ts: now - age, ip: '192.0.2.50', type: i % 3 ? 'rate_limited' : 'auth_failed' }));
    // Another client's events in the same windows: a filter must not count them.
    const others = ages.map((age, i) => event({ id: `o-${String(i).padStart(3, '0')}`, ts: now - age + 1, ip: '192.0.2.99' }));
    await ch.insert('events', [...spread, ...others]);
    const newestFirst = (xs: SecurityEvent[]): string[] => [...xs].sort((x, y) => y.ts - x.ts || (x.id < y.id ? 1 : -1)).map((e) => e.id);
    const cases: Array<[Partial<Parameters<typeof listEvents>[1]>, string[]]> = [
      [{ ip: '192.0.2.50' }, newestFirst(spread)],
      [{ ip: '192.0.2.50', type: 'auth_failed' }, newestFirst(spread.filter((e) => e.type === 'auth_failed'))],
      [{}, newestFirst([...spread, ...others])],
      // Located by events_by_ip_minute first (an address or a range, a deployment, a lower bound).
      [{ cidr: '192.0.2.48/29' }, newestFirst(spread)],
      [{ cidr: '192.0.2.0/24', deployment: 'web' }, newestFirst([...spread, ...others])],
      [{ ip: '192.0.2.50', since: now - 3 * DAY }, newestFirst(spread.filter((e) => e.ts >= now - 3 * DAY))],
    ];
    for (const [filter, expected] of cases) {
      for (const limit of [1, 6, 7, 26, 55, 100]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let pages = 0; pages < 200; pages++) {
          const page = await listEvents(ch, { limit, ...filter, ...(cursor ? { cursor } : {}) });
          assert.ok(page.events.length <= limit);
          seen.push(...page.events.map((e) => e.id));
          if (!page.next_cursor) break;
          cursor = page.next_cursor;
        }
        assert.deepEqual(seen, expected, `${JSON.stringify(filter)} limit ${limit}`);
      }
    }
  });
});

test('a client located by a rollup that counts more or fewer events than the table holds: still the newest rows, in order', async () => {
  await withDb('locate', async (ch) => {
    const now = Date.now();
    const mine = Array.from({ length: 40 }, (_, i) => event({ id: `m-${String(i).padStart(2, '0')}`, ts: now - (i + 1) * 7 * MIN, ip: '198.51.100.5' }));
    await ch.insert('events', [...mine, event({ id: 'x', ip: '198.51.100.6' })]);
    const newest = (n: number): string[] => mine.slice(0, n).map((e) => e.id);
    const page = async (limit: number): Promise<string[]> => (await listEvents(ch, { ip: '198.51.100.5', limit })).events.map((e) => e.id);
    const counted = async (): Promise<number> => {
      const [r] = await ch.query<{ n: string }>(`SELECT toString(sum(events)) AS n FROM ${ch.table('events_by_ip_minute')} WHERE ip = toIPv6('::ffff:198.51.100.5')`);
      return Number(r?.n);
    };
    assert.equal(await counted(), 40);
    assert.deepEqual(await page(10), newest(10));
    // Counting more (the rollup ahead of the table): the floor it gives is too high, the page is still whole.
    const minute = (ms: number): string => new Date(Math.floor(ms / MIN) * MIN).toISOString().slice(0, 19).replace('T', ' ');
    await ch.insert('events_by_ip_minute', [{ ts: minute(now - 3 * MIN), ip: '198.51.100.5', deployment: 'web', events: 25, requests: 25 }]);
    assert.equal(await counted(), 65);
    assert.deepEqual(await page(10), newest(10));
    assert.deepEqual(await page(40), newest(40));
    // Counting fewer (minutes gone from the rollup): a floor too low, or none, reads more; the same rows.
    await ch.command(`DELETE FROM ${ch.table('events_by_ip_minute')} WHERE ts < fromUnixTimestamp64Milli({t:Int64}, 'UTC') OR events = 25`, { t: now - 2 * HOUR });
    assert.equal(await counted(), 17);
    assert.deepEqual(await page(10), newest(10));
    assert.deepEqual(await page(30), newest(30));
    assert.deepEqual(await page(50), newest(40));
  });
});

test('cleanupEvents drops whole old days, deletes the rest before the cutoff, keeps recent events', async () => {
  await withDb('cleanup', async (ch) => {
    const today = Math.floor(NOW / DAY) * DAY;
    await ch.insert('events', [
      event({ id: 'old1', ts: today - 3 * DAY + HOUR }),
      event({ id: 'old2', ts: today - 3 * DAY + 2 * HOUR }),
      event({ id: 'old3', ts: today - 2 * DAY + HOUR }),
      event({ id: 'morning', ts: today + HOUR }),
      event({ id: 'recent', ts: NOW - MIN }),
    ]);
    // Older than 6 hours: cutoff today 06:00.
    const res = await cleanupEvents(ch, 6 * 3600, NOW);
    assert.equal(res.cutoff, NOW - 6 * HOUR);
    const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
    assert.deepEqual(res.partitions_dropped, [day(today - 3 * DAY), day(today - 2 * DAY)]);
    assert.equal(res.rows_dropped, 3);
    assert.equal(res.rows_deleted, 1);
    assert.deepEqual((await listEvents(ch, { limit: 10 })).events.map((e) => e.id), ['recent']);
    const parts = await ch.query<{ p: string }>(
      'SELECT DISTINCT partition_id AS p FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active ORDER BY p',
      { db: ch.database, t: 'events_by_minute' },
    );
    assert.deepEqual(parts.map((r) => r.p), [day(today)]);
    assert.equal((await stats(ch, { now: NOW, windowHours: 24 * 7 })).total_events, 1);
    // Nothing left to remove.
    assert.deepEqual(await cleanupEvents(ch, 6 * 3600, NOW), { cutoff: NOW - 6 * HOUR, partitions_dropped: [], rows_dropped: 0, rows_deleted: 0 });
  });
});

test('control tables: upsert, delete, read FINAL on a new connection', async () => {
  const t = await openTestClickHouse('control');
  const ch = t.ch;
  try {
    await migrate(ch, RETENTION);
    const at = NOW;
    await ch.insert('control_whitelist', [
      { ip_or_cidr: '10.0.0.0/8', deployment: '', note: 'office', created_by: 'admin', updated_at: at, version: 1, is_deleted: 0 },
      { ip_or_cidr: '192.0.2.10', deployment: 'web', note: 'monitor', created_by: 'admin', updated_at: at, version: 1, is_deleted: 0 },
    ]);
    await ch.insert('control_whitelist', [{ ip_or_cidr: '10.0.0.0/8', deployment: '', note: 'office v2', created_by: 'admin', updated_at: at + 1, version: 2, is_deleted: 0 }]);
    await ch.insert('control_whitelist', [{ ip_or_cidr: '192.0.2.10', deployment: 'web', note: '', created_by: 'admin', updated_at: at + 2, version: 2, is_deleted: 1 }]);
    await ch.insert('control_routes', [{ id: 'r1', deployment: 'web', path: '/admin', method: 'GET', auth_type: 'basic', credential_hash: 'scrypt$abc', updated_at: at, version: 1, is_deleted: 0 }]);
    await ch.insert('control_deployments', [
      { name: 'web', enabled: true, rate_limit: 600, allowed_ips: [], blocked_paths: ['/.env'], updated_at: at, version: 1, is_deleted: 0 },
      { name: 'web', enabled: false, rate_limit: 100, allowed_ips: ['10.0.0.0/8'], blocked_paths: ['/.env', '/.git'], updated_at: at + 1, version: 2, is_deleted: 0 },
    ]);
    await ch.insert('control_filters', [
      { level: 'global', document: '{"rules":[]}', updated_at: at, version: 1, is_deleted: 0 },
      { level: 'global', document: '{"rules":[{"id":"r"}]}', updated_at: at + 1, version: 2, is_deleted: 0 },
    ]);

    // A restart: a new connection reads the state back.
    await ch.close();
    const again = await openClickHouse(t.options);
    try {
      const wl = await again.query<{ ip_or_cidr: string; note: string }>(`SELECT ip_or_cidr, note FROM ${again.table('control_whitelist')} FINAL ORDER BY ip_or_cidr`);
      assert.deepEqual(wl, [{ ip_or_cidr: '10.0.0.0/8', note: 'office v2' }]);
      const raw = await again.query<{ n: string }>(`SELECT count() AS n FROM ${again.table('control_whitelist')}`);
      assert.ok(Number(raw[0]?.n) >= 1);
      const routes = await again.query<Record<string, unknown>>(`SELECT id, path, credential_hash FROM ${again.table('control_routes')} FINAL`);
      assert.deepEqual(routes, [{ id: 'r1', path: '/admin', credential_hash: 'scrypt$abc' }]);
      const deps = await again.query<Record<string, unknown>>(`SELECT name, enabled, rate_limit, allowed_ips, blocked_paths FROM ${again.table('control_deployments')} FINAL`);
      assert.deepEqual(deps, [{ name: 'web', enabled: false, rate_limit: 100, allowed_ips: ['10.0.0.0/8'], blocked_paths: ['/.env', '/.git'] }]);
      const filters = await again.query<{ document: string }>(`SELECT document FROM ${again.table('control_filters')} FINAL WHERE level = {l:String}`, { l: 'global' });
      assert.deepEqual(filters.map((f) => JSON.parse(f.document) as unknown), [{ rules: [{ id: 'r' }] }]);
    } finally {
      // The test's own connection is closed: drop the database through this one.
      await again.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(again.database)}${onClusterClause(again.cluster)} SYNC`);
      await again.close();
    }
  } finally {
    await ch.close();
  }
});

// The saved SOC queries (schemas/clickhouse/soc/) are tested where they run: services/api/soc/saved.test.ts.

test('events keep their country and AS, and the top lists by country and AS need no capture', async () => {
  await withDb('geo', async (ch) => {
    await ch.insert('events', [
      event({ id: 'g1', ts: NOW - 1_000, country: 'BR', asn: 64500, as_org: 'Exemplo Telecom', count: 5 }),
      event({ id: 'g2', ts: NOW - 2_000, country: 'BR', asn: 64500, as_org: 'Exemplo Telecom', count: 7 }),
      event({ id: 'g3', ts: NOW - 3_000, country: 'NL', asn: 64501, as_org: 'Voorbeeld BV', count: 1 }),
      event({ id: 'g4', ts: NOW - 4_000, count: 2 }),
    ]);
    const listed = await listEvents(ch, { limit: 10 });
    assert.deepEqual(listed.events.map((e) => [e.id, e.country, e.asn, e.as_org]), [
      ['g1', 'BR', 64500, 'Exemplo Telecom'], ['g2', 'BR', 64500, 'Exemplo Telecom'], ['g3', 'NL', 64501, 'Voorbeeld BV'], ['g4', null, null, null],
    ]);
    const top = await topStats(ch, { from: NOW - HOUR, to: NOW });
    assert.deepEqual(top.event_countries, [{ country: 'BR', events: 2, requests: 12 }, { country: null, events: 1, requests: 2 }, { country: 'NL', events: 1, requests: 1 }]);
    assert.deepEqual(top.event_asns, [
      { asn: 64500, as_org: 'Exemplo Telecom', events: 2, requests: 12 },
      { asn: null, as_org: null, events: 1, requests: 2 },
      { asn: 64501, as_org: 'Voorbeeld BV', events: 1, requests: 1 },
    ]);
  });
});
