// The reads (and the one cleanup) the management API runs on ClickHouse.
// Every user value is a bound parameter; the only things spliced into SQL
// are table names (ch.table), our own interval keywords, and partition ids
// read back from system.parts and checked against their format.
//
// Stats, time series and top lists read the rollups (migrations 000004-6
// per minute, 000009, 000011-12, 000014 per hour), never raw rows; rollup tables are SummingMergeTree, so every read sums
// with GROUP BY (unmerged parts hold partial rows for one key).
import type { SecurityEvent } from '../records.js';
import { isIP } from 'node:net';
import type { ClickHouse } from './client.js';
import { ClickHouseLayerError } from './errors.js';
import { epochMs, ipText, onClusterClause } from './sql.js';

/** A caller's input the queries cannot use (bad cursor, limit out of range). */
export class QueryInputError extends ClickHouseLayerError {
  override readonly name = 'QueryInputError';
  constructor(message: string) {
    super('LW_CH_QUERY_INPUT', message);
  }
}

/** An event as stored: the SecurityEvent record itself (the `type` column is the record's enum). */
export type EventRow = SecurityEvent;

interface RawEventRow extends Omit<EventRow, 'ts' | 'count' | 'window_start' | 'window_end'> {
  ts: string | number;
  count: string | number;
  window_start: string | number;
  window_end: string | number;
}

// Output names equal column names, and an alias shadows its column in
// WHERE and ORDER BY: those refer to the columns qualified (FROM events AS e).
const EVENT_COLUMNS = `e.id AS id, ${epochMs('e.ts')} AS ts, toString(e.type) AS type, e.detector AS detector, ${ipText('e.ip')} AS ip,
  e.deployment AS deployment, e.count AS count, ${epochMs('e.window_start')} AS window_start, ${epochMs('e.window_end')} AS window_end,
  e.sample_paths AS sample_paths, e.details AS details`;

function eventRow(r: RawEventRow): EventRow {
  return { ...r, ts: Number(r.ts), count: Number(r.count), window_start: Number(r.window_start), window_end: Number(r.window_end) };
}

