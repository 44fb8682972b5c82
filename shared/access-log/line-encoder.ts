// Received bytes → Confluent-framed Avro AccessRecord in one pass, for the
// shipped JSON log_format and nginx's `combined`: the ingester's hot path.
//
// The line is scanned once on the Buffer the socket gave (no string of the
// line, no LineFields, no AccessRecord object): each value's byte range is
// noted, then the Avro body is written straight from those ranges into a
// reused buffer. Strings are made only where a consumer needs one (client
// address: the partition key and geo; node: the node tally; host: the
// deployment map) or where the reference semantics are string code
// (a path that needs normalising, a value with nginx `\xHH` escapes, a
// request line that is not `METHOD URI HTTP/x`).
//
// It handles the common line only and answers undefined for anything else:
// a JSON value with a backslash, invalid UTF-8, an RFC 5424 or unusual syslog
// header, a value that is not well formed (address, status, numbers, time),
// trusted proxies with an X-Forwarded-For to walk, an oversized line. The
// caller then takes the reference path (LineDecoder + the codec), so every
// rejection and its reason are the reference's. Where it answers, its bytes
// are the reference's byte for byte (services/ingester/parse-differential.test.ts
// compares them over a million generated and hostile lines).
import { isAscii, isUtf8 } from 'node:buffer';
import { writeLong, writeString } from '../avro/access-record-writer.js';
import { normalizeIp } from '../ip.js';
import { aheadOfArrival, deploymentOf, type RecordContext } from './record.js';
import { normalizePathInto, type NormalizedUri } from './path.js';
import { parseSyslog, type SyslogHeader } from './syslog.js';
import { scanCombined, scanJson, setAscii, sliceStr, F, S, E, X, type Scanned } from './line-scan.js';

/** What the pipeline needs of an encoded line besides its bytes. */
export interface EncodedLine {
  /** Confluent-framed Avro AccessRecord: a view of a shared slab, never written again. */
  value: Buffer;
  client_ip: string;
  ts: number;
  node: string;
  /** Set when the line's own time ran ahead of its arrival (its ts is the arrival: record.ts, MAX_CLOCK_AHEAD_MS); the fast path leaves such lines to the reference path. */
  clockAheadMs?: number | undefined;
}

/** The record's geo fields as the encoder hands them to geo enrichment (GeoMemo.annotate's shape). */
export interface GeoSlot {
  client_ip: string;
  country: string | null;
  asn: number | null;
  as_org: string | null;
}

export type LineEncoder = (raw: Buffer, receivedAt: number, geo?: (rec: GeoSlot) => void) => EncodedLine | undefined;

export interface LineEncoderOptions {
  /** `ingest.log_format`: "json" and "combined" have an encoder; other formats get undefined. */
  format: string;
  ctx: RecordContext;
  maxLineBytes: number;
  /** Schema id of the Confluent header (the AccessRecord codec's). */
  schemaId: number;
  /** true: lines carry an RFC 3164 syslog header (UDP/TCP); false: bare log-file lines. */
  syslog: boolean;
}

/** Latest event time the record holds (as record.ts): 9999-12-31. */
const MAX_TS_MS = 253_402_300_799_999;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Buffer, start: number, end: number) => string }).latin1Slice;

/** Output slab size: a few hundred records. */
const SLAB_BYTES = 128 * 1024;
let out = Buffer.allocUnsafeSlow(SLAB_BYTES);
let pos = 0;
/** The line being encoded is all ASCII. */
let ascii = true;

/** A string from bytes, kept while the same bytes come again (hosts and nodes repeat line after line). */
class LastSlice {
  private bytes = Buffer.alloc(256);
  private len = -1;
  private str = '';
  get(raw: Buffer, s: number, e: number): string {
    const n = e - s;
    if (n === this.len) {
      const b = this.bytes;
      let i = 0;
      while (i < n && b[i] === raw[s + i]) i++;
      if (i === n) return this.str;
    }
    this.str = sliceStr(raw, s, e);
    if (n <= 256 && ascii) {
      raw.copy(this.bytes, 0, s, e);
      this.len = n;
    } else this.len = -1;
    return this.str;
  }
}

