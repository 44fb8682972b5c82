// The scanning half of line-encoder.ts: one line's values as byte ranges of
// the received Buffer (S[k]..E[k], or a string X[k] where the value had to be
// unescaped), for the shipped JSON log_format and for `combined`. A scan
// answers undefined for anything but the common, well-formed line; the
// encoder then leaves the line to the reference parser.
import { SHIPPED_JSON_FORMAT } from './formats/index.js';
import { decodeDefaultEscapes } from './formats/escape.js';
import { splitRequestLine } from './formats/request-line.js';
import { parseTimeLocal } from './formats/time.js';

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Buffer, start: number, end: number) => string }).latin1Slice;
let ascii = true;
/** The line being scanned is all ASCII (the encoder tells, once a line). */
export function setAscii(v: boolean): void {
  ascii = v;
}
/** The bytes of [s, e) as the reference decodes them (for ASCII, latin1 is UTF-8). */
export function sliceStr(raw: Buffer, s: number, e: number): string {
  return ascii ? latin1Slice.call(raw, s, e) : raw.toString('utf8', s, e);
}

/** Value slots. */
export const F = {
  ts: 0, node: 1, deployment: 2, ip: 3, xff: 4, method: 5, host: 6, uri: 7, status: 8, bytes: 9, rt: 10, ut: 11,
  ua: 12, referer: 13, country: 14, auth: 15, rid: 16, blocked: 17, alert: 18, challenge: 19, path: 20, query: 21, time: 22, request: 23,
} as const;
const SLOTS = 24;
export const S = new Int32Array(SLOTS);
export const E = new Int32Array(SLOTS);
/** A value as a string (unescaped, or made by the request-line split); undefined: the range holds it. */
export const X: Array<string | undefined> = new Array<string | undefined>(SLOTS).fill(undefined);

/** The typed values of a scanned line; one object, reused. */
export interface Scanned {
  ts: number | undefined;
  status: number;
  bytes: number;
  requestTime: number;
  upstream: number | null;
  /** The format carries logwarden_challenge. */
  challenge: boolean;
  /** extra.request: the request line as logged, when it is not `METHOD URI [HTTP/x]`. */
  request: string | undefined;
}
const res: Scanned = { ts: undefined, status: 0, bytes: 0, requestTime: 0, upstream: null, challenge: false, request: undefined };

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

const isAbsent = (raw: Buffer, s: number, e: number): boolean => e === s || (e - s === 1 && raw[s] === 45);

/** record.ts num() on [s, e) where it takes its exact fast form; NaN where it would not (the caller falls back). */
function numAt(raw: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n > 16) return NaN;
  let v = 0;
  let dot = -1;
  for (let i = 0; i < n; i++) {
    const c = raw[s + i] as number;
    if (c >= 48 && c <= 57) v = v * 10 + (c - 48);
    else if (c === 46 && dot < 0 && i > 0) dot = i;
    else return NaN;
  }
  if (dot === n - 1 || (dot < 0 ? n : n - 1) > 15) return NaN;
  return dot < 0 ? v : v / (POW10[n - 1 - dot] as number);
}

/** record.ts msecToMs() on its integer form ("1763704844.123"); NaN otherwise. */
function msecAt(raw: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n < 5 || n > 17 || raw[e - 4] !== 46) return NaN;
  let ms = 0;
  for (let i = s; i < e; i++) {
    if (i === e - 4) continue;
    const c = (raw[i] as number) - 48;
    if (c < 0 || c > 9) return NaN;
    ms = ms * 10 + c;
  }
  return ms;
}

/** $status: 1 to 3 digits; -1 otherwise. */
function statusAt(raw: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n === 0 || n > 3) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = (raw[i] as number) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Whether raw[p..] holds `lit` before `end`. */
function at(raw: Buffer, p: number, lit: Uint8Array, end: number): boolean {
  const n = lit.length;
  if (p + n > end) return false;
  for (let i = 0; i < n; i++) if (raw[p + i] !== lit[i]) return false;
  return true;
}

// The shipped JSON format: its literals and which slot each value fills.
const JSON_NAMES = ['ts', 'node', 'deployment', 'client_ip', 'xff', 'method', 'host', 'uri', 'status', 'bytes', 'request_time', 'upstream_time',
  'user_agent', 'referer', 'country', 'auth_user', 'request_id', 'blocked_by', 'filter_alert', 'logwarden_challenge'];
