// Log lines exactly as nginx writes them.
//
// json         the shipped `log_format logwarden_json escape=json` (lua/conf/logwarden-http.conf):
//              every value a JSON string, $msec as "seconds.millis", nginx's JSON escaping
//              (`"` `\` and control bytes; bytes >= 0x80 pass through as they are).
// syslog-json  the same line behind the RFC 3164 header nginx's syslog writer puts on it
//              (ngx_syslog.c: "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: "), facility local7,
//              severity info (<190>), tag nginx, as the shipped access_log line configures.
// combined     nginx's predefined format:
//              $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//              with nginx's default escaping: `"`, `\`, control bytes and every byte >= 0x7f as \xHH,
//              and "-" for an empty variable. This is what CrowdSec and fail2ban parse.
//              A request relayed by the CDN (ip-space.ts CDN_RANGES) is logged as nginx's realip
//              module set to trust that range logs it: $remote_addr is the X-Forwarded-For client.
//
// Times are written in UTC (time_local "+0000"; the syslog stamp, which carries no zone,
// is the same wall clock): the generated fleet runs on UTC.
import type { GeneratedRequest } from './traffic.js';
import { isCdnAddress } from './ip-space.js';

export type OutputFormat = 'json' | 'syslog-json' | 'combined';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'syslog-json', 'combined'];

export function isOutputFormat(s: string): s is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(s);
}

/** local7 (23) * 8 + info (6). */
export const SYSLOG_PRI = 190;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const HEX_UPPER = '0123456789ABCDEF';

// eslint-disable-next-line no-control-regex -- finding control bytes is the point
const NEEDS_JSON_ESCAPE = /["\\\u0000-\u001f]/;
// Whatever nginx's default escaping touches: '"', '\', C0 controls, DEL and every non-ASCII byte.
// eslint-disable-next-line no-control-regex -- as above
const NEEDS_DEFAULT_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

/** ngx_escape_json: `"` and `\` get a backslash; control bytes \n \r \t \b \f or \u00XX (upper-case hex). */
export function escapeJson(s: string): string {
  if (!NEEDS_JSON_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + s[i];
    else if (c > 0x1f) out += s[i];
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else out += '\\u00' + HEX_UPPER[c >> 4] + HEX_UPPER[c & 15];
  }
  return out;
}

/** ngx_http_log_escape: every byte of `"`, `\`, 0x00-0x1f and 0x7f-0xff as \xHH (upper-case hex), on the UTF-8 bytes. */
export function escapeDefault(s: string): string {
  if (!NEEDS_DEFAULT_ESCAPE.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x22 || b === 0x5c || b < 0x20 || b >= 0x7f) out += '\\x' + HEX_UPPER[b >> 4] + HEX_UPPER[b & 15];
    else out += String.fromCharCode(b);
  }
  return out;
}

/** Seconds with three decimals, as nginx prints $msec, $request_time and $upstream_response_time. */
export function formatSeconds(ms: number): string {
  const m = Math.round(ms);
  return `${Math.floor(m / 1000)}.${PAD3[m % 1000] as string}`;
}

/** $time_local in UTC: "21/Nov/2026:06:00:44 +0000". */
export function timeLocal(ts: number): string {
  const d = new Date(ts);
  return `${PAD2[d.getUTCDate()] as string}/${MONTHS[d.getUTCMonth()] as string}/${d.getUTCFullYear()}:${PAD2[d.getUTCHours()] as string}:${PAD2[d.getUTCMinutes()] as string}:${PAD2[d.getUTCSeconds()] as string} +0000`;
}

/** The RFC 3164 stamp nginx writes: "Nov 21 06:00:44", the day padded with a space ("Nov  1"). */
export function syslogTime(ts: number): string {
  const d = new Date(ts);
  const day = d.getUTCDate();
  return `${MONTHS[d.getUTCMonth()] as string} ${day < 10 ? ' ' + String(day) : String(day)} ${PAD2[d.getUTCHours()] as string}:${PAD2[d.getUTCMinutes()] as string}:${PAD2[d.getUTCSeconds()] as string}`;
}