// RFC 3164 headers repeat for every line of a node's second: parsed once.
// The last one is compared byte for byte; the others of the last minute are
// looked up by their text, since one ingester hears many nodes and their lines
// interleave (in the generator's traffic three lines in four have another
// header than the line before). A header's year comes from the receive time,
// so an entry serves only within a minute of when it was parsed.
const lastHeaderBytes = Buffer.alloc(256);
let lastHeaderLen = -1;
let lastHeaderAt = 0;
let lastHeader: SyslogHeader | undefined;
interface KnownHeader {
  at: number;
  header: SyslogHeader;
}
const knownHeaders = new Map<string, KnownHeader>();
/** Nodes × seconds in a minute, with room: emptied when full. */
const KNOWN_HEADERS_MAX = 8192;

/** The header of raw[0, msgStart); undefined for a header the reference reads differently or not at all. */
function header(raw: Buffer, msgStart: number, receivedAt: number): SyslogHeader | undefined {
  if (msgStart === lastHeaderLen && Math.abs(receivedAt - lastHeaderAt) < 60_000) {
    let i = 0;
    while (i < msgStart && lastHeaderBytes[i] === raw[i]) i++;
    if (i === msgStart) return lastHeader;
  }
  if (!ascii && !isAscii(raw.subarray(0, msgStart))) return undefined;
  const text = latin1Slice.call(raw, 0, msgStart);
  let known = knownHeaders.get(text);
  if (known === undefined || Math.abs(receivedAt - known.at) >= 60_000) {
    const p = parseSyslog(text, receivedAt);
    if (!p.ok || p.message !== '') return undefined;
    if (knownHeaders.size >= KNOWN_HEADERS_MAX) knownHeaders.clear();
    known = { at: receivedAt, header: p.header };
    knownHeaders.set(text, known);
  }
  if (msgStart <= 256) {
    raw.copy(lastHeaderBytes, 0, 0, msgStart);
    lastHeaderLen = msgStart;
    lastHeaderAt = known.at;
    lastHeader = known.header;
  }
  return known.header;
}

/** Where the message starts after `<PRI>Mmm dd hh:mm:ss [HOST ]TAG: `, or -1 (RFC 5424 and oddities: the reference). */
function messageStart(raw: Buffer, end: number): number {
  if (raw[0] !== 60) return -1;
  let i = 1;
  while (i <= 4 && i < end && (raw[i] as number) >= 48 && (raw[i] as number) <= 57) i++;
  if (i === 1 || raw[i] !== 62) return -1;
  i++;
  if (raw[i] === 49 && raw[i + 1] === 32) return -1;
  const t = i + 16;
  let sp = t;
  while (sp < end && raw[sp] !== 32) sp++;
  if (sp >= end) return -1;
  if (sp > t && raw[sp - 1] === 58) return sp + 1;
  let sp2 = sp + 1;
  while (sp2 < end && raw[sp2] !== 32) sp2++;
  if (sp2 >= end || sp2 === sp + 1 || raw[sp2 - 1] !== 58) return -1;
  return sp2 + 1;
}

function putRange(raw: Buffer, s: number, e: number): void {
  const n = e - s;
  pos = writeLong(out, pos, n);
  if (n <= 64) {
    for (let i = s; i < e; i++) out[pos++] = raw[i] as number;
  } else {
    raw.copy(out, pos, s, e);
    pos += n;
  }
}

/** Value k, "-" as "" (the reference's dash()). */
function putField(raw: Buffer, k: number): void {
  const x = X[k];
  if (x !== undefined) {
    pos = writeString(out, pos, x === '-' ? '' : x);
    return;
  }
  const s = S[k] as number;
  const e = E[k] as number;
  if (e - s === 1 && raw[s] === 45) out[pos++] = 0;
  else putRange(raw, s, e);
}

function absent(raw: Buffer, k: number): boolean {
  const x = X[k];
  if (x !== undefined) return x === '' || x === '-';
  const s = S[k] as number;
  const e = E[k] as number;
  return e === s || (e - s === 1 && raw[s] === 45);
}

/** Value k or null when absent (the reference's `dash(v) || null`). */
function putNullable(raw: Buffer, k: number): void {
  if (absent(raw, k)) out[pos++] = 0;
  else {
    out[pos++] = 2;
    putField(raw, k);
  }
}

