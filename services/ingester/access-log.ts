// From an nginx access-log message to an AccessRecord. A step returns a
// result (record, or a reject reason) instead of throwing: a rejected line is
// counted and dead-lettered by the caller, never dropped silently.
import ipaddr from 'ipaddr.js';
import type { AccessRecord } from '../../shared/records.js';
import { normalizeIp } from '../../shared/ip.js';
import type { SyslogHeader } from './syslog.js';

export type RejectReason = 'bad_syslog_header' | 'bad_format' | 'bad_ip' | 'too_long' | 'invalid_utf8' | 'empty';

export type LineResult = { ok: true; record: AccessRecord } | { ok: false; reason: RejectReason; detail: string };

export interface RecordContext {
  /** host → deployment, used when the line has no deployment field. */
  deployments: Readonly<Record<string, string>>;
  /** Proxies whose X-Forwarded-For is believed; empty: $remote_addr is the client. */
  trustedProxies: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
  /** Node name when neither the line nor the syslog header names one. */
  defaultNode: string;
}

export function compileTrustedProxies(cidrs: readonly string[]): Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> {
  return cidrs.map((c) => (c.includes('/') ? ipaddr.parseCIDR(c) : ([ipaddr.parse(c), ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number])));
}

// Fields of the shipped JSON log_format (lua/conf/logwarden-http.conf) that map onto
// the record; anything else a line carries is kept in `extra`.
export const RECORD_FIELDS: ReadonlySet<string> = new Set([
  'ts', 'node', 'deployment', 'client_ip', 'xff', 'method', 'host', 'uri', 'status', 'bytes', 'request_time',
  'upstream_time', 'user_agent', 'referer', 'country', 'auth_user', 'request_id', 'blocked_by', 'filter_alert',
]);

/** nginx writes "-" for an unset variable in some formats; both mean "nothing". */
function opt(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return s === '-' ? '' : s;
}

function num(v: unknown): number | undefined {
  const s = opt(v);
  if (s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** $upstream_response_time may list several upstreams ("0.010, 0.020 : 0.005"): their sum. */
function upstreamTime(v: unknown): number | null {
  const s = opt(v);
  if (s === '') return null;
  let total = 0;
  let any = false;
  for (const part of s.split(/[,:]/)) {
    const n = Number(part.trim());
    if (Number.isFinite(n) && part.trim() !== '') {
      total += n;
      any = true;
    }
  }
  return any ? Math.round(total * 1000) / 1000 : null;
}

function inTrusted(addr: string, trusted: RecordContext['trustedProxies']): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(addr);
  } catch {
    return false;
  }
  for (const range of trusted) {
    if (parsed.kind() === range[0].kind() && parsed.match(range)) return true;
  }
  return false;
}

/** The client: $remote_addr, or the right-most untrusted X-Forwarded-For hop when the peer is a trusted proxy. */
function clientAddress(remote: string, xff: string, trusted: RecordContext['trustedProxies']): string | undefined {
  const peer = normalizeIp(remote);
  if (peer === undefined) return undefined;
  if (trusted.length === 0 || xff === '' || !inTrusted(peer, trusted)) return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i] as string);
    if (hop === undefined) return peer; // a forged or garbled hop: trust stops here
    if (!inTrusted(hop, trusted)) return hop;
  }
  return normalizeIp(hops[0] as string) ?? peer;
}

/** Splits "$request_uri" into path and query; collapses repeated slashes in the path. */
export function splitUri(uri: string): { path: string; query: string } {
  const q = uri.indexOf('?');
  let path = q < 0 ? uri : uri.slice(0, q);
  const query = q < 0 ? '' : uri.slice(q + 1);
  if (path.includes('//')) path = path.replace(/\/{2,}/g, '/');
  return { path: path === '' ? '/' : path, query };
}

/** A line in the shipped JSON log_format (`escape=json`). */
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
  return recordFromFields(fields as Record<string, unknown>, header, ctx, receivedAt);
}

/**
 * The record from named fields, whatever format they were parsed from. Field
 * names are those of the shipped JSON log_format (`ts` = $msec in seconds,
 * `client_ip`, `xff`, `uri` = $request_uri, ...); a parser of another format
 * maps its variables onto these names. Unknown names are kept in `extra`.
 */
export function recordFromFields(f: Readonly<Record<string, unknown>>, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number): LineResult {
  const ip = clientAddress(opt(f.client_ip), opt(f.xff), ctx.trustedProxies);
  if (ip === undefined) return { ok: false, reason: 'bad_ip', detail: `client_ip ${JSON.stringify(opt(f.client_ip)).slice(0, 80)}` };
  const status = num(f.status);
  if (status === undefined || !Number.isInteger(status) || status < 0 || status > 999) {
    return { ok: false, reason: 'bad_format', detail: 'status is not an HTTP status' };
  }
  // $msec is seconds with millisecond resolution ("1763704844.123").
  const msec = num(f.ts);
  const ts = msec !== undefined ? Math.round(msec * 1000) : (header?.timestamp ?? receivedAt);
  const host = opt(f.host);
  const { path, query } = splitUri(opt(f.uri));
  const extra: Record<string, string> = {};
  for (const k in f) if (!RECORD_FIELDS.has(k)) extra[k] = opt(f[k]);
  const country = opt(f.country).toUpperCase();
  return {
    ok: true,
    record: {
      ts,
      node: opt(f.node) || header?.hostname || ctx.defaultNode,
      deployment: opt(f.deployment) || ctx.deployments[host] || '',
      client_ip: ip,
      method: opt(f.method),
      host,
      path,
      query,
      status,
      bytes: Math.max(0, Math.trunc(num(f.bytes) ?? 0)),
      request_time: num(f.request_time) ?? 0,
      upstream_time: upstreamTime(f.upstream_time),
      user_agent: opt(f.user_agent),
      referer: opt(f.referer),
      country: /^[A-Z]{2}$/.test(country) ? country : null,
      auth_user: opt(f.auth_user) || null,
      request_id: opt(f.request_id),
      blocked_by: opt(f.blocked_by) || null,
      filter_alert: opt(f.filter_alert) || null,
      extra,
    },
  };
}