function checkMs(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new QueryInputError(`${name} must be epoch milliseconds, got ${String(v)}`);
  return v;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/**
 * The hours of events_by_hour (000014) wholly inside a range of minutes of
 * events_by_minute: `first` is the range's first minute start, `last` its
 * last (epoch ms). A read takes [h_start, h_end) from the hourly rollup and
 * every other minute of its range from the minute rollup (splitRollup), which
 * sums to exactly what the minute rollup alone gives. h_start >= h_end: none.
 */
export function wholeHours(first: number, last: number): { h_start: number; h_end: number } {
  const h_start = Math.ceil(first / HOUR_MS) * HOUR_MS;
  const h_end = Math.floor((last + MINUTE_MS) / HOUR_MS) * HOUR_MS;
  return { h_start, h_end: Math.max(h_start, h_end) };
}

/**
 * events_by_minute rows matching `minuteWhere`, with the whole hours among them
 * read from events_by_hour instead: a subquery with columns `cols` (both tables
 * have ts, type, detector, deployment, events, requests). `extraWhere` applies
 * to both sides (e.g. a deployment filter). Needs the h_start/h_end parameters.
 */
function splitRollup(ch: ClickHouse, cols: string, minuteWhere: string, extraWhere = ''): string {
  const hours = "ts >= fromUnixTimestamp64Milli({h_start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({h_end:Int64}, 'UTC')";
  return `(SELECT ${cols} FROM ${ch.table('events_by_minute')} WHERE ${minuteWhere} AND NOT (${hours}) ${extraWhere}
           UNION ALL
           SELECT ${cols} FROM ${ch.table('events_by_hour')} WHERE ${hours} ${extraWhere})`;
}

// ---------------------------------------------------------------- stats

export interface StatsOptions {
  /** Epoch ms; defaults to Date.now(). */
  now?: number;
  /** How far back totals, top IPs and recent threats look; default 24. */
  windowHours?: number;
  /** Rows in recent_threats and top_offending_ips; default 10. */
  top?: number;
}

export interface Stats {
  from: number;
  to: number;
  total_events: number;
  /** Every event type, 0 when none. */
  events_by_type: Record<string, number>;
  /** Blocks in force now (control_blocks, not expired). */
  active_blocks: number;
  /** Latest events, newest first. */
  recent_threats: EventRow[];
  top_offending_ips: { ip: string; events: number; requests: number }[];
}

/** Size of the hourly top-IP sketches (events_top_ips_hour); a larger `top` groups every address. */
const TOP_IP_SKETCH = 50;

export const EVENT_TYPES = ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected'] as const;

/** The /stats response: totals by type, active blocks, recent threats, top offending IPs. */
export async function stats(ch: ClickHouse, opts: StatsOptions = {}): Promise<Stats> {
  const to = checkMs('now', opts.now ?? Date.now());
  const hours = opts.windowHours ?? 24;
  if (!(hours > 0 && hours <= 24 * 366)) throw new QueryInputError(`windowHours out of range: ${hours}`);
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1 || top > 1000) throw new QueryInputError(`top out of range: ${top}`);
  const from = to - Math.round(hours * 3_600_000);
  // Rollups are per minute: the window starts at the minute holding `from`.
  const window = { from, to, top };
  const windowOn = (ts: string): string =>
    `${ts} >= toStartOfMinute(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND ${ts} <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
  const rollupWindow = windowOn('ts');

  // Minutes from the one holding `from` to the one holding `to`, inclusive.
  const whole = wholeHours(Math.floor(from / MINUTE_MS) * MINUTE_MS, Math.floor(to / MINUTE_MS) * MINUTE_MS);

  const [byType, blocks, recent, ips] = await Promise.all([
    ch.query<{ type: string; events: string }>(
      `SELECT toString(type) AS type, sum(events) AS events FROM ${splitRollup(ch, 'type, events', rollupWindow)}
       GROUP BY type`,
      { ...window, ...whole },
    ),
    ch.query<{ n: string }>(
      `SELECT count() AS n FROM ${ch.table('control_blocks')} FINAL
       WHERE expires_at IS NULL OR expires_at > fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
      window,
    ),
    newestEvents(
      ch,
      ["e.ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')", "e.ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')"],
      { ...window, limit: top },
      to,
      from,
    ),
    // Up to TOP_IP_SKETCH rows: candidates from the hourly top-K sketches
    // (migration 000013), exact counts for them from the per-IP rollup, whose
    // key starts with ip. Grouping every address of the window instead takes
    // seconds once most addresses are seen once (see 000013).
    // The output name ip is the text form; r.ip is the column (the key, and a 16-byte group key).
    ch.query<{ ip: string; events: string; requests: string }>(
      `SELECT ${ipText('r.ip')} AS ip, sum(r.events) AS events, sum(r.requests) AS requests
       FROM ${ch.table('events_by_ip_minute')} AS r WHERE ${windowOn('r.ts')}
       ${top <= TOP_IP_SKETCH ? `AND r.ip IN (SELECT arrayJoin(topKMerge(${TOP_IP_SKETCH})(k.top)) FROM ${ch.table('events_top_ips_hour')} AS k
         WHERE k.ts >= toStartOfHour(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND k.ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC'))` : ''}
       GROUP BY r.ip ORDER BY events DESC, requests DESC, r.ip LIMIT {top:UInt32}`,
      window,
    ),
  ]);

  const events_by_type: Record<string, number> = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0]));
  let total = 0;
  for (const r of byType) {
    events_by_type[r.type] = Number(r.events);
    total += Number(r.events);
  }
  return {
    from,
    to,
    total_events: total,
    events_by_type,
    active_blocks: Number(blocks[0]?.n ?? 0),
    recent_threats: recent.map(eventRow),
    top_offending_ips: ips.map((r) => ({ ip: r.ip, events: Number(r.events), requests: Number(r.requests) })),
  };
}

// ---------------------------------------------------------------- time series

export interface TimeSeriesOptions {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  step: 'minute' | 'hour';
  deployment?: string;
}

export interface TimeSeries {
  step: 'minute' | 'hour';
  /** Buckets with at least one event, by start (epoch ms) then type. */
  events: { t: number; type: string; events: number; requests: number }[];
  /** Captured requests per bucket and status class. */
  requests: { t: number; status_class: string; requests: number; bytes: number }[];
}

const STEP_INTERVAL = { minute: 'INTERVAL 1 MINUTE', hour: 'INTERVAL 1 HOUR' } as const;

/** Events by type and requests by status class per minute or hour over [from, to). */
export async function timeSeries(ch: ClickHouse, opts: TimeSeriesOptions): Promise<TimeSeries> {
  const from = checkMs('from', opts.from);
  const to = checkMs('to', opts.to);
  const interval = STEP_INTERVAL[opts.step];
  if (!interval) throw new QueryInputError(`step must be minute or hour, got ${String(opts.step)}`);
  if (to <= from) throw new QueryInputError('to must be after from');
  const buckets = (to - from) / (opts.step === 'minute' ? 60_000 : 3_600_000);
  if (buckets > 50_000) throw new QueryInputError(`too many ${opts.step} buckets in the range (${Math.ceil(buckets)})`);
  // Minute starts in [minute of from, to): the last is the one below `to`. Hourly buckets sum whole hours from events_by_hour.
  const hours = opts.step === 'hour' ? wholeHours(Math.floor(from / MINUTE_MS) * MINUTE_MS, Math.floor((to - 1) / MINUTE_MS) * MINUTE_MS) : { h_start: 0, h_end: 0 };
  const params = { from, to, deployment: opts.deployment ?? '', ...hours };
  const span = `ts >= toStartOfMinute(fromUnixTimestamp64Milli({from:Int64}, 'UTC'))
       AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
  const dep = opts.deployment !== undefined ? 'AND deployment = {deployment:String}' : '';
  const where = `${span} ${dep}`;
  const bucket = `toUnixTimestamp(toStartOfInterval(ts, ${interval})) * 1000`;
  const [events, requests] = await Promise.all([
    ch.query<{ t: string; type: string; events: string; requests: string }>(
      `SELECT ${bucket} AS t, toString(type) AS type, sum(events) AS events, sum(requests) AS requests
       FROM ${opts.step === 'hour' ? splitRollup(ch, 'ts, type, events, requests', span, dep) : `${ch.table('events_by_minute')} WHERE ${where}`}
       GROUP BY t, type ORDER BY t, type`,
      params,
    ),
    ch.query<{ t: string; status_class: string; requests: string; bytes: string }>(
      `SELECT ${bucket} AS t, status_class, sum(requests) AS requests, sum(bytes) AS bytes
       FROM ${ch.table('requests_by_minute')} WHERE ${where} GROUP BY t, status_class ORDER BY t, status_class`,
      params,
    ),
  ]);
  return {
    step: opts.step,
    events: events.map((r) => ({ t: Number(r.t), type: r.type, events: Number(r.events), requests: Number(r.requests) })),
    requests: requests.map((r) => ({ t: Number(r.t), status_class: r.status_class, requests: Number(r.requests), bytes: Number(r.bytes) })),
  };
}

// ---------------------------------------------------------------- top lists

export interface TopStatsOptions {
  /** Epoch ms, inclusive; rounded down to its hour for the hourly rollups. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  deployment?: string;
  /** Rows per list, 1..1000; default 10. */
  top?: number;
}

export interface TopStats {
  from: number;
  to: number;
  /** Sample paths of events, by the number of events that named them (hourly rollup). */
  paths: { path: string; events: number }[];
  /** Events and the offending requests they cover, per deployment (minute rollup). */
  deployments: { deployment: string; events: number; requests: number }[];
  /**
   * Captured requests by user agent (first 256 characters) and by country,
   * with those nginx refused. Events carry neither field, so these come from
   * the requests table: empty unless real-time capture was on in the range.
   */
  user_agents: { user_agent: string; requests: number; blocked: number }[];
  /** null: country unknown. */
  countries: { country: string | null; requests: number; blocked: number }[];
}

/** Top paths, user agents, countries and deployments over [from, to). */
export async function topStats(ch: ClickHouse, opts: TopStatsOptions): Promise<TopStats> {
  const from = checkMs('from', opts.from);
  const to = checkMs('to', opts.to);
  if (to <= from) throw new QueryInputError('to must be after from');
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1 || top > 1000) throw new QueryInputError(`top out of range: ${top}`);
  const hours = wholeHours(Math.floor(from / MINUTE_MS) * MINUTE_MS, Math.floor((to - 1) / MINUTE_MS) * MINUTE_MS);
  const params = { from, to, top, deployment: opts.deployment ?? '', ...hours };
  const dep = opts.deployment !== undefined ? 'AND deployment = {deployment:String}' : '';
  const span = (unit: 'Minute' | 'Hour'): string =>
    `ts >= toStartOf${unit}(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
  const range = (unit: 'Minute' | 'Hour'): string => `${span(unit)} ${dep}`;
  const [paths, deployments, agents, countries] = await Promise.all([
    ch.query<{ path: string; events: string }>(
      `SELECT path, sum(events) AS events FROM ${ch.table('events_by_path_hour')} WHERE ${range('Hour')}
       GROUP BY path ORDER BY events DESC, path LIMIT {top:UInt32}`,
      params,
    ),
    ch.query<{ deployment: string; events: string; requests: string }>(
      `SELECT deployment, sum(events) AS events, sum(requests) AS requests
       FROM ${splitRollup(ch, 'deployment, events, requests', span('Minute'), dep)}
       GROUP BY deployment ORDER BY events DESC, deployment LIMIT {top:UInt32}`,
      params,
    ),
    ch.query<{ user_agent: string; requests: string; blocked: string }>(
      `SELECT user_agent, sum(requests) AS requests, sum(blocked) AS blocked FROM ${ch.table('requests_by_agent_hour')} WHERE ${range('Hour')}
       GROUP BY user_agent ORDER BY requests DESC, user_agent LIMIT {top:UInt32}`,
      params,
    ),
    ch.query<{ country: string; requests: string; blocked: string }>(
      `SELECT country, sum(requests) AS requests, sum(blocked) AS blocked FROM ${ch.table('requests_by_country_hour')} WHERE ${range('Hour')}
       GROUP BY country ORDER BY requests DESC, country LIMIT {top:UInt32}`,
      params,
    ),
  ]);
  return {
    from,
    to,
    paths: paths.map((r) => ({ path: r.path, events: Number(r.events) })),
    deployments: deployments.map((r) => ({ deployment: r.deployment, events: Number(r.events), requests: Number(r.requests) })),
    user_agents: agents.map((r) => ({ user_agent: r.user_agent, requests: Number(r.requests), blocked: Number(r.blocked) })),
    countries: countries.map((r) => ({ country: r.country === '' ? null : r.country, requests: Number(r.requests), blocked: Number(r.blocked) })),
  };
}

// ---------------------------------------------------------------- events

export interface ListEventsOptions {
  type?: string;
  /** One address; one that does not parse matches nothing. */
  ip?: string;
  /** "a.b.c.d/n" or "v6/n"; one that does not parse matches nothing. */
  cidr?: string;
  deployment?: string;
  detector?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** 1..1000. */
  limit: number;
  /** next_cursor of the previous page. */
  cursor?: string;
}

export interface EventPage {
  events: EventRow[];
  /** For the next (older) page; null on the last page. */
  next_cursor: string | null;
}

/** Lookbacks tried in turn by newestEvents before reading without a lower bound. */
const PROBE_WINDOWS_MS = [3_600_000, 86_400_000, 7 * 86_400_000] as const;

/**
 * The newest `params.limit` events matching `where` (conditions on events AS
 * e), newest first. events is sorted by (deployment, type, ts), so "newest
 * first" over the whole table reads every row's ts and id. But the newest
 * rows are almost always recent: read a short window below `upper` (epoch
 * ms, exclusive; now when absent) first. If it holds `limit` rows they are
 * the answer, since every row outside is older than all of them; if not,
 * widen (an hour, a day, a week, then everything down to `lower`). A sparse
 * filter pays a few cheap reads before the full one; a dense one reads an
 * hour of data instead of the whole table.
 */
async function newestEvents(
  ch: ClickHouse,
  where: readonly string[],
  params: Record<string, unknown> & { limit: number },
  upper: number | undefined,
  lower: number | undefined,
): Promise<RawEventRow[]> {
  const anchor = upper ?? Date.now();
  for (const lookback of [...PROBE_WINDOWS_MS, undefined]) {
    let floor = lookback === undefined ? undefined : Math.max(0, anchor - lookback);
    const last = floor === undefined || (lower !== undefined && floor <= lower);
    if (last) floor = undefined;
    const conds = floor === undefined ? where : [...where, "e.ts >= fromUnixTimestamp64Milli({probe_floor:Int64}, 'UTC')"];
    const rows = await ch.query<RawEventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${ch.table('events')} AS e
       ${conds.length ? 'WHERE ' + conds.join(' AND ') : ''}
       ORDER BY e.ts DESC, e.id DESC LIMIT {limit:UInt32}`,
      floor === undefined ? params : { ...params, probe_floor: floor },
    );
    if (last || rows.length >= params.limit) return rows;
  }
  return [];
}

