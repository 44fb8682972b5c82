// The stats, time series and top lists the management API and the dashboard
// read. They read the rollups (migrations 000004-6 per minute, 000009,
// 000011-12, 000014, 000018 per hour, 000021-22 per day), never raw rows; rollup
// tables are SummingMergeTree, so every read sums with GROUP BY (unmerged
// parts hold partial rows for one key). Every user value is a bound parameter.
import type { ClickHouse } from './client.js';
import { DAILY_TWINS, type Daily } from './daily-rollups.js';
import { checkMs, eventRow, newestEvents, QueryInputError, type EventRow } from './queries.js';
import { ipText } from './sql.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The units of `size` ms (aligned to the epoch) all of whose buckets of `step`
 * ms lie in [first, last], where `first` and `last` are bucket starts (epoch
 * ms): [start, end), empty (start >= end) when none.
 */
function wholeUnits(first: number, last: number, step: number, size: number): { start: number; end: number } {
  const start = Math.ceil(first / size) * size;
  const end = Math.floor((last + step) / size) * size;
  return { start, end: Math.max(start, end) };
}

/**
 * The hours of events_by_hour (000014) wholly inside a range of minutes of
 * events_by_minute: `first` is the range's first minute start, `last` its
 * last (epoch ms). A read takes [h_start, h_end) from the hourly rollup and
 * every other minute of its range from the minute rollup (splitRollup), which
 * sums to exactly what the minute rollup alone gives. h_start >= h_end: none.
 */
export function wholeHours(first: number, last: number): { h_start: number; h_end: number } {
  const { start, end } = wholeUnits(first, last, MINUTE_MS, HOUR_MS);
  return { h_start: start, h_end: end };
}

/**
 * The days of the daily rollups (000021-22) wholly inside a range of buckets
 * of `step` ms (a minute or an hour) of a finer rollup: `first` and `last` are
 * the first and last bucket starts (epoch ms, UTC days). A read takes
 * [d_start, d_end) from the daily rollup and the rest from the finer one
 * (splitDays). d_start >= d_end: none.
 */