const JSON_SLOTS = [F.ts, F.node, F.deployment, F.ip, F.xff, F.method, F.host, F.uri, F.status, F.bytes, F.rt, F.ut, F.ua, F.referer, F.country, F.auth,
  F.rid, F.blocked, F.alert, F.challenge];
const JSON_LITS = SHIPPED_JSON_FORMAT.split(/\$[a-z_]+/).map((s) => new Uint8Array(Buffer.from(s, 'latin1')));
{
  // The slots above follow the shipped format's order: a format change must change them too.
  const keys = [...SHIPPED_JSON_FORMAT.matchAll(/"([a-z_]+)":"\$/g)].map((m) => m[1]);
  if (keys.join() !== JSON_NAMES.join() || JSON_LITS.length !== JSON_NAMES.length + 1) throw new Error('line-scan: the shipped JSON format changed');
}

/** A line in the shipped JSON format with no backslash anywhere (escape=json then has nothing to undo). */
export function scanJson(raw: Buffer, msg: number, end: number): Scanned | undefined {
  let p = msg;
  const first = JSON_LITS[0] as Uint8Array;
  // The line ends in `"}`, so each search for a value's closing quote stops before the end
  // without a bound check; one native search rules out backslashes for all values.
  if (raw[end - 1] !== 125 || raw[end - 2] !== 34 || !at(raw, p, first, end) || raw.indexOf(92, msg) >= 0) return undefined;
  p += first.length;
  for (let i = 0; i < 20; i++) {
    const s = p;
    // The quote at end - 2 stops this search only from before it (a line may end `..."country":"}`).
    if (p > end - 2) return undefined;
    while (raw[p] !== 34) p++;
    const k = JSON_SLOTS[i] as number;
    S[k] = s;
    E[k] = p;
    const lit = JSON_LITS[i + 1] as Uint8Array;
    if (!at(raw, p, lit, end)) return undefined;
    p += lit.length;
  }
  if (p !== end) return undefined;
  X[F.method] = X[F.uri] = X[F.auth] = X[F.referer] = X[F.ua] = undefined;
  const r = res;
  if (isAbsent(raw, S[F.ts] as number, E[F.ts] as number)) r.ts = undefined;
  else {
    r.ts = msecAt(raw, S[F.ts] as number, E[F.ts] as number);
    if (Number.isNaN(r.ts)) return undefined;
  }
  r.status = statusAt(raw, S[F.status] as number, E[F.status] as number);
  if (r.status < 0) return undefined;
  r.bytes = numOr(raw, F.bytes, 0);
  r.requestTime = numOr(raw, F.rt, 0);
  const ut = numOr(raw, F.ut, -1);
  r.upstream = ut === -1 ? null : ut;
  if (Number.isNaN(r.bytes + r.requestTime + ut)) return undefined;
  r.challenge = true;
  r.request = undefined;
  return r;
}

/** Value k as a number, `absent` when ""/"-"; NaN when not the plain form. */
function numOr(raw: Buffer, k: number, absent: number): number {
  const s = S[k] as number;
  const e = E[k] as number;
  return isAbsent(raw, s, e) ? absent : numAt(raw, s, e);
}

const hasBackslash = (raw: Buffer, s: number, e: number): boolean => {
  for (let i = s; i < e; i++) if (raw[i] === 92) return true;
  return false;
};

/** Text value k with escape=default: unescaped into X[k] when it holds a backslash. */
function text(raw: Buffer, k: number, bs: boolean): void {
  X[k] = bs && hasBackslash(raw, S[k] as number, E[k] as number) ? decodeDefaultEscapes(sliceStr(raw, S[k] as number, E[k] as number)) : undefined;
}

/** RFC 9110 token characters (request-line.ts). */
function isTchar(c: number): boolean {
  return (
    (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) ||
    c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 45 || c === 46 || c === 94 || c === 95 || c === 96 || c === 124 || c === 126
  );
}
const HTTP_SLASH = new Uint8Array(Buffer.from('HTTP/'));

/** splitRequestLine() on the request range (no backslash in it): method and uri as ranges; false: not well formed. */
function splitRequest(raw: Buffer, s: number, e: number): boolean {
  if (isAbsent(raw, s, e)) {
    S[F.method] = E[F.method] = S[F.uri] = E[F.uri] = s;
    return true;
  }
  let sp = s;
  while (sp < e && raw[sp] !== 32) sp++;
  if (sp === s || sp === e || sp - s > 32) return false;
  for (let i = s; i < sp; i++) if (!isTchar(raw[i] as number)) return false;
  let last = e - 1;
  while (raw[last] !== 32) last--;
  const uriEnd = last > sp && at(raw, last + 1, HTTP_SLASH, e) ? last : e;
  if (uriEnd === sp + 1) return false;
  S[F.method] = s;
  E[F.method] = sp;
  S[F.uri] = sp + 1;
  E[F.uri] = uriEnd;
  return true;
}

/** Scans to the first `c` from p; returns its offset or -1. */
function find(raw: Buffer, p: number, end: number, c: number): number {
  while (p < end && raw[p] !== c) p++;
  return p < end ? p : -1;
}

// The last $time_local seen and its epoch ms (lines of one second share it).
const lastTime = Buffer.alloc(26);
let lastTimeMs = NaN;

/** nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`. */
export function scanCombined(raw: Buffer, msg: number, end: number): Scanned | undefined {
  let p = find(raw, msg, end, 32);
  if (p < 0 || raw[p + 1] !== 45 || raw[p + 2] !== 32) return undefined;
  S[F.ip] = msg;
  E[F.ip] = p;
  p += 3;
  const user = p;
  for (;;) {
    p = find(raw, p, end, 32);
    if (p < 0) return undefined;
    if (raw[p + 1] === 91) break;
    p++;
  }
  S[F.auth] = user;
  E[F.auth] = p;
  const t = p + 2;
  p = t + 26;
  if (p + 3 > end || raw[p] !== 93 || raw[p + 1] !== 32 || raw[p + 2] !== 34) return undefined;
  const req = p + 3;
  p = find(raw, req, end, 34);
  if (p < 0 || raw[p + 1] !== 32) return undefined;
  const reqEnd = p;
  const st = p + 2;
  p = find(raw, st, end, 32);
  if (p < 0) return undefined;
  const stEnd = p;
  const by = p + 1;
  p = find(raw, by, end, 32);
  if (p < 0 || raw[p + 1] !== 34) return undefined;
  const byEnd = p;
  const ref = p + 2;
  p = find(raw, ref, end, 34);
  if (p < 0 || raw[p + 1] !== 32 || raw[p + 2] !== 34) return undefined;
  S[F.referer] = ref;
  E[F.referer] = p;
  S[F.ua] = p + 3;
  if (find(raw, p + 3, end, 34) !== end - 1) return undefined;
  E[F.ua] = end - 1;
  const bs = raw.indexOf(92, msg) >= 0;
  if (bs && (hasBackslash(raw, msg, user) || hasBackslash(raw, t, req) || hasBackslash(raw, st, byEnd))) return undefined;

  const r = res;
  let same = lastTimeMs === lastTimeMs;
  for (let i = 0; i < 26 && same; i++) same = lastTime[i] === raw[t + i];
  if (!same) {
    const ms = parseTimeLocal(sliceStr(raw, t, t + 26));
    if (ms === undefined) return undefined;
    raw.copy(lastTime, 0, t, t + 26);
    lastTimeMs = ms;
  }
  r.ts = lastTimeMs;
  r.status = statusAt(raw, st, stEnd);
  if (r.status < 0) return undefined;
  r.bytes = isAbsent(raw, by, byEnd) ? 0 : numAt(raw, by, byEnd);
  if (Number.isNaN(r.bytes)) return undefined;
  r.requestTime = 0;
  r.upstream = null;
  r.challenge = false;
  r.request = undefined;
  text(raw, F.auth, bs);
  text(raw, F.referer, bs);
  text(raw, F.ua, bs);
  X[F.method] = X[F.uri] = undefined;
  if (bs && hasBackslash(raw, req, reqEnd)) {
    const rq = splitRequestLine(decodeDefaultEscapes(sliceStr(raw, req, reqEnd)));
    X[F.method] = rq.method;
    X[F.uri] = rq.uri;
    if (!rq.wellFormed) r.request = sliceStr(raw, req, reqEnd);
  } else if (!splitRequest(raw, req, reqEnd)) {
    X[F.method] = X[F.uri] = '';
    r.request = sliceStr(raw, req, reqEnd);
  }
  for (const k of ABSENT_IN_COMBINED) S[k] = E[k] = 0;
  return r;
}
const ABSENT_IN_COMBINED = [F.node, F.deployment, F.xff, F.host, F.country, F.rid, F.blocked, F.alert, F.challenge];