/** The shipped log_format's keys, in its order. */
export const JSON_FIELDS = [
  'ts', 'node', 'deployment', 'client_ip', 'xff', 'method', 'host', 'uri', 'status', 'bytes', 'request_time', 'upstream_time',
  'user_agent', 'referer', 'country', 'auth_user', 'request_id', 'blocked_by', 'filter_alert',
  'logwarden_challenge',
] as const;

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

const J_TS = ascii('{"ts":"');
const J_NODE = ascii('","node":"');
const J_DEPLOYMENT = ascii('","deployment":"');
const J_CLIENT_IP = ascii('","client_ip":"');
const J_XFF = ascii('","xff":"');
const J_METHOD = ascii('","method":"');
const J_HOST = ascii('","host":"');
const J_URI = ascii('","uri":"');
const J_STATUS = ascii('","status":"');
const J_BYTES = ascii('","bytes":"');
const J_REQUEST_TIME = ascii('","request_time":"');
const J_UPSTREAM_TIME = ascii('","upstream_time":"');
const J_USER_AGENT = ascii('","user_agent":"');
const J_REFERER = ascii('","referer":"');
const J_COUNTRY = ascii('","country":"');
const J_AUTH_USER = ascii('","auth_user":"');
const J_REQUEST_ID = ascii('","request_id":"');
const J_BLOCKED_BY = ascii('","blocked_by":"');
const J_FILTER_ALERT = ascii('","filter_alert":"');
// The generator's clients never meet a challenge page: its outcome is always empty.
const J_END = ascii('","logwarden_challenge":""}');
const HEXB = ascii(HEX_UPPER);
const DIGITS = ascii('0123456789');

function put(buf: Uint8Array, off: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) buf[off + i] = b[i] as number;
  return off + b.length;
}

/** Non-negative integer in decimal. */
function putUint(buf: Uint8Array, off: number, n: number): number {
  if (n < 10) {
    buf[off] = 48 + n;
    return off + 1;
  }
  let len = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
  let x = n;
  for (let i = off + len - 1; i >= off; i--) {
    buf[i] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return off + len;
}

/** Milliseconds as seconds with three decimals ("0.012"). */
function putSeconds(buf: Uint8Array, off: number, ms: number): number {
  const m = Math.round(ms);
  off = putUint(buf, off, Math.floor(m / 1000));
  const f = m % 1000;
  buf[off] = 46;
  buf[off + 1] = DIGITS[Math.floor(f / 100)] as number;
  buf[off + 2] = DIGITS[Math.floor(f / 10) % 10] as number;
  buf[off + 3] = DIGITS[f % 10] as number;
  return off + 4;
}

/**
 * One UTF-16 unit (or surrogate pair) at s[i] as UTF-8 into buf; returns the
 * new offset, and how many units it consumed in `consumed[0]`. Lone
 * surrogates become U+FFFD, as Buffer.from does.
 */
function putUtf8Char(buf: Uint8Array, off: number, s: string, i: number, consumed: Uint8Array): number {
  const c = s.charCodeAt(i);
  consumed[0] = 1;
  if (c < 0x800) {
    buf[off] = 0xc0 | (c >> 6);
    buf[off + 1] = 0x80 | (c & 63);
    return off + 2;
  }
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
      buf[off] = 0xf0 | (cp >> 18);
      buf[off + 1] = 0x80 | ((cp >> 12) & 63);
      buf[off + 2] = 0x80 | ((cp >> 6) & 63);
      buf[off + 3] = 0x80 | (cp & 63);
      consumed[0] = 2;
      return off + 4;
    }
  }
  const u = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
  buf[off] = 0xe0 | (u >> 12);
  buf[off + 1] = 0x80 | ((u >> 6) & 63);
  buf[off + 2] = 0x80 | (u & 63);
  return off + 3;
}

const used = new Uint8Array(1);