function putNullableStr(s: string | null): void {
  if (s === null) out[pos++] = 0;
  else {
    out[pos++] = 2;
    pos = writeString(out, pos, s);
  }
}

function putDouble(v: number): void {
  out.writeDoubleLE(v, pos);
  pos += 8;
}

const COUNTRIES: string[] = [];
for (let a = 0; a < 26; a++) for (let b = 0; b < 26; b++) COUNTRIES.push(String.fromCharCode(65 + a, 65 + b));
/** Two ASCII letters, upper-cased; null otherwise (as buildRecord). */
function country(raw: Buffer, k: number): string | null {
  const s = S[k] as number;
  if ((E[k] as number) - s !== 2 || X[k] !== undefined) return null;
  const a = ((raw[s] as number) & ~0x20) - 65;
  const b = ((raw[s + 1] as number) & ~0x20) - 65;
  return a >= 0 && a < 26 && b >= 0 && b < 26 ? (COUNTRIES[a * 26 + b] as string) : null;
}

const scratchUri: NormalizedUri = { path: '', query: '', pathRaw: undefined, traversal: false, encoded: false, doubleEncoded: false, overlong: false };
const geoSlot: GeoSlot = { client_ip: '', country: null, asn: null, as_org: null };
const nodeSlice = new LastSlice();
const hostSlice = new LastSlice();

/** path and query from the URI (F.uri: range, or X string); markers into scratchUri. Returns whether normalisation ran. */
function splitPath(raw: Buffer): boolean {
  const xs = X[F.uri];
  if (xs !== undefined) {
    normalizePathInto(xs, scratchUri);
    return true;
  }
  const s = S[F.uri] as number;
  const e = E[F.uri] as number;
  let q = s;
  while (q < e && raw[q] !== 63) q++;
  let slow = q > s && raw[s] === 46;
  for (let i = s; i < q && !slow; i++) {
    const c = raw[i];
    if (c === 37 || c === 92) slow = true;
    else if (c === 47 && i + 1 < q) {
      const n = raw[i + 1];
      slow = n === 47 || n === 46;
    }
  }
  if (slow || q === s) {
    normalizePathInto(sliceStr(raw, s, e), scratchUri);
    return true;
  }
  S[F.path] = s;
  E[F.path] = q;
  S[F.query] = q < e ? q + 1 : e;
  E[F.query] = e;
  return false;
}

/**
 * One line to its Confluent-framed record, or undefined: the caller takes the
 * reference path. Never throws on input.
 */
