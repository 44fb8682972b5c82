// The event reads (and the one cleanup) the management API runs on ClickHouse;
// stats, time series and top lists are in rollup-queries.ts.
// Every user value is a bound parameter; the only things spliced into SQL
// are table names (ch.table), our own interval keywords, and partition ids
// read back from system.parts and checked against their format.
import type { SecurityEvent } from '../records.js';
import { normalizeIp } from '../ip.js';
import type { ClickHouse } from './client.js';
import { DAILY_TWINS, EVENT_DAILY } from './daily-rollups.js';
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
  e.sample_paths AS sample_paths, e.details AS details, e.country AS country, e.asn AS asn, e.as_org AS as_org`;

export function eventRow(r: RawEventRow): EventRow {
  return { ...r, ts: Number(r.ts), count: Number(r.count), window_start: Number(r.window_start), window_end: Number(r.window_end), asn: r.asn === null || r.asn === undefined ? null : Number(r.asn) };
}

export function checkMs(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new QueryInputError(`${name} must be epoch milliseconds, got ${String(v)}`);
  return v;
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
 * rows are almost always recent: look in a short window below `upper` (epoch
 * ms, exclusive; now when absent) first. If it holds `limit` rows they are
 * the answer, since every row outside is older than all of them; if not,
 * widen (an hour, a day, a week, then everything down to `lower`). A sparse
 * filter pays a few cheap reads before the full one; a dense one reads an
 * hour of data instead of the whole table.
 *
 * Past the first hour, a window is tried by reading ts alone (the limit-th
 * newest ts, if there is one): the whole rows are read once, for the window
 * that answers, from that ts on. A row's sample_paths and details sit in
 * compressed blocks of thousands of rows each, and reading one row
 * decompresses its block: a client whose events are spread thin made every
 * tried window decompress a block per event found, only to throw the rows
 * away and widen.
 */
export async function newestEvents(
  ch: ClickHouse,
  where: readonly string[],
  params: Record<string, unknown> & { limit: number },
  upper: number | undefined,
  lower: number | undefined,
  byIp?: readonly string[],
): Promise<RawEventRow[]> {
  const anchor = upper ?? Date.now();
  const read = (floor: number | undefined): Promise<RawEventRow[]> =>
    ch.query<RawEventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${ch.table('events')} AS e
       ${whereClause(where, floor)}
       ORDER BY e.ts DESC, e.id DESC LIMIT {limit:UInt32}`,
      floor === undefined ? params : { ...params, probe_floor: floor },
    );
  if (byIp !== undefined) {
    const floor = await ipFloor(ch, byIp, params, upper);
    // The rollup holds fewer: the whole read, at once. Else its floor, when it is right.
    if (floor === null) return read(undefined);
    const rows = await read(floor);
    if (rows.length >= params.limit) return rows;
  }
  for (const [i, lookback] of PROBE_WINDOWS_MS.entries()) {
    const floor = Math.max(0, anchor - lookback);
    if (lower !== undefined && floor <= lower) break;
    if (i === 0) {
      // The newest hour usually answers a page: one read, not two.
      const rows = await read(floor);
      if (rows.length >= params.limit) return rows;
      continue;
    }
    const [nth] = await ch.query<{ ts: string }>(
      `SELECT ${epochMs('e.ts')} AS ts FROM ${ch.table('events')} AS e
       ${whereClause(where, floor)}
       ORDER BY e.ts DESC LIMIT 1 OFFSET {nth:UInt32}`,
      { ...params, probe_floor: floor, nth: params.limit - 1 },
    );
    // Every row of the answer is at or above the limit-th newest ts; ties there are ordered by id in the read.
    if (nth !== undefined) return read(Number(nth.ts));
  }
  return read(undefined);
}

/**
 * Where the limit-th newest event of a client (or range) is, by events_by_ip_minute
 * (sorted by ip, then time): the start of its minute, or null when the rollup
 * holds fewer than `limit`. `conds` are on the rollup AS r. A hint, never the
 * answer: read from that floor, the events table gives `limit` rows only if the
 * rollup did not count more than it holds, and newestEvents probes otherwise.
 */
async function ipFloor(ch: ClickHouse, conds: readonly string[], params: Record<string, unknown> & { limit: number }, upper: number | undefined): Promise<number | null> {
  const all = upper === undefined ? conds : [...conds, "r.ts < fromUnixTimestamp64Milli({floor_upper:Int64}, 'UTC')"];
  const [row] = await ch.query<{ ts: string }>(
    `SELECT toString(toUnixTimestamp(ts) * 1000) AS ts FROM (
       SELECT ts, sum(n) OVER (ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seen
       FROM (SELECT r.ts AS ts, sum(r.events) AS n FROM ${ch.table('events_by_ip_minute')} AS r WHERE ${all.join(' AND ')} GROUP BY ts)
     ) WHERE seen >= {limit:UInt32} ORDER BY ts DESC LIMIT 1`,
    upper === undefined ? params : { ...params, floor_upper: upper },
  );
  return row === undefined ? null : Number(row.ts);
}

