// The daily rollups: stats' top IPs and the top lists by path, country, AS
// and user agent read whole days from events_by_ip_day, events_by_path_day,
// events_by_geo_day (000022; events_by_day before it, 000020) and
// requests_by_agent_day (000021), and the partial days at the ends from the
// finer rollups, and answer exactly what a read of the finer rollups alone
// answers (the reads before 000020, kept here as the reference) for ranges on
// and off hour and day boundaries; and an upgraded install answers right at
// once (the backfills). Real engine: embedded chdb, or the server at
// CLICKHOUSE_URL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessRecord, SecurityEvent } from '../records.js';
import type { ClickHouse } from './client.js';
import { defaultMigrationsDir, migrate } from './migrate.js';
import { cleanupEvents } from './queries.js';
import { stats, topStats, wholeDays } from './rollup-queries.js';
import { ipText } from './sql.js';
import { openTestClickHouse, removeTestDataDir } from './testing.js';

const RETENTION = { retentionDays: 30, requestsTtlDays: 7 };
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
// Yesterday 12:00 UTC: day boundaries are known, and five days back stay inside the TTL.
const NOW = Math.floor(Date.now() / DAY) * DAY - DAY + 12 * HOUR;

after(() => removeTestDataDir());

const COUNTRIES = ['BR', 'NL', null, 'US'] as const;
const ORGS: Record<number, string> = { 64500: 'Exemplo Telecom', 64501: 'Voorbeeld BV', 64502: 'Example Inc' };

/** Events over the five days before NOW at odd minutes: 30 addresses (fewer than the top-K sketch holds, so its candidates are every address), two deployments, repeated sample paths, unknown countries and ASes. */
function events(): SecurityEvent[] {
  const out: SecurityEvent[] = [];
  for (let i = 0; i < 600; i++) {
    const ts = NOW - 5 * DAY + i * 12 * MIN + 13_000 + (i % 7) * 1_000;
    const asn = i % 5 === 0 ? null : 64500 + (i % 3);
    out.push({
      id: `ev-${i}`, ts, type: i % 2 ? 'rate_limited' : 'scan_detected', detector: 'rate',
      ip: i % 4 === 0 ? `2001:db8::${(i * 7) % 30}` : `203.0.113.${(i * 7) % 30}`,
      deployment: i % 3 ? 'web' : 'api', count: 1 + ((i * 5) % 11),
      window_start: ts - MIN, window_end: ts,
      sample_paths: i % 4 === 0 ? ['/wp-login.php', `/p/${i % 9}`, '/wp-login.php'] : [`/p/${i % 13}`],
      details: {}, country: COUNTRIES[i % 4] ?? null, asn, as_org: asn === null ? null : (ORGS[asn] ?? null),
    });
  }
  return out;
}

const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64)', 'curl/8.5.0', 'Googlebot/2.1', `long ${'x'.repeat(300)}`, ''] as const;

/** Captured requests over the same five days: agents repeated across hours and days, two deployments, some refused by nginx, one agent longer than the 256 characters kept. */
function requests(): AccessRecord[] {
  const out: AccessRecord[] = [];
  for (let i = 0; i < 500; i++) {
    out.push({
      ts: NOW - 5 * DAY + i * 14 * MIN + 7_000 + (i % 5) * 1_000, node: 'n1', deployment: i % 3 ? 'web' : 'api',
      client_ip: `198.51.100.${i % 40}`, method: 'GET', host: 'example.test', path: '/', query: '', status: 200, bytes: 100,
      request_time: 0.01, upstream_time: null, user_agent: AGENTS[(i * 7) % AGENTS.length] as string, referer: '', country: null,
      auth_user: null, request_id: `r-${i}`, blocked_by: i % 6 === 0 ? 'ip' : null, filter_alert: null, extra: {},
    });
  }
  return out;
}

// ---------------------------------------------------------------- the reads before 000020

const hourSpan = "ts >= toStartOfHour(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')";

async function refTopIps(ch: ClickHouse, now: number, hours: number, top: number): Promise<{ ip: string; events: number; requests: number }[]> {
  const rows = await ch.query<{ ip: string; events: string; requests: string }>(
    `SELECT ${ipText('r.ip')} AS ip, sum(r.events) AS events, sum(r.requests) AS requests
     FROM ${ch.table('events_by_ip_minute')} AS r
     WHERE r.ts >= toStartOfMinute(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND r.ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')
     GROUP BY r.ip ORDER BY events DESC, requests DESC, r.ip LIMIT {top:UInt32}`,
    { from: now - Math.round(hours * HOUR), to: now, top },
  );
  return rows.map((r) => ({ ip: r.ip, events: Number(r.events), requests: Number(r.requests) }));
}