export function wholeDays(first: number, last: number, step: number): { d_start: number; d_end: number } {
  const { start, end } = wholeUnits(first, last, step, DAY_MS);
  return { d_start: start, d_end: end };
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

/**
 * Rows of the finer twin of daily rollup `daily` matching `fineWhere`, with
 * the whole days among them read from the daily rollup instead: a subquery
 * with columns `cols` (which both tables have). `extraWhere` applies to both
 * sides. Needs the d_start/d_end parameters (wholeDays).
 */
function splitDays(ch: ClickHouse, daily: Daily, cols: string, fineWhere: string, extraWhere = ''): string {
  const days = "ts >= fromUnixTimestamp64Milli({d_start:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({d_end:Int64}, 'UTC')";
  const twin = DAILY_TWINS[daily];
  return `(SELECT ${cols} FROM ${ch.table(twin.fine)} WHERE ${fineWhere} AND NOT (${days}) ${extraWhere}
           UNION ALL
           SELECT ${cols} FROM ${ch.table(twin.daily)} WHERE ${days} ${extraWhere})`;
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

export const EVENT_TYPES = ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected', 'challenge'] as const;

/**
 * Stats' top offending IPs: up to TOP_IP_SKETCH rows, candidates from the
 * hourly top-K sketches (migration 000013), exact counts for them from the
 * per-IP rollups (whole days from events_by_ip_day, the rest per minute), whose
 * keys start with ip. Grouping every address of the window instead takes
 * seconds once most addresses are seen once (see 000013). The candidates are
 * read first, once, and bound as a parameter: both sides of the split must
 * count the same addresses (merging the sketches in another order can pick
 * other addresses among equals).
 */
async function topIps(
  ch: ClickHouse,
  window: { from: number; to: number; top: number },
  rollupWindow: string,
  days: { d_start: number; d_end: number },
): Promise<{ ip: string; events: string; requests: string }[]> {
  let candidates = '';
  const params: Record<string, unknown> = { ...window, ...days };
  if (window.top <= TOP_IP_SKETCH) {
    const rows = await ch.query<{ ip: string }>(
      `SELECT IPv6NumToString(arrayJoin(topKMerge(${TOP_IP_SKETCH})(k.top))) AS ip FROM ${ch.table('events_top_ips_hour')} AS k
       WHERE k.ts >= toStartOfHour(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND k.ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
      window,
    );
    if (rows.length === 0) return [];
    params.candidates = rows.map((r) => r.ip);
    candidates = 'AND ip IN {candidates:Array(IPv6)}';
  }
  // The output name ip is the text form; r.ip is the column (the key, and a 16-byte group key).
  return ch.query<{ ip: string; events: string; requests: string }>(
    `SELECT ${ipText('r.ip')} AS ip, sum(r.events) AS events, sum(r.requests) AS requests
     FROM ${splitDays(ch, 'ip', 'ip, events, requests', rollupWindow, candidates)} AS r
     GROUP BY r.ip ORDER BY events DESC, requests DESC, r.ip LIMIT {top:UInt32}`,
    params,
  );
}

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
  const firstMinute = Math.floor(from / MINUTE_MS) * MINUTE_MS;
  const lastMinute = Math.floor(to / MINUTE_MS) * MINUTE_MS;
  const whole = wholeHours(firstMinute, lastMinute);
  const days = wholeDays(firstMinute, lastMinute, MINUTE_MS);

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
    topIps(ch, window, rollupWindow, days),
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

/**
 * `days` (wholeDays of the hourly buckets [firstHour, lastHour]) with the day
 * of lastHour taken whole from the daily rollups when neither events nor
 * captured requests are stored in that day's later hours. A range ending now
 * — the dashboard's — then reads its last, partial day as one row per key
 * from the daily rollups instead of a row per key and hour (30 days of paths
 * in `npm run bench:query`: 0.8M hourly rows for the partial day, against
 * 0.3M daily rows for the other 29). Same answer: the hourly read counts lastHour's
 * bucket whole too, and the later hours are empty. Something of a later hour
 * of that day stored between this check and the read (a clock ahead of this
 * one's) is counted.
 */
async function throughLastDay(
  ch: ClickHouse,
  days: { d_start: number; d_end: number },
  firstHour: number,
  lastHour: number,
): Promise<{ d_start: number; d_end: number }> {
  const dayStart = Math.floor(lastHour / DAY_MS) * DAY_MS;
  const dayEnd = dayStart + DAY_MS;
  // Already whole, or the range starts inside that day (its earlier hours are not in it).
  if (days.d_end >= dayEnd || firstHour > dayStart) return days;
  const later = "ts > fromUnixTimestamp64Milli({last:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({end:Int64}, 'UTC')";
  const [found] = await ch.query<{ n: string }>(
    `SELECT (SELECT count() FROM ${ch.table('events_by_hour')} WHERE ${later})
          + (SELECT count() FROM ${ch.table('requests_by_agent_hour')} WHERE ${later}) AS n`,
    { last: lastHour, end: dayEnd },
  );
  return Number(found?.n ?? 1) === 0 ? { d_start: Math.min(days.d_start, dayStart), d_end: dayEnd } : days;
}

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
   * with those nginx refused, from the requests table: empty unless
   * real-time capture was on in the range. Events by country and AS need no
   * capture: event_countries, event_asns.
   */
  user_agents: { user_agent: string; requests: number; blocked: number }[];
  /** null: country unknown. */
  countries: { country: string | null; requests: number; blocked: number }[];
  /** Events and the offending requests they cover, by the client's country (hourly rollup; no capture needed). null: unknown. */
  event_countries: { country: string | null; events: number; requests: number }[];
  /** The same by autonomous system (null: unknown) and its organisation. */
  event_asns: { asn: number | null; as_org: string | null; events: number; requests: number }[];
}

/** Top paths, user agents, countries and deployments over [from, to). */
export async function topStats(ch: ClickHouse, opts: TopStatsOptions): Promise<TopStats> {
  const from = checkMs('from', opts.from);
  const to = checkMs('to', opts.to);
  if (to <= from) throw new QueryInputError('to must be after from');
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1 || top > 1000) throw new QueryInputError(`top out of range: ${top}`);
  const hours = wholeHours(Math.floor(from / MINUTE_MS) * MINUTE_MS, Math.floor((to - 1) / MINUTE_MS) * MINUTE_MS);
  // Hourly rollups hold the hours from the one holding `from` to the last starting before `to`.
  const firstHour = Math.floor(from / HOUR_MS) * HOUR_MS;
  const lastHour = Math.ceil(to / HOUR_MS) * HOUR_MS - HOUR_MS;
  const days = await throughLastDay(ch, wholeDays(firstHour, lastHour, HOUR_MS), firstHour, lastHour);
  const params = { from, to, top, deployment: opts.deployment ?? '', ...hours, ...days };
  const dep = opts.deployment !== undefined ? 'AND deployment = {deployment:String}' : '';
  const span = (unit: 'Minute' | 'Hour'): string =>
    `ts >= toStartOf${unit}(fromUnixTimestamp64Milli({from:Int64}, 'UTC')) AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
  const range = (unit: 'Minute' | 'Hour'): string => `${span(unit)} ${dep}`;
  const [paths, deployments, agents, countries, geo] = await Promise.all([
    ch.query<{ path: string; events: string }>(
      // events_by_path_day has paths of all deployments together; one deployment's come from the hours.
      `SELECT path, sum(events) AS events
       FROM ${opts.deployment === undefined ? splitDays(ch, 'path', 'path, events', span('Hour')) : `${ch.table('events_by_path_hour')} WHERE ${range('Hour')}`}
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
      `SELECT user_agent, sum(requests) AS requests, sum(blocked) AS blocked
       FROM ${splitDays(ch, 'agent', 'user_agent, requests, blocked', span('Hour'), dep)}
       GROUP BY user_agent ORDER BY requests DESC, user_agent LIMIT {top:UInt32}`,
      params,
    ),
    ch.query<{ country: string; requests: string; blocked: string }>(
      `SELECT country, sum(requests) AS requests, sum(blocked) AS blocked FROM ${ch.table('requests_by_country_hour')} WHERE ${range('Hour')}
       GROUP BY country ORDER BY requests DESC, country LIMIT {top:UInt32}`,
      params,
    ),
    // Countries and ASes in one read of the geo rows (two lists, by_asn 0 and 1): each list is
    // ordered by events, then by its key (the other key holds its default in every row of it).
    ch.query<{ by_asn: string | number; country: string; asn: string | number; as_org: string; events: string; requests: string }>(
      `SELECT grouping(country) AS by_asn, country, asn, any(as_org) AS as_org, sum(events) AS events, sum(requests) AS requests
       FROM ${splitDays(ch, 'geo', 'country, asn, as_org, events, requests', span('Hour'), dep)}
       GROUP BY GROUPING SETS ((country), (asn))
       ORDER BY by_asn, events DESC, country, asn LIMIT {top:UInt32} BY by_asn
       SETTINGS force_grouping_standard_compatibility = 1`,
      params,
    ),
  ]);
  const eventCountries = geo.filter((r) => Number(r.by_asn) === 0);
  const eventAsns = geo.filter((r) => Number(r.by_asn) === 1);
  return {
    from,
    to,
    paths: paths.map((r) => ({ path: r.path, events: Number(r.events) })),
    deployments: deployments.map((r) => ({ deployment: r.deployment, events: Number(r.events), requests: Number(r.requests) })),
    user_agents: agents.map((r) => ({ user_agent: r.user_agent, requests: Number(r.requests), blocked: Number(r.blocked) })),
    countries: countries.map((r) => ({ country: r.country === '' ? null : r.country, requests: Number(r.requests), blocked: Number(r.blocked) })),
    event_countries: eventCountries.map((r) => ({ country: r.country === '' ? null : r.country, events: Number(r.events), requests: Number(r.requests) })),
    event_asns: eventAsns.map((r) => ({ asn: Number(r.asn) === 0 ? null : Number(r.asn), as_org: r.as_org === '' ? null : r.as_org, events: Number(r.events), requests: Number(r.requests) })),
  };
}
