// From an nginx access-log message to an AccessRecord. A step returns a
// result (record, or a reject reason) instead of throwing: a rejected line is
// counted and dead-lettered by the caller, never dropped silently.
//
// Every log format ends here: a format parser (formats/) fills `LineFields`
// (the record's names, as text) plus the fields it does not model (`extra`),
// and `buildRecord` turns that into the record. `recordFromFields` is the same
// for an object of named fields (a parsed JSON line).
//
// Invalid UTF-8: lines arrive decoded with `buf.toString('utf8')`, so a bad
// byte is already U+FFFD. A field holding one is kept as it is, never a reason
// to reject the line: rejecting would let a client hide from detection with
// one bad byte in its User-Agent.
import type { AccessRecord } from '../records.js';
import { inRanges, normalizeIp, parseRange, type IpRange } from '../ip.js';
import { normalizePath, normalizePathInto, type NormalizedUri } from './path.js';
import type { SyslogHeader } from './syslog.js';

export type RejectReason = 'bad_syslog_header' | 'bad_format' | 'bad_ip' | 'too_long' | 'invalid_utf8' | 'empty';

export type LineResult = { ok: true; record: AccessRecord } | { ok: false; reason: RejectReason; detail: string };

export interface RecordContext {
  /** host → deployment, used when the line has no deployment field. */
  deployments: Readonly<Record<string, string>>;
  /** Proxies whose X-Forwarded-For is believed; empty: $remote_addr is the client. */
  trustedProxies: readonly IpRange[];
  /** Node name when neither the line nor the syslog header names one. */
  defaultNode: string;
}

export function compileTrustedProxies(cidrs: readonly string[]): IpRange[] {
  return cidrs.map(parseRange);
}

// Fields of the shipped JSON log_format (lua/conf/logwarden-http.conf) that map onto
// the record; anything else a line carries is kept in `extra`.
export const RECORD_FIELDS: ReadonlySet<string> = new Set([
  'ts', 'node', 'deployment', 'client_ip', 'xff', 'method', 'host', 'uri', 'status', 'bytes', 'request_time',
  'upstream_time', 'user_agent', 'referer', 'country', 'auth_user', 'request_id', 'blocked_by', 'filter_alert',
]);

/**
 * Names `buildRecord` adds to `extra` (they win over a log variable of the same name):
 * path_raw (the path as logged, when normalisation changed it), traversal,
 * double_encoded, overlong (evasion markers, "1"), request (a request line
 * that is not `METHOD URI [PROTOCOL]`, as logged), truncated ("1": the line
 * ended inside a field).
 */
export const MARKERS = ['path_raw', 'traversal', 'double_encoded', 'overlong', 'request', 'truncated'] as const;

/**
 * One line's values under the record's names, as logged ("-" and "" both mean
 * absent). Every format parser fills one of these; keep the literal in
 * `emptyFields` the only constructor so the objects share one shape.
 */
export interface LineFields {
  /** Event time, epoch ms; undefined: the syslog header's, else the arrival time. */
  ts: number | undefined;
  node: string;
  deployment: string;
  client_ip: string;
  xff: string;
  /** $realip_remote_addr: the TCP peer when nginx's realip module has rewritten $remote_addr. */
  realip: string;
  method: string;
  host: string;
  /** $request_uri: path and query as the client sent them. */
  uri: string;
  status: string;
  bytes: string;
  request_time: string;
  upstream_time: string;
  user_agent: string;
  referer: string;
  country: string;
  auth_user: string;
  request_id: string;
  blocked_by: string;
  filter_alert: string;
}

export function emptyFields(): LineFields {
  return {
    ts: undefined, node: '', deployment: '', client_ip: '', xff: '', realip: '', method: '', host: '', uri: '', status: '', bytes: '',
    request_time: '', upstream_time: '', user_agent: '', referer: '', country: '', auth_user: '', request_id: '', blocked_by: '', filter_alert: '',
  };
}

/** nginx writes "-" for an unset variable in some formats; both mean "nothing". */
function opt(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return s === '-' ? '' : s;
}

const dash = (s: string): string => (s === '-' ? '' : s);

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * A number as nginx writes one ("153", "0.012", "1763704844.123"); "" and "-" are absent.
 * By hand: Number() of a string costs more than the rest of a field's handling. Up
 * to 15 digits the result is exact (an integer divided by a power of ten is
 * correctly rounded); anything else goes through Number().
 */