async function refTop(ch: ClickHouse, from: number, to: number, deployment?: string): Promise<Record<string, unknown[]>> {
  const params = { from, to, deployment: deployment ?? '' };
  const range = `${hourSpan} ${deployment === undefined ? '' : 'AND deployment = {deployment:String}'}`;
  const paths = await ch.query<{ path: string; events: string }>(
    `SELECT path, sum(events) AS events FROM ${ch.table('events_by_path_hour')} WHERE ${range}
     GROUP BY path ORDER BY events DESC, path LIMIT 10`,
    params,
  );
  const countries = await ch.query<{ country: string; events: string; requests: string }>(
    `SELECT country, sum(events) AS events, sum(requests) AS requests FROM ${ch.table('events_by_geo_hour')} WHERE ${range}
     GROUP BY country ORDER BY events DESC, country LIMIT 10`,
    params,
  );
  const asns = await ch.query<{ asn: string; as_org: string; events: string; requests: string }>(
    `SELECT asn, any(as_org) AS as_org, sum(events) AS events, sum(requests) AS requests FROM ${ch.table('events_by_geo_hour')} WHERE ${range}
     GROUP BY asn ORDER BY events DESC, asn LIMIT 10`,
    params,
  );
  const agents = await ch.query<{ user_agent: string; requests: string; blocked: string }>(
    `SELECT user_agent, sum(requests) AS requests, sum(blocked) AS blocked FROM ${ch.table('requests_by_agent_hour')} WHERE ${range}
     GROUP BY user_agent ORDER BY requests DESC, user_agent LIMIT 10`,
    params,
  );
  return {
    paths: paths.map((r) => ({ path: r.path, events: Number(r.events) })),
    user_agents: agents.map((r) => ({ user_agent: r.user_agent, requests: Number(r.requests), blocked: Number(r.blocked) })),
    event_countries: countries.map((r) => ({ country: r.country === '' ? null : r.country, events: Number(r.events), requests: Number(r.requests) })),
    event_asns: asns.map((r) => ({ asn: Number(r.asn) === 0 ? null : Number(r.asn), as_org: r.as_org === '' ? null : r.as_org, events: Number(r.events), requests: Number(r.requests) })),
  };
}

/** Ranges [from, to): off every boundary, on hours, on days, inside one day, one whole day. */
const RANGES: readonly (readonly [number, number])[] = [
  [NOW - 5 * DAY + 13 * MIN + 5, NOW - 7 * MIN - 3],
  [NOW - 4 * DAY - 5 * HOUR, NOW - 3 * HOUR],
  [NOW - 4 * DAY - 12 * HOUR, NOW - 12 * HOUR],
  [NOW - 3 * DAY - 12 * HOUR - 1, NOW - 12 * HOUR + 1],
  [NOW - 2 * DAY + 2 * HOUR + 30 * MIN, NOW - 2 * DAY + 9 * HOUR + 10 * MIN],
  [NOW - 2 * DAY - 12 * HOUR, NOW - DAY - 12 * HOUR],
  [NOW - 23 * HOUR - 59 * MIN, NOW],
  [NOW - 3 * DAY - 20 * HOUR, NOW - DAY + 10 * HOUR + 30 * MIN],
];

async function assertSameAsFinerRollups(ch: ClickHouse, someInEvery = true, ranges = RANGES): Promise<void> {
  for (const [from, to] of ranges) {
    const at = `${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`;
    const hours = (to - from) / HOUR;
    for (const top of [10, 100]) {
      const s = await stats(ch, { now: to, windowHours: hours, top });
      assert.ok(!someInEvery || s.top_offending_ips.length > 0, `top IPs ${at}`);
      assert.deepEqual(s.top_offending_ips, await refTopIps(ch, to, hours, top), `top ${top} IPs ${at}`);
    }
    for (const deployment of [undefined, 'api']) {
      const t = await topStats(ch, { from, to, ...(deployment === undefined ? {} : { deployment }) });
      const want = await refTop(ch, from, to, deployment);
      assert.ok(!someInEvery || (t.paths.length > 0 && t.event_countries.length > 0 && t.event_asns.length > 0 && t.user_agents.length > 0), `top lists ${at}`);
      assert.deepEqual(
        { paths: t.paths, user_agents: t.user_agents, event_countries: t.event_countries, event_asns: t.event_asns },
        want,
        `top lists ${deployment ?? 'all'} ${at}`,
      );
    }
  }
}

test('wholeDays: only days all of whose buckets are in the range', () => {
  const d = (n: number): number => Date.UTC(2026, 0, 10) + n * DAY;
  assert.deepEqual(wholeDays(d(0), d(3) - HOUR, HOUR), { d_start: d(0), d_end: d(3) });
  assert.deepEqual(wholeDays(d(0) + HOUR, d(3) - 2 * HOUR, HOUR), { d_start: d(1), d_end: d(2) });
  assert.deepEqual(wholeDays(d(0), d(1) - MIN, MIN), { d_start: d(0), d_end: d(1) });
  assert.deepEqual(wholeDays(d(0), d(1) - 2 * MIN, MIN), { d_start: d(0), d_end: d(0) });
  assert.deepEqual(wholeDays(d(0) + HOUR, d(0) + 5 * HOUR, HOUR), { d_start: d(1), d_end: d(1) });
});