export function createLineEncoder(o: LineEncoderOptions): LineEncoder | undefined {
  const f = o.format.trim();
  const scan = f === 'json' ? scanJson : f === 'combined' ? scanCombined : undefined;
  if (scan === undefined) return undefined;
  const { ctx, maxLineBytes: max, schemaId } = o;
  const trusted = ctx.trustedProxies.length > 0;
  return (raw, receivedAt, geo) => {
    let end = raw.length;
    if (end > 0 && raw[end - 1] === 10) end -= end > 1 && raw[end - 2] === 13 ? 2 : 1;
    if (end === 0 || end > max) return undefined;
    ascii = isAscii(raw);
    setAscii(ascii);
    if (!ascii && !isUtf8(raw)) return undefined;
    let hdr: SyslogHeader | undefined;
    let msg = 0;
    if (o.syslog) {
      msg = messageStart(raw, end);
      if (msg < 0 || msg >= end) return undefined;
      hdr = header(raw, msg, receivedAt);
      if (hdr === undefined) return undefined;
    }
    const r: Scanned | undefined = scan(raw, msg, end);
    if (r === undefined) return undefined;
    if (trusted && !absent(raw, F.xff)) return undefined;
    const ipText = sliceStr(raw, S[F.ip] as number, E[F.ip] as number);
    const ip = normalizeIp(ipText);
    if (ip === undefined) return undefined;
    const ts = Math.round(r.ts ?? hdr?.timestamp ?? receivedAt);
    // A clock ahead is the reference path's to record (record.ts, aheadOfArrival).
    if (!(ts >= 0 && ts <= MAX_TS_MS && !aheadOfArrival(ts, receivedAt))) return undefined;
    if (!(r.bytes >= 0 && r.bytes <= Number.MAX_SAFE_INTEGER)) return undefined;
    const node = absent(raw, F.node) ? hdr?.hostname || ctx.defaultNode : nodeSlice.get(raw, S[F.node] as number, E[F.node] as number);
    const normalized = splitPath(raw);

    // Records are written one after the other into a slab and handed out as views of it
    // (no copy); a slab is freed when the last of its records is.
    const need = 5 + 4 * (end - msg) + node.length * 3 + 1024;
    if (out.length - pos < need) {
      out = Buffer.allocUnsafeSlow(Math.max(need, SLAB_BYTES));
      pos = 0;
    }
    const start = pos;
    out[pos] = 0;
    out.writeUInt32BE(schemaId, pos + 1);
    pos = writeLong(out, pos + 5, ts);
    pos = writeString(out, pos, node);
    if (absent(raw, F.deployment)) {
      const host = absent(raw, F.host) ? '' : X[F.host] ?? hostSlice.get(raw, S[F.host] as number, E[F.host] as number);
      pos = writeString(out, pos, deploymentOf(host, ctx));
    } else putField(raw, F.deployment);
    if (ip === ipText) putRange(raw, S[F.ip] as number, E[F.ip] as number);
    else pos = writeString(out, pos, ip);
    putField(raw, F.method);
    putField(raw, F.host);
    if (normalized) {
      pos = writeString(out, pos, scratchUri.path);
      pos = writeString(out, pos, scratchUri.query);
    } else {
      putRange(raw, S[F.path] as number, E[F.path] as number);
      putRange(raw, S[F.query] as number, E[F.query] as number);
    }
    pos = writeLong(out, pos, r.status);
    pos = writeLong(out, pos, Math.trunc(r.bytes));
    putDouble(r.requestTime);
    if (r.upstream === null) out[pos++] = 0;
    else {
      out[pos++] = 2;
      putDouble(r.upstream);
    }
    putField(raw, F.ua);
    putField(raw, F.referer);
    const g = geoSlot;
    g.client_ip = ip;
    g.country = country(raw, F.country);
    g.asn = null;
    g.as_org = null;
    if (geo !== undefined) geo(g);
    putNullableStr(g.country);
    if (g.asn === null) out[pos++] = 0;
    else {
      out[pos++] = 2;
      pos = writeLong(out, pos, g.asn);
    }
    putNullableStr(g.as_org);
    putNullable(raw, F.auth);
    putField(raw, F.rid);
    putNullable(raw, F.blocked);
    putNullable(raw, F.alert);
    writeExtra(raw, r, normalized);
    return { value: out.subarray(start, pos), client_ip: ip, ts, node };
  };
}

/** The extra map in the reference's key order: challenge or request, then the path markers. */
function writeExtra(raw: Buffer, r: Scanned, normalized: boolean): void {
  const challenge = r.challenge && !absent(raw, F.challenge);
  const u = scratchUri;
  const pathRaw = normalized && u.pathRaw !== undefined;
  const count = (challenge ? 1 : 0) + (r.request !== undefined ? 1 : 0) + (pathRaw ? 1 : 0) + (normalized ? (u.traversal ? 1 : 0) + (u.doubleEncoded ? 1 : 0) + (u.overlong ? 1 : 0) : 0);
  if (count === 0) {
    out[pos++] = 0;
    return;
  }
  pos = writeLong(out, pos, count);
  if (challenge) {
    pos = writeString(out, pos, 'logwarden_challenge');
    putField(raw, F.challenge);
  }
  if (r.request !== undefined) {
    pos = writeString(out, pos, 'request');
    pos = writeString(out, pos, r.request);
  }
  if (pathRaw) {
    pos = writeString(out, pos, 'path_raw');
    pos = writeString(out, pos, u.pathRaw as string);
  }
  if (normalized) {
    if (u.traversal) pos = writeString(out, writeString(out, pos, 'traversal'), '1');
    if (u.doubleEncoded) pos = writeString(out, writeString(out, pos, 'double_encoded'), '1');
    if (u.overlong) pos = writeString(out, writeString(out, pos, 'overlong'), '1');
  }
  out[pos++] = 0;
}