export function num(s: string): number | undefined {
  const n = s.length;
  if (n === 0 || (n === 1 && s.charCodeAt(0) === 45)) return undefined;
  if (n <= 16) {
    let v = 0;
    let dot = -1;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 48 && c <= 57) v = v * 10 + (c - 48);
      else if (c === 46 && dot < 0 && i > 0) dot = i;
      else break;
    }
    if (i === n && dot !== n - 1 && (dot < 0 ? n : n - 1) <= 15) return dot < 0 ? v : v / (POW10[n - 1 - dot] as number);
  }
  const x = Number(s);
  return Number.isFinite(x) ? x : undefined;
}

/** $upstream_response_time may list several upstreams ("0.010, 0.020 : 0.005"): their sum. */
function upstreamTime(s: string): number | null {
  if (s === '' || s === '-') return null;
  if (!s.includes(',') && !s.includes(':')) return num(s) ?? null;
  let total = 0;
  let any = false;
  for (const part of s.split(/[,:]/)) {
    const t = part.trim();
    const n = Number(t);
    if (t !== '' && Number.isFinite(n)) {
      total += n;
      any = true;
    }
  }
  // Finite parts can still sum past the largest double ("1e308, 1e308"): that is no time either.
  return any && Number.isFinite(total) ? Math.round(total * 1000) / 1000 : null;
}

/** $status: 1 to 3 digits ("000" when nginx sent no response). */
function statusCode(s: string): number {
  const n = s.length;
  if (n === 0 || n > 3) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** An X-Forwarded-For hop; some proxies append the port ("1.2.3.4:5678", "[2001:db8::1]:443"). */
function hopAddress(hop: string): string | undefined {
  const a = normalizeIp(hop.trim());
  if (a !== undefined) return a;
  const h = hop.trim();
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:\d{1,5}$/.exec(h);
  if (v6) return normalizeIp(v6[1] as string);
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(h);
  return v4 ? normalizeIp(v4[1] as string) : undefined;
}

/**
 * The client address.
 *
 * - Without trusted proxies: $remote_addr.
 * - With them, when the peer is one: the right-most X-Forwarded-For hop that is
 *   not trusted (the left-most hops are whatever the client wrote). A hop that
 *   is not an address ends the walk at the peer.
 * - $realip_remote_addr in the format and different from $remote_addr: nginx's
 *   realip module (set_real_ip_from) has already replaced the peer by the
 *   client; $remote_addr is taken as it is and X-Forwarded-For is not walked a
 *   second time (that would apply nginx's trust and ours on top of each other).
 *   When the two are equal, realip did not act on this request and the rule
 *   above applies to the peer.
 */
function clientAddress(remote: string, xff: string, realip: string, trusted: RecordContext['trustedProxies']): string | undefined {
  const peer = normalizeIp(remote);
  if (peer === undefined) return undefined;
  if (trusted.length === 0 || xff === '' || xff === '-') return peer;
  if (realip !== '' && realip !== '-' && normalizeIp(realip) !== peer) return peer;
  if (!inRanges(peer, trusted)) return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i] as string);
    if (hop === undefined) return peer; // a forged or garbled hop: trust stops here
    if (!inRanges(hop, trusted)) return hop;
  }
  return hopAddress(hops[0] as string) ?? peer;
}

/** Splits "$request_uri" into normalised path and query, with evasion flags (see path.ts). */
export function splitUri(uri: string): NormalizedUri {
  return normalizePath(uri);
}

/** Reused by buildRecord, which reads it at once: one object less per line. */
const scratchUri: NormalizedUri = { path: '', query: '', pathRaw: undefined, traversal: false, encoded: false, doubleEncoded: false, overlong: false };

/** Latest event time an Avro long holds here without loss, and that is a real date: 9999-12-31. */
const MAX_TS_MS = 253_402_300_799_999;