test('top IPs, paths, countries, ASes and user agents read whole days from the daily rollups and answer what the finer rollups answer', async () => {
  const t = await openTestClickHouse('daily');
  try {
    await migrate(t.ch, RETENTION);
    const rows = events();
    await t.ch.insert('events', rows.slice(0, 300), { dedupToken: 'd1' });
    await t.ch.insert('events', rows.slice(0, 300), { dedupToken: 'd1' });
    await t.ch.insert('events', rows.slice(300), { dedupToken: 'd2' });
    await t.ch.insert('requests', requests(), { dedupToken: 'r1' });
    await t.ch.insert('requests', requests(), { dedupToken: 'r1' });
    const [agentDays] = await t.ch.query<{ n: string }>(`SELECT sum(requests) AS n FROM ${t.ch.table('requests_by_agent_day')}`);
    assert.equal(Number(agentDays?.n), requests().length, 'the agents view fills, and the retry counts once');
    const daily: [string, number][] = [];
    for (const table of ['events_by_ip_day', 'events_by_path_day', 'events_by_geo_day']) {
      const [r] = await t.ch.query<{ n: string }>(`SELECT sum(events) AS n FROM ${t.ch.table(table)}`);
      daily.push([table, Number(r?.n)]);
    }
    const paths = rows.reduce((n, e) => n + e.sample_paths.length, 0);
    assert.deepEqual(
      daily,
      [['events_by_ip_day', rows.length], ['events_by_path_day', paths], ['events_by_geo_day', rows.length]],
      'the views fill every daily rollup, and the retry counts once',
    );
    await assertSameAsFinerRollups(t.ch);
    // A range ending now reads its last day whole only while that day's later hours are empty:
    // captured requests there (and no event) keep it on the hourly rows.
    await t.ch.insert('requests', requests().slice(0, 3).map((r, i) => ({ ...r, ts: NOW + 2 * HOUR + i, request_id: `late-${i}` })));
    await assertSameAsFinerRollups(t.ch, true, RANGES.filter(([, to]) => to === NOW));
  } finally {
    await t.dispose();
  }
});

test('migrations 000020-22 fill the daily rollups with the history already stored, and 000022 moves what events_by_day held', async () => {
  const t = await openTestClickHouse('daily-backfill');
  const upTo = (last: number): string => {
    const dir = mkdtempSync(join(tmpdir(), 'lw-migrations-'));
    for (const f of readdirSync(defaultMigrationsDir())) if (Number(f.slice(0, 6)) <= last) copyFileSync(join(defaultMigrationsDir(), f), join(dir, f));
    return dir;
  };
  const dirs = [upTo(19), upTo(21)];
  try {
    const rows = events();
    const captured = requests();
    // Before 000020: only the finer rollups hold the first half.
    await migrate(t.ch, { ...RETENTION, dir: dirs[0] });
    await t.ch.insert('events', rows.slice(0, 300));
    await t.ch.insert('requests', captured.slice(0, 250));
    const [none] = await t.ch.query<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = {db:String} AND endsWith(name, '_day')`, { db: t.ch.database });
    assert.equal(Number(none?.n), 0);
    // 000020-21 backfill it; their views (events_by_day's among them) store the second half.
    assert.deepEqual((await migrate(t.ch, { ...RETENTION, dir: dirs[1] })).applied.map((m) => m.version), [20, 21]);
    await t.ch.insert('events', rows.slice(300));
    await t.ch.insert('requests', captured.slice(250));
    // 000022 copies events_by_day by kind and drops it.
    assert.deepEqual((await migrate(t.ch, RETENTION)).applied.map((m) => m.version), [22]);
    const [gone] = await t.ch.query<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = 'events_by_day'`, { db: t.ch.database });
    assert.equal(Number(gone?.n), 0);
    await assertSameAsFinerRollups(t.ch);
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await t.dispose();
  }
});

test('cleanupEvents keeps the daily event rollups in step: whole days of the cutoff\'s day agree with what the finer rollups kept', async () => {
  const t = await openTestClickHouse('daily-cleanup');
  try {
    await migrate(t.ch, RETENTION);
    await t.ch.insert('events', events());
    await t.ch.insert('requests', requests());
    // Older than 30 hours: the cutoff is 06:00 of the day before NOW's; that day is a whole day of several RANGES.
    const res = await cleanupEvents(t.ch, 30 * 3600, NOW);
    assert.ok(res.rows_deleted > 0 && res.partitions_dropped.length > 0);
    const [left] = await t.ch.query<{ n: string }>(`SELECT sum(events) AS n FROM ${t.ch.table('events_by_ip_day')}`);
    const [kept] = await t.ch.query<{ n: string }>(`SELECT count() AS n FROM ${t.ch.table('events')}`);
    assert.equal(Number(left?.n), Number(kept?.n));
    await assertSameAsFinerRollups(t.ch, false);
    // A second cleanup with nothing left to delete changes nothing.
    await cleanupEvents(t.ch, 30 * 3600, NOW);
    await assertSameAsFinerRollups(t.ch, false);
  } finally {
    await t.dispose();
  }
});