/** The IPv6 form (IPv4 mapped) and prefix length of a CIDR, or undefined. */
export function parseCidr(cidr: string): { address: string; bits: number } | undefined {
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!m) return undefined;
  const [, address = '', bitsText = ''] = m;
  const bits = Number(bitsText);
  const family = isIP(address);
  if (family === 4 && bits <= 32) return { address: `::ffff:${address}`, bits: bits + 96 };
  if (family === 6 && bits <= 128) return { address, bits };
  return undefined;
}

// Cursor: the (ts, id) of the last row of a page; rows sort by (ts, id)
// descending, so the next page is everything strictly below it. Rows
// inserted later with newer timestamps sort above and never shift a page.
/** The cursor listEvents hands out after a row (ts, id); exported for tools that start paging mid-way. */
export function encodeCursor(ts: number, id: string): string {
  return Buffer.from(JSON.stringify([ts, id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { ts: number; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string') {
      return { ts: v[0] as number, id: v[1] };
    }
  } catch {
    // falls through to the error below
  }
  throw new QueryInputError('invalid cursor');
}

/** Events matching every given filter, newest first, a page at a time. */
export async function listEvents(ch: ClickHouse, opts: ListEventsOptions): Promise<EventPage> {
  if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > 1000) throw new QueryInputError(`limit must be 1..1000, got ${opts.limit}`);
  const where: string[] = [];
  const params: Record<string, unknown> & { limit: number } = { limit: opts.limit + 1 };
  if (opts.type !== undefined) {
    // Compared as text: an unknown type matches nothing rather than failing the enum cast.
    where.push('toString(e.type) = {type:String}');
    params.type = opts.type;
  }
  if (opts.ip !== undefined) {
    where.push('e.ip = toIPv6OrNull({ip:String})');
    params.ip = opts.ip;
  }
  if (opts.cidr !== undefined) {
    const c = parseCidr(opts.cidr);
    if (!c) return { events: [], next_cursor: null };
    where.push(`e.ip BETWEEN tupleElement(IPv6CIDRToRange(toIPv6({cidr_addr:String}), {cidr_bits:UInt8}), 1)
                 AND tupleElement(IPv6CIDRToRange(toIPv6({cidr_addr:String}), {cidr_bits:UInt8}), 2)`);
    params.cidr_addr = c.address;
    params.cidr_bits = c.bits;
  }
  if (opts.deployment !== undefined) {
    where.push('e.deployment = {deployment:String}');
    params.deployment = opts.deployment;
  }
  if (opts.detector !== undefined) {
    where.push('e.detector = {detector:String}');
    params.detector = opts.detector;
  }
  if (opts.since !== undefined) {
    where.push("e.ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')");
    params.since = checkMs('since', opts.since);
  }
  if (opts.until !== undefined) {
    where.push("e.ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')");
    params.until = checkMs('until', opts.until);
  }
  if (opts.cursor !== undefined) {
    const c = decodeCursor(opts.cursor);
    // The plain bound on ts lets the read skip parts and granules; the tuple alone would not.
    where.push("e.ts <= fromUnixTimestamp64Milli({cursor_ts:Int64}, 'UTC')");
    where.push("(e.ts, e.id) < (fromUnixTimestamp64Milli({cursor_ts:Int64}, 'UTC'), {cursor_id:String})");
    params.cursor_ts = c.ts;
    params.cursor_id = c.id;
  }
  let upper = opts.until;
  if (params.cursor_ts !== undefined) upper = Math.min(upper ?? Infinity, (params.cursor_ts as number) + 1);
  const rows = await newestEvents(ch, where, params, upper, opts.since);
  const events = rows.slice(0, opts.limit).map(eventRow);
  const last = events[events.length - 1];
  return { events, next_cursor: rows.length > opts.limit && last ? encodeCursor(last.ts, last.id) : null };
}

// ---------------------------------------------------------------- cleanup

export interface CleanupResult {
  /** Epoch ms: events before it are gone. */
  cutoff: number;
  /** Day partitions of events dropped whole ("YYYYMMDD"). */
  partitions_dropped: string[];
  /** Rows of events in those partitions. */
  rows_dropped: number;
  /** Rows of events removed by DELETE from the day holding the cutoff. */
  rows_deleted: number;
}

const DAY_MS = 86_400_000;
/** Tables partitioned by toDate(ts) that follow events' cleanup (the event rollups too, so stats agree). */
const CLEANUP_TABLES = ['events', 'events_by_minute', 'events_by_ip_minute', 'events_by_path_hour', 'events_top_ips_hour', 'events_by_hour'] as const;
/** The event rollups and the unit of their ts: rows wholly before the cutoff go. */
const CLEANUP_ROLLUPS = [
  ['events_by_minute', 'Minute'],
  ['events_by_ip_minute', 'Minute'],
  ['events_by_path_hour', 'Hour'],
  ['events_top_ips_hour', 'Hour'],
  ['events_by_hour', 'Hour'],
] as const;

/** Remove events older than `olderThanSeconds` (FlatRun's /cleanup, older_than). */
export async function cleanupEvents(ch: ClickHouse, olderThanSeconds: number, now: number = Date.now()): Promise<CleanupResult> {
  if (!Number.isSafeInteger(olderThanSeconds) || olderThanSeconds < 0) throw new QueryInputError(`older_than must be whole seconds >= 0, got ${olderThanSeconds}`);
  const cutoff = checkMs('now', now) - olderThanSeconds * 1000;
  // Whole days strictly before the cutoff's day (UTC) go by partition drop.
  const firstKeptDay = new Date(Math.floor(cutoff / DAY_MS) * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
  const onCluster = onClusterClause(ch.cluster);
  const result: CleanupResult = { cutoff, partitions_dropped: [], rows_dropped: 0, rows_deleted: 0 };

  for (const table of CLEANUP_TABLES) {
    const parts = await ch.query<{ partition_id: string; rows: string }>(
      `SELECT partition_id, sum(rows) AS rows FROM system.parts
       WHERE database = {db:String} AND table = {table:String} AND active
       GROUP BY partition_id ORDER BY partition_id`,
      { db: ch.database, table },
    );
    for (const p of parts) {
      // Only ids of the shape toDate() partitions have, so nothing odd reaches the SQL.
      if (!/^\d{8}$/.test(p.partition_id) || p.partition_id >= firstKeptDay) continue;
      await ch.command(`ALTER TABLE ${ch.table(table)}${onCluster} DROP PARTITION ID '${p.partition_id}'`);
      if (table === 'events') {
        result.partitions_dropped.push(p.partition_id);
        result.rows_dropped += Number(p.rows);
      }
    }
  }

  // What is left before the cutoff sits in the cutoff's own day.
  const params = { cutoff };
  const [left] = await ch.query<{ n: string }>(
    `SELECT count() AS n FROM ${ch.table('events')} WHERE ts < fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')`,
    params,
  );
  result.rows_deleted = Number(left?.n ?? 0);
  if (result.rows_deleted > 0) {
    await ch.command(`DELETE FROM ${ch.table('events')}${onCluster} WHERE ts < fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')`, params);
    // Rollup minutes (hours) wholly before the cutoff.
    for (const [table, unit] of CLEANUP_ROLLUPS) {
      await ch.command(
        `DELETE FROM ${ch.table(table)}${onCluster} WHERE ts < toStartOf${unit}(fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC'))`,
        params,
      );
    }
  }
  return result;
}