/**
 * How far a line's own time may run ahead of its arrival. No line is logged
 * after it arrives, so more is a sender's clock running ahead (no NTP, a wrong
 * zone in a syslog header): taken as it is, its time would move the detector's
 * clock for its partition ahead, so that every other sender's lines there
 * count as late and go undetected until real time catches up; and Kafka 4
 * refuses records more than an hour ahead (message.timestamp.after.max.ms).
 * Such a line takes its arrival time and keeps how far ahead it was, in
 * `extra.clock_ahead_ms`. A line from the past is left as it is: a relay's
 * backlog is old, and squeezing it into now would add it up as one burst.
 */
export const MAX_CLOCK_AHEAD_MS = 60_000;

/** Whether a line's time `ts` ran too far ahead of its arrival; never when the arrival is unknown (0: a replayed file). */
export function aheadOfArrival(ts: number, receivedAt: number): boolean {
  return receivedAt > 0 && ts - receivedAt > MAX_CLOCK_AHEAD_MS;
}

// host → deployment answers per deployments map, kept because hosts repeat on
// nearly every line; bounded by clearing.
const DEPLOYMENT_CACHE_MAX = 4096;
const deploymentCaches = new WeakMap<object, Map<string, string>>();

export function deploymentOf(host: string, ctx: RecordContext): string {
  if (host === '') return '';
  const map = ctx.deployments;
  let cache = deploymentCaches.get(map);
  if (cache === undefined) {
    cache = new Map();
    deploymentCaches.set(map, cache);
  }
  let d = cache.get(host);
  if (d !== undefined) return d;
  // Object.hasOwn: a Host header of "constructor" or "__proto__" must not reach Object.prototype.
  if (Object.hasOwn(map, host)) {
    d = String(map[host]);
  } else {
    // $http_host / $server_name spellings: "Shop.Example:8443" → "shop.example".
    const colon = host.lastIndexOf(':');
    const bare = (colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host).toLowerCase();
    d = bare !== host && Object.hasOwn(map, bare) ? String(map[bare]) : '';
  }
  if (cache.size >= DEPLOYMENT_CACHE_MAX) cache.clear();
  cache.set(host, d);
  return d;
}

/**
 * The record from one line's fields. `extra` (the fields the format carried
 * that the record does not model) becomes the record's `extra`, with the
 * MARKERS added.
 */