// Printable ASCII without '"' and '\': copied as they are in every format.
const NOT_PLAIN = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;
// Printable ASCII without '\' (a whole JSON line, whose quotes are its own).
const NOT_ASCII_PLAIN = /[^\x20-\x5b\x5d-\x7e]/;
/** Above this length a native copy (after one native scan) beats the per-character loop. */
const NATIVE_COPY_MIN = 24;

/** A value under escape=json (ngx_escape_json), UTF-8 encoded. */
function putJson(buf: Buffer, off: number, s: string): number {
  if (s.length >= NATIVE_COPY_MIN && !NOT_PLAIN.test(s)) return off + buf.write(s, off, 'latin1');
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x80) {
      if (c === 0x22 || c === 0x5c) buf[off++] = 0x5c;
      buf[off++] = c;
      i++;
    } else if (c < 0x20) {
      buf[off++] = 0x5c;
      if (c === 0x0a) buf[off++] = 0x6e;
      else if (c === 0x0d) buf[off++] = 0x72;
      else if (c === 0x09) buf[off++] = 0x74;
      else if (c === 0x08) buf[off++] = 0x62;
      else if (c === 0x0c) buf[off++] = 0x66;
      else {
        buf[off] = 0x75;
        buf[off + 1] = 0x30;
        buf[off + 2] = 0x30;
        buf[off + 3] = HEXB[c >> 4] as number;
        buf[off + 4] = HEXB[c & 15] as number;
        off += 5;
      }
      i++;
    } else {
      off = putUtf8Char(buf, off, s, i, used);
      i += used[0] as number;
    }
  }
  return off;
}

const scratch = new Uint8Array(4);

function putHexEscaped(buf: Uint8Array, off: number, b: number): number {
  buf[off] = 0x5c;
  buf[off + 1] = 0x78;
  buf[off + 2] = HEXB[b >> 4] as number;
  buf[off + 3] = HEXB[b & 15] as number;
  return off + 4;
}

/** A value under nginx's default escaping (ngx_http_log_escape), "-" when empty. */
function putDefault(buf: Buffer, off: number, s: string, dashIfEmpty: boolean): number {
  if (s.length === 0 && dashIfEmpty) {
    buf[off] = 0x2d;
    return off + 1;
  }
  if (s.length >= NATIVE_COPY_MIN && !NOT_PLAIN.test(s)) return off + buf.write(s, off, 'latin1');
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
      buf[off++] = c;
      i++;
    } else if (c < 0x80) {
      off = putHexEscaped(buf, off, c);
      i++;
    } else {
      const n = putUtf8Char(scratch, 0, s, i, used);
      for (let k = 0; k < n; k++) off = putHexEscaped(buf, off, scratch[k] as number);
      i += used[0] as number;
    }
  }
  return off;
}

/** Raw (no escaping), UTF-8: the syslog hostname, as nginx writes it. */
function putRaw(buf: Uint8Array, off: number, s: string): number {
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[off++] = c;
      i++;
    } else {
      off = putUtf8Char(buf, off, s, i, used);
      i += used[0] as number;
    }
  }
  return off;
}

/**
 * Writes requests as log lines (without the trailing newline), straight into
 * a caller's buffer: no intermediate strings, so millions of lines cost no
 * garbage. Keeps the per-second parts (seconds of $msec, $time_local, the
 * syslog stamp) of the last second it saw.
 */
export class LineFormatter {
  private sec = Number.NaN;
  private secStr = '';
  private secBytes: Uint8Array = new Uint8Array(0);
  private localBytes: Uint8Array = new Uint8Array(0);
  private syslogBytes: Uint8Array = new Uint8Array(0);
  private readonly tagBytes: Uint8Array;
  private lineBuf = Buffer.allocUnsafe(64 * 1024);

  constructor(
    readonly format: OutputFormat,
    tag = 'nginx',
  ) {
    this.tagBytes = ascii(` ${tag}: `);
  }

