// The large events table the query benchmarks read (query.bench.ts,
// soc-query.bench.ts): N realistic events generated inside ClickHouse
// (INSERT ... SELECT FROM numbers(), so the materialized views fill the
// rollups as the sinks' inserts would; country and AS per address), spread over `days`, and N/20 captured
// requests over the last day. The distribution is described in
// query.bench.ts's header; every run builds the same data.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClickHouse, type ClickHouse } from '../shared/clickhouse/client.js';
import { migrate } from '../shared/clickhouse/migrate.js';

const CHUNK = 5_000_000;
const DAY = 86_400_000;

/**
 * An embedded engine in a temporary dir (or in `keepDir`, kept), migrated for
 * `days` of retention; `cleanup` closes it and removes a temporary dir (also
 * on SIGINT).
 */
export async function openBenchDatabase(name: string, days: number, keepDir?: string): Promise<{ ch: ClickHouse; cleanup: () => Promise<void> }> {
  const dataDir = keepDir ?? mkdtempSync(join(tmpdir(), `logwarden-bench-${name}-`));
  const ch = await openClickHouse({ database: 'bench', dataDir });
  const cleanup = async (): Promise<void> => {
    await ch.close().catch(() => undefined);
    if (keepDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  await migrate(ch, { retentionDays: days + 1, requestsTtlDays: 2 });
  return { ch, cleanup };
}

/**
 * Seeds `events` over `days` into a kept dir once: the second run with the
 * same sizes finds `seeded.json` and reuses the data (and its `now`).
 */
export async function seedOnce(ch: ClickHouse, dir: string | undefined, opts: { events: number; days: number; now: number; mark?: (s: string) => void }): Promise<Seeded & { now: number }> {
  const marker = dir === undefined ? undefined : join(dir, 'seeded.json');
  if (marker !== undefined && existsSync(marker)) {
    const was = JSON.parse(readFileSync(marker, 'utf8')) as { events: number; days: number; now: number } & Seeded;
    if (was.events === opts.events && was.days === opts.days) return was;
    throw new Error(`${dir} holds ${was.events} events over ${was.days} days, not ${opts.events} over ${opts.days}`);
  }
  const seeded = await seedEvents(ch, opts);
  if (marker !== undefined) writeFileSync(marker, JSON.stringify({ events: opts.events, days: opts.days, now: opts.now, ...seeded }));
  return { ...seeded, now: opts.now };
}

export interface Seeded {
  /** Seconds the events took, and the requests. */
  genEventsS: number;
  genRequestsS: number;
}

export async function seedEvents(ch: ClickHouse, opts: { events: number; days: number; now: number; mark?: (s: string) => void }): Promise<Seeded> {
  const N = opts.events;
  const DAYS = opts.days;
  const now = opts.now;
  const start = now - DAYS * DAY;
  const mark = opts.mark ?? ((): void => undefined);
  // h: a per-row hash to draw every field from; ts ascends with the row number.
  const eventsSelect = `
    WITH cityHash64(number, 7) AS h,
         {start:Int64} + intDiv(number * {span:Int64}, {n:UInt64}) + (h % 1000) AS ms,
         h % 100 AS tpick,
         multiIf(tpick < 35, 'suspicious', tpick < 65, 'rate_limited', tpick < 80, 'scan_detected', tpick < 90, 'auth_failed', 'blocked_ip') AS ty,
         intDiv(h, 100) % 1000 AS r2,
         (intDiv(h, 100000) % 1000) < 300 AS heavy,
         if(heavy, intDiv(h, 1000000) % 2000, 2000 + intDiv(h, 1000000) % 4000000) AS ipn,
         (intDiv(h, 7) % 10) = 0 AS v6
    SELECT
      concat('ev-', toString(number)) AS id,
      fromUnixTimestamp64Milli(ms, 'UTC') AS ts,
      ty AS type,
      multiIf(ty = 'rate_limited', 'rate', ty = 'scan_detected', 'unique_paths', ty = 'auth_failed', 'auth_failure', ty = 'blocked_ip', 'blocklist',
              r2 < 400, 'not_found', r2 < 700, 'repeated_hits', r2 < 950, concat('signature:', ['sqli', 'xss', 'traversal', 'wp-scan', 'log4shell'][1 + r2 % 5]),
              concat('filter:rule-', toString(r2 % 7))) AS detector,
      if(v6, toIPv6(concat('2001:db8:', lower(hex(toUInt16(ipn % 65536))), '::', lower(hex(toUInt16(intDiv(ipn, 65536) + 1))))),
             toIPv6(IPv4NumToString(toUInt32(167772160 + ipn * 13)))) AS ip,
      concat('app-', toString(toUInt32(floor(20 / (1 + (intDiv(h, 3) % 1000) / 50))) % 20)) AS deployment,
      toUInt32(1 + h % 200) AS count,
      fromUnixTimestamp64Milli(ms - 60000, 'UTC') AS window_start,
      fromUnixTimestamp64Milli(ms, 'UTC') AS window_end,
      arrayMap(k -> if(k % 10 < 8,
                       ['/wp-login.php', '/.env', '/admin', '/xmlrpc.php', '/.git/config', '/phpmyadmin/', '/login', '/api/v1/auth', '/cgi-bin/luci',
                        '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', '/actuator/env', '/server-status', '/wp-admin/', '/.aws/credentials',
                        '/boaform/admin/formLogin', '/solr/admin/info/system', '/HNAP1/', '/owa/auth/logon.aspx'][1 + k % 18],
                       concat('/p/', toString(k % 50000))),
               arrayMap(j -> cityHash64(h, j), range(1 + h % 3))) AS sample_paths,
      map('requests', toString(1 + h % 200)) AS details,
      -- country and AS (000017): a few hosting networks carry most attacks; 1 in 20 unknown
      if(intDiv(h, 11) % 20 = 0, NULL, ['US', 'CN', 'RU', 'DE', 'NL', 'BR', 'IN', 'VN', 'FR', 'GB', 'SG', 'KR'][1 + ipn % 12]) AS country,
      if(intDiv(h, 11) % 20 = 0, NULL, [14061, 16509, 4134, 24940, 14618, 45090, 9009, 20473, 16276, 202425][1 + intDiv(ipn, 12) % 10]) AS asn,
      if(intDiv(h, 11) % 20 = 0, NULL, ['DIGITALOCEAN-ASN', 'AMAZON-02', 'CHINANET-BACKBONE', 'Hetzner Online GmbH', 'AMAZON-AES', 'Tencent',
                                         'M247 Europe SRL', 'AS-CHOOPA', 'OVH SAS', 'IP Volume inc'][1 + intDiv(ipn, 12) % 10]) AS as_org
    FROM numbers({first:UInt64}, {rows:UInt64})`;
  const eventsCols = 'id, ts, type, detector, ip, deployment, count, window_start, window_end, sample_paths, details, country, asn, as_org';

  const g0 = performance.now();
  mark(`generating ${N.toLocaleString('en')} events over ${DAYS} days `);
  for (let first = 0; first < N; first += CHUNK) {
    await ch.command(`INSERT INTO ${ch.table('events')} (${eventsCols}) ${eventsSelect}`, {
      start, span: DAYS * DAY, n: N, first, rows: Math.min(CHUNK, N - first),
    });
    mark('.');
  }
  const genEventsS = (performance.now() - g0) / 1000;
  const R = Math.max(1000, Math.floor(N / 20));
  const g1 = performance.now();
  mark(`\ngenerating ${R.toLocaleString('en')} captured requests over the last day `);
  for (let first = 0; first < R; first += CHUNK) {
    await ch.command(
      `INSERT INTO ${ch.table('requests')} (ts, node, deployment, client_ip, method, host, path, query, status, bytes, request_time,
                                             upstream_time, user_agent, referer, country, auth_user, request_id, blocked_by, filter_alert, extra)
       WITH cityHash64(number, 11) AS h, {rstart:Int64} + intDiv(number * {rspan:Int64}, {r:UInt64}) AS ms
       SELECT fromUnixTimestamp64Milli(ms, 'UTC'), concat('edge-', toString(h % 4)), concat('app-', toString(h % 20)),
              toIPv6(IPv4NumToString(toUInt32(167772160 + intDiv(h, 10) % 4000000))), 'GET', 'example.test',
              concat('/p/', toString(intDiv(h, 7) % 5000)), '', [200, 200, 200, 304, 404, 403, 500, 301][1 + h % 8], 512 + h % 10000, 0.01, NULL,
              if(h % 10 < 7, ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0', 'Mozilla/5.0 (Macintosh) Safari/605.1.15', 'curl/8.5.0',
                              'python-requests/2.31', 'sqlmap/1.8', 'Go-http-client/1.1', 'Nuclei - Open-source project', 'zgrab/0.x'][1 + intDiv(h, 3) % 8],
                 concat('Mozilla/5.0 bot-', toString(intDiv(h, 11) % 20000))),
              '', if(h % 17 = 0, NULL, ['US', 'DE', 'CN', 'RU', 'BR', 'IN', 'FR', 'NL', 'GB', 'VN'][1 + intDiv(h, 13) % 10]), NULL,
              toString(number), if(h % 50 = 0, 'blocklist', NULL), NULL, map()
       FROM numbers({first:UInt64}, {rows:UInt64})`,
      { rstart: now - DAY, rspan: DAY - 60_000, r: R, first, rows: Math.min(CHUNK, R - first) },
    );
    mark('.');
  }
  const genRequestsS = (performance.now() - g1) / 1000;
  console.log();
  return { genEventsS, genRequestsS };
}