export function buildRecord(f: LineFields, extra: Record<string, string>, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number): LineResult {
  const ip = clientAddress(f.client_ip, f.xff, f.realip, ctx.trustedProxies);
  if (ip === undefined) return { ok: false, reason: 'bad_ip', detail: `client_ip ${JSON.stringify(f.client_ip.slice(0, 80))}` };
  const status = statusCode(f.status);
  if (status < 0) return { ok: false, reason: 'bad_format', detail: `status ${JSON.stringify(f.status.slice(0, 20))} is not an HTTP status` };
  let ts = f.ts ?? header?.timestamp ?? receivedAt;
  if (!(ts >= 0 && ts <= MAX_TS_MS)) return { ok: false, reason: 'bad_format', detail: `event time ${ts} is out of range` };
  ts = Math.round(ts);
  if (aheadOfArrival(ts, receivedAt)) {
    extra.clock_ahead_ms = String(ts - Math.round(receivedAt));
    ts = Math.round(receivedAt);
  }
  const bytesNum = num(f.bytes) ?? 0;
  if (!(bytesNum >= 0 && bytesNum <= Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'bad_format', detail: `bytes ${f.bytes.slice(0, 30)} is out of range` };
  const host = dash(f.host);
  const u = normalizePathInto(f.uri, scratchUri);
  // Most requests meet no challenge: an empty outcome is not carried on.
  if (extra.logwarden_challenge === '') delete extra.logwarden_challenge;
  if (u.pathRaw !== undefined) extra.path_raw = u.pathRaw;
  if (u.traversal) extra.traversal = '1';
  if (u.doubleEncoded) extra.double_encoded = '1';
  if (u.overlong) extra.overlong = '1';
  let country: string | null = null;
  const c = f.country;
  if (c.length === 2) {
    const a = c.charCodeAt(0) & ~0x20;
    const b = c.charCodeAt(1) & ~0x20;
    if (a >= 65 && a <= 90 && b >= 65 && b <= 90) country = String.fromCharCode(a, b);
  }
  return {
    ok: true,
    record: {
      ts,
      node: dash(f.node) || header?.hostname || ctx.defaultNode,
      deployment: dash(f.deployment) || deploymentOf(host, ctx),
      client_ip: ip,
      method: dash(f.method),
      host,
      path: u.path,
      query: u.query,
      status,
      bytes: Math.trunc(bytesNum),
      request_time: num(f.request_time) ?? 0,
      upstream_time: upstreamTime(f.upstream_time),
      user_agent: dash(f.user_agent),
      referer: dash(f.referer),
      country,
      // Filled by the ingester's geo databases (shared/geo/); in the literal so that every record has one shape.
      asn: null,
      as_org: null,
      auth_user: dash(f.auth_user) || null,
      request_id: dash(f.request_id),
      blocked_by: dash(f.blocked_by) || null,
      filter_alert: dash(f.filter_alert) || null,
      extra,
    },
  };
}

/** $msec ("1763704844.123", seconds) as epoch ms; undefined when absent or not a number. */
export function msecToMs(v: string): number | undefined {
  // "1763704844.123": integer arithmetic on the common shape, no float rounding.
  const n = v.length;
  if (n >= 5 && n <= 17 && v.charCodeAt(n - 4) === 46) {
    let ms = 0;
    let i = 0;
    for (; i < n; i++) {
      if (i === n - 4) continue;
      const c = v.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      ms = ms * 10 + c;
    }
    if (i === n) return ms;
  }
  const s = num(v);
  return s === undefined ? undefined : Math.round(s * 1000);
}

/** A line in the shipped JSON log_format (`escape=json`), or any JSON object of named fields. */
export function recordFromJson(message: string, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number): LineResult {
  let fields: unknown;
  try {
    fields = JSON.parse(message);
  } catch (err) {
    return { ok: false, reason: 'bad_format', detail: `not JSON: ${(err as Error).message}` };
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    return { ok: false, reason: 'bad_format', detail: 'JSON line is not an object' };
  }
  try {
    return recordFromFields(fields as Record<string, unknown>, header, ctx, receivedAt);
  } catch (err) {
    // JSON.parse reads any depth, but a nested value is kept as JSON text and
    // JSON.stringify recurses: "[[[[...]]]]" thousands deep overflows the stack.
    if (err instanceof RangeError) return { ok: false, reason: 'bad_format', detail: 'a JSON value is nested too deep' };
    throw err;
  }
}

/**
 * The record from named fields, whatever format they were parsed from. Field
 * names are those of the shipped JSON log_format (`ts` = $msec in seconds,
 * `client_ip`, `xff`, `uri` = $request_uri, ...) plus `realip_remote_addr`;
 * values may be strings, numbers or anything JSON holds. Unknown names are
 * kept in `extra` (`realip_remote_addr` too).
 */
export function recordFromFields(f: Readonly<Record<string, unknown>>, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number): LineResult {
  const fields = emptyFields();
  const extra: Record<string, string> = {};
  for (const k in f) {
    const v = f[k];
    switch (k) {
      case 'ts': {
        const s = opt(v);
        fields.ts = msecToMs(s);
        break;
      }
      case 'node': fields.node = opt(v); break;
      case 'deployment': fields.deployment = opt(v); break;
      case 'client_ip': fields.client_ip = opt(v); break;
      case 'xff': fields.xff = opt(v); break;
      case 'method': fields.method = opt(v); break;
      case 'host': fields.host = opt(v); break;
      case 'uri': fields.uri = opt(v); break;
      case 'status': fields.status = opt(v); break;
      case 'bytes': fields.bytes = opt(v); break;
      case 'request_time': fields.request_time = opt(v); break;
      case 'upstream_time': fields.upstream_time = opt(v); break;
      case 'user_agent': fields.user_agent = opt(v); break;
      case 'referer': fields.referer = opt(v); break;
      case 'country': fields.country = opt(v); break;
      case 'auth_user': fields.auth_user = opt(v); break;
      case 'request_id': fields.request_id = opt(v); break;
      case 'blocked_by': fields.blocked_by = opt(v); break;
      case 'filter_alert': fields.filter_alert = opt(v); break;
      case '__proto__': break; // JSON.parse makes it an own key; as a map key it would set the prototype
      default:
        if (k === 'realip_remote_addr') fields.realip = opt(v);
        extra[k] = opt(v);
    }
  }
  return buildRecord(fields, extra, header, ctx, receivedAt);
}