  /** Bytes `writeLine` may need for this request at most. */
  maxLineBytes(r: GeneratedRequest): number {
    const text =
      r.node.length + r.deployment.length + r.client_ip.length + r.xff.length + r.method.length + r.host.length + r.uri.length +
      r.protocol.length + r.user_agent.length + r.referer.length + r.country.length + r.auth_user.length + r.request_id.length +
      r.blocked_by.length + r.filter_alert.length;
    // Worst case: a UTF-16 unit becomes 3 UTF-8 bytes, each escaped as \xHH (12 bytes).
    return 512 + 12 * text;
  }

  /** Writes the line at `off` and returns the offset after it; `buf` must have maxLineBytes(r) free from `off`. */
  writeLine(r: GeneratedRequest, buf: Buffer, off: number): number {
    const sec = Math.floor(r.ts / 1000);
    if (sec !== this.sec) this.newSecond(sec, r.ts);
    switch (this.format) {
      case 'json':
        return this.json(r, buf, off);
      case 'syslog-json':
        off = put(buf, off, this.syslogBytes);
        off = putRaw(buf, off, r.node);
        off = put(buf, off, this.tagBytes);
        return this.json(r, buf, off);
      case 'combined':
        return this.combined(r, buf, off);
    }
  }

  /** The line as a string (allocates; use writeLine for volume). */
  line(r: GeneratedRequest): string {
    const need = this.maxLineBytes(r);
    if (this.lineBuf.length < need) this.lineBuf = Buffer.allocUnsafe(need);
    const n = this.writeLine(r, this.lineBuf, 0);
    return this.lineBuf.toString('utf8', 0, n);
  }

  private newSecond(sec: number, ts: number): void {
    this.sec = sec;
    this.secStr = String(sec);
    this.secBytes = ascii(this.secStr);
    if (this.format === 'combined') this.localBytes = ascii(timeLocal(ts));
    if (this.format === 'syslog-json') this.syslogBytes = ascii(`<${SYSLOG_PRI}>${syslogTime(ts)} `);
  }

  /**
   * The common case in one native copy: when no value needs escaping, the
   * line is built as a string and written with latin1Write. -1 when some
   * value needs escaping (the byte writer handles those).
   */
  private jsonPlain(r: GeneratedRequest, buf: Buffer, off: number): number {
    // A '"' inside a value cannot be told from the line's own quotes afterwards: look for it first.
    if (
      r.uri.includes('"') || r.user_agent.includes('"') || r.referer.includes('"') || r.auth_user.includes('"') ||
      r.xff.includes('"') || r.host.includes('"') || r.method.includes('"') || r.node.includes('"') ||
      r.deployment.includes('"') || r.client_ip.includes('"') || r.country.includes('"') || r.request_id.includes('"') ||
      r.blocked_by.includes('"') || r.filter_alert.includes('"')
    ) {
      return -1;
    }
    const ms = r.ts - this.sec * 1000;
    const up = r.upstream_time === null ? '' : formatSeconds(r.upstream_time * 1000);
    const line =
      `{"ts":"${this.secStr}.${PAD3[ms] as string}","node":"${r.node}","deployment":"${r.deployment}","client_ip":"${r.client_ip}",` +
      `"xff":"${r.xff}","method":"${r.method}","host":"${r.host}","uri":"${r.uri}","status":"${r.status}","bytes":"${r.bytes}",` +
      `"request_time":"${formatSeconds(r.request_time * 1000)}","upstream_time":"${up}","user_agent":"${r.user_agent}",` +
      `"referer":"${r.referer}","country":"${r.country}","auth_user":"${r.auth_user}","request_id":"${r.request_id}",` +
      `"blocked_by":"${r.blocked_by}","filter_alert":"${r.filter_alert}","logwarden_challenge":""}`;
    // Backslashes, control characters and non-ASCII anywhere: escaping or UTF-8 work, left to the byte writer.
    if (NOT_ASCII_PLAIN.test(line)) return -1;
    return off + buf.write(line, off, 'latin1');
  }