function whereClause(where: readonly string[], floor: number | undefined): string {
  const conds = floor === undefined ? where : [...where, "e.ts >= fromUnixTimestamp64Milli({probe_floor:Int64}, 'UTC')"];
  return conds.length ? `WHERE ${conds.join(' AND ')}` : '';
}

/** The IPv6 form (IPv4 mapped) and prefix length of a CIDR, or undefined. */
export function parseCidr(cidr: string): { address: string; bits: number } | undefined {
  const [text = '', bitsText, extra] = cidr.trim().split('/');
  if (bitsText === undefined || extra !== undefined || !/^\d{1,3}$/.test(bitsText)) return undefined;
  // The one address parser (shared/ip.ts); it folds an IPv4-mapped address to IPv4.
  const address = normalizeIp(text);
  if (address === undefined) return undefined;
  const bits = Number(bitsText);
  const mapped = text.includes(':') && !address.includes(':');
  if (!address.includes(':')) {
    const v4bits = mapped ? bits - 96 : bits;
    return v4bits >= 0 && v4bits <= 32 ? { address: `::ffff:${address}`, bits: v4bits + 96 } : undefined;
  }
  return bits <= 128 ? { address, bits } : undefined;
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
  // The same conditions on events_by_ip_minute AS r, which locates a client's newest events (ipFloor).
  const byIp: string[] = [];
  if (opts.ip !== undefined) {
    where.push('e.ip = toIPv6OrNull({ip:String})');
    byIp.push('r.ip = toIPv6OrNull({ip:String})');
    params.ip = opts.ip;
  }
  if (opts.cidr !== undefined) {
    const c = parseCidr(opts.cidr);
    if (!c) return { events: [], next_cursor: null };
    const range = `BETWEEN tupleElement(IPv6CIDRToRange(toIPv6({cidr_addr:String}), {cidr_bits:UInt8}), 1)
                 AND tupleElement(IPv6CIDRToRange(toIPv6({cidr_addr:String}), {cidr_bits:UInt8}), 2)`;
    where.push(`e.ip ${range}`);
    byIp.push(`r.ip ${range}`);
    params.cidr_addr = c.address;
    params.cidr_bits = c.bits;
  }
  if (opts.deployment !== undefined) {
    where.push('e.deployment = {deployment:String}');
    byIp.push('r.deployment = {deployment:String}');
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
  // The rollup has no type or detector, and starts a minute before `since`: it locates only what it counts.
  const located = (opts.ip !== undefined || opts.cidr !== undefined) && opts.type === undefined && opts.detector === undefined;
  if (located && opts.since !== undefined) byIp.push("r.ts >= toStartOfMinute(fromUnixTimestamp64Milli({since:Int64}, 'UTC'))");
  const rows = await newestEvents(ch, where, params, upper, opts.since, located ? byIp : undefined);
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
const CLEANUP_TABLES = ['events', 'events_by_minute', 'events_by_ip_minute', 'events_by_path_hour', 'events_top_ips_hour', 'events_by_hour', 'events_by_geo_hour', 'events_by_ip_day', 'events_by_path_day', 'events_by_geo_day'] as const;
/** The event rollups and the unit of their ts: rows wholly before the cutoff go. */
const CLEANUP_ROLLUPS = [
  ['events_by_minute', 'Minute'],
  ['events_by_ip_minute', 'Minute'],
  ['events_by_path_hour', 'Hour'],
  ['events_top_ips_hour', 'Hour'],
  ['events_by_hour', 'Hour'],
  ['events_by_geo_hour', 'Hour'],
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
    await rebuildDay(ch, cutoff);
  }
  return result;
}

/**
 * The daily event rollups' rows (EVENT_DAILY) of the day holding `cutoff`,
 * rebuilt from what their finer twins kept of that day, so whole-day reads
 * agree with them again.
 * Events of that day stored while this runs can be counted twice in it: a
 * cleanup's cutoff is normally days back, where nothing arrives any more.
 */
async function rebuildDay(ch: ClickHouse, cutoff: number): Promise<void> {
  const onCluster = onClusterClause(ch.cluster);
  const day = "ts >= toStartOfDay(fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')) AND ts < toStartOfDay(fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')) + INTERVAL 1 DAY";
  const params = { cutoff };
  for (const { daily, fine, keys, sums } of EVENT_DAILY.map((d) => DAILY_TWINS[d])) {
    await ch.command(`DELETE FROM ${ch.table(daily)}${onCluster} WHERE ${day}`, params);
    // Not deduplicated: the same rows may rightly be inserted again by a later cleanup.
    await ch.command(
      `INSERT INTO ${ch.table(daily)} (ts, ${keys}, ${sums.join(', ')}) SETTINGS insert_deduplicate = 0
       SELECT toStartOfDay(ts) AS d, ${keys}, ${sums.map((c) => `sum(${c})`).join(', ')}
       FROM ${ch.table(fine)} WHERE ${day} GROUP BY d, ${keys}`,
      params,
    );
  }
}