  private json(r: GeneratedRequest, buf: Buffer, off: number): number {
    const fast = this.jsonPlain(r, buf, off);
    if (fast >= 0) return fast;
    off = put(buf, off, J_TS);
    off = put(buf, off, this.secBytes);
    const ms = r.ts - this.sec * 1000;
    buf[off] = 46;
    buf[off + 1] = DIGITS[Math.floor(ms / 100)] as number;
    buf[off + 2] = DIGITS[Math.floor(ms / 10) % 10] as number;
    buf[off + 3] = DIGITS[ms % 10] as number;
    off += 4;
    off = put(buf, off, J_NODE);
    off = putJson(buf, off, r.node);
    off = put(buf, off, J_DEPLOYMENT);
    off = putJson(buf, off, r.deployment);
    off = put(buf, off, J_CLIENT_IP);
    off = putJson(buf, off, r.client_ip);
    off = put(buf, off, J_XFF);
    off = putJson(buf, off, r.xff);
    off = put(buf, off, J_METHOD);
    off = putJson(buf, off, r.method);
    off = put(buf, off, J_HOST);
    off = putJson(buf, off, r.host);
    off = put(buf, off, J_URI);
    off = putJson(buf, off, r.uri);
    off = put(buf, off, J_STATUS);
    off = putUint(buf, off, r.status);
    off = put(buf, off, J_BYTES);
    off = putUint(buf, off, r.bytes);
    off = put(buf, off, J_REQUEST_TIME);
    off = putSeconds(buf, off, r.request_time * 1000);
    off = put(buf, off, J_UPSTREAM_TIME);
    if (r.upstream_time !== null) off = putSeconds(buf, off, r.upstream_time * 1000);
    off = put(buf, off, J_USER_AGENT);
    off = putJson(buf, off, r.user_agent);
    off = put(buf, off, J_REFERER);
    off = putJson(buf, off, r.referer);
    off = put(buf, off, J_COUNTRY);
    off = putJson(buf, off, r.country);
    off = put(buf, off, J_AUTH_USER);
    off = putJson(buf, off, r.auth_user);
    off = put(buf, off, J_REQUEST_ID);
    off = putJson(buf, off, r.request_id);
    off = put(buf, off, J_BLOCKED_BY);
    off = putJson(buf, off, r.blocked_by);
    off = put(buf, off, J_FILTER_ALERT);
    off = putJson(buf, off, r.filter_alert);
    return put(buf, off, J_END);
  }

  private combined(r: GeneratedRequest, buf: Buffer, off: number): number {
    const relayed = r.xff !== '' && isCdnAddress(r.client_ip);
    off = putDefault(buf, off, relayed ? (r.xff.split(',').pop() as string).trim() : r.client_ip, true);
    buf[off] = 0x20;
    buf[off + 1] = 0x2d;
    buf[off + 2] = 0x20;
    off = putDefault(buf, off + 3, r.auth_user, true);
    buf[off] = 0x20;
    buf[off + 1] = 0x5b;
    off = put(buf, off + 2, this.localBytes);
    buf[off] = 0x5d;
    buf[off + 1] = 0x20;
    buf[off + 2] = 0x22;
    off = putDefault(buf, off + 3, r.method, false);
    buf[off++] = 0x20;
    off = putDefault(buf, off, r.uri, false);
    buf[off++] = 0x20;
    off = putDefault(buf, off, r.protocol, false);
    buf[off] = 0x22;
    buf[off + 1] = 0x20;
    off = putUint(buf, off + 2, r.status);
    buf[off++] = 0x20;
    off = putUint(buf, off, r.bytes);
    buf[off] = 0x20;
    buf[off + 1] = 0x22;
    off = putDefault(buf, off + 2, r.referer, true);
    buf[off] = 0x22;
    buf[off + 1] = 0x20;
    buf[off + 2] = 0x22;
    off = putDefault(buf, off + 3, r.user_agent, true);
    buf[off] = 0x22;
    return off + 1;
  }
}
