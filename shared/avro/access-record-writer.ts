// A hand-written Avro writer for AccessRecord (schemas/avro/access-record.v2.avsc),
// the ingester's per-line hot path. avsc's generic writer walks a field table,
// checks each union branch through a bucket lookup and writes each string
// through Buffer.byteLength plus a second pass; this one is straight-line code
// that writes ASCII strings (nearly every value of an access log) in one pass.
//
// Its bytes are avsc's, byte for byte, for every value it accepts (the codec
// test and the differential parse test compare them): the same zig-zag
// varints, little-endian doubles, union indexes, map blocks (one block, in
// Object.keys order, then 0), defaults for absent fields with one, and the
// same string bytes (avsc writes a string of up to 64 UTF-8 bytes by its own
// loop and a longer one with utf8Write; so does this for non-ASCII text).
//
// It never throws: a value that is not exactly what avsc would accept (a
// wrong type, a missing field without a default, an unsafe long) answers
// NOT_HANDLED and the codec lets avsc write it, or name what is wrong.
// `ACCESS_RECORD_FIELDS` is the schema it was written for; the codec uses it
// only when the subject's current schema has exactly these fields.

/** Returned when the value is not one this writer handles: the caller uses avsc. */
export const NOT_HANDLED = -1;

/** Field names and types of the schema this writer encodes, in order (compared at codec construction). */
export const ACCESS_RECORD_FIELDS = JSON.stringify([
  ['ts', 'long'], ['node', 'string'], ['deployment', 'string'], ['client_ip', 'string'], ['method', 'string'], ['host', 'string'],
  ['path', 'string'], ['query', 'string'], ['status', 'int'], ['bytes', 'long'], ['request_time', 'double'], ['upstream_time', ['null', 'double']],
  ['user_agent', 'string'], ['referer', 'string'], ['country', ['null', 'string']], ['asn', ['null', 'long']], ['as_org', ['null', 'string']],
  ['auth_user', ['null', 'string']], ['request_id', 'string'], ['blocked_by', ['null', 'string']], ['filter_alert', ['null', 'string']],
  ['extra', { type: 'map', values: 'string' }],
]);

/** The (name, type) list of a parsed schema's fields, in ACCESS_RECORD_FIELDS's form. */
export function fieldSignature(schema: { fields?: ReadonlyArray<{ name: string; type: unknown }> }): string {
  const simple = (t: unknown): unknown => {
    if (typeof t === 'string') return t;
    if (Array.isArray(t)) return t.map(simple);
    const o = t as { type?: unknown; values?: unknown; items?: unknown; name?: unknown; symbols?: unknown };
    if (o.type === 'map') return { type: 'map', values: simple(o.values) };
    if (o.type === 'array') return { type: 'array', items: simple(o.items) };
    // An enum by what its values are (its doc and default do not change the bytes of a value).
    if (o.type === 'enum') return { type: 'enum', name: o.name, symbols: o.symbols };
    return t;
  };
  return JSON.stringify((schema.fields ?? []).map((f) => [f.name, simple(f.type)]));
}

/** What the record fields look like to the writer: anything, checked as avsc checks. */
interface Loose {
  [k: string]: unknown;
}

// avsc's isSafeLong.
const MAX_LONG = 9007199254740990;

/** Zig-zag varint, as avsc's Tap.writeLong. */
export function writeLong(buf: Buffer, pos: number, n: number): number {
  if (n >= -1073741824 && n < 1073741824) {
    let m = n >= 0 ? n << 1 : (~n << 1) | 1;
    while (m > 0x7f) {
      buf[pos++] = (m & 0x7f) | 0x80;
      m >>>= 7;
    }
    buf[pos++] = m;
    return pos;
  }
  let f = n >= 0 ? n * 2 : -n * 2 - 1;
  while (f >= 128) {
    buf[pos++] = (f & 0x7f) | 0x80;
    f /= 128;
  }
  buf[pos++] = f & 0x7f;
  return pos;
}

/**
 * A string: its UTF-8 byte length as a varint, then the bytes. ASCII is
 * written in one pass after a length guessed from s.length; anything else is
 * rewritten from `pos` as avsc writes it.
 */
export function writeString(buf: Buffer, pos: number, s: string): number {
  const n = s.length;
  if (n < 64) {
    // The length fits one varint byte.
    let p = pos + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p++] = c;
    }
    if (i === n) {
      buf[pos] = n << 1;
      return p;
    }
  } else if (n <= 8191) {
    // Two varint bytes hold up to 8191.
    let p = pos + 2;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p++] = c;
    }
    if (i === n) {
      buf[pos] = ((n << 1) & 0x7f) | 0x80;
      buf[pos + 1] = n >>> 6;
      return p;
    }
  }
  return writeStringAsAvsc(buf, pos, s);
}

/** avsc's Tap.writeString: over 64 bytes through utf8Write, else its own loop (lone surrogates as three bytes). */
function writeStringAsAvsc(buf: Buffer, pos: number, s: string): number {
  const len = Buffer.byteLength(s);
  pos = writeLong(buf, pos, len);
  if (len > 64) {
    buf.write(s, pos, len, 'utf8');
    return pos + len;
  }
  // avsc's loop runs to the byte length and writes junk past the string's
  // end, which its next write covers: the string's own bytes are the same.
  const end = pos + len;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c1 = s.charCodeAt(i);
    let c2: number;
    if (c1 < 0x80) {
      buf[pos++] = c1;
    } else if (c1 < 0x800) {
      buf[pos++] = (c1 >> 6) | 0xc0;
      buf[pos++] = (c1 & 0x3f) | 0x80;
    } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
      c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
      i++;
      buf[pos++] = (c1 >> 18) | 0xf0;
      buf[pos++] = ((c1 >> 12) & 0x3f) | 0x80;
      buf[pos++] = ((c1 >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c1 & 0x3f) | 0x80;
    } else {
      buf[pos++] = (c1 >> 12) | 0xe0;
      buf[pos++] = ((c1 >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c1 & 0x3f) | 0x80;
    }
  }
  return end;
}

const isLong = (v: unknown): v is number => typeof v === 'number' && v % 1 === 0 && v >= -MAX_LONG && v <= MAX_LONG;

/** Bytes a string may take at most: 3 per UTF-16 unit, and a 5-byte length. */
const strBound = (s: string): number => 3 * s.length + 5;

/**
 * Writes the Avro body of `rec` at `pos` (no Confluent header). Returns the
 * end offset; NOT_HANDLED when `rec` is not a value this writer handles;
 * minus the bytes needed from `pos` when `buf` is too short (nothing useful
 * written then).
 */
export function writeAccessRecord(buf: Buffer, pos: number, value: unknown): number {
  if (value === null || typeof value !== 'object') return NOT_HANDLED;
  const r = value as Loose;
  const { ts, node, client_ip, method, host, path, status } = r;
  if (!isLong(ts) || typeof node !== 'string' || typeof client_ip !== 'string' || typeof method !== 'string') return NOT_HANDLED;
  if (typeof host !== 'string' || typeof path !== 'string' || status !== ((status as number) | 0)) return NOT_HANDLED;
  const deployment = r.deployment ?? '';
  const query = r.query ?? '';
  const bytes = r.bytes ?? 0;
  const requestTime = r.request_time ?? 0;
  const upstream = r.upstream_time ?? null;
  const ua = r.user_agent ?? '';
  const referer = r.referer ?? '';
  const country = r.country ?? null;
  const asn = r.asn ?? null;
  const asOrg = r.as_org ?? null;
  const authUser = r.auth_user ?? null;
  const requestId = r.request_id ?? '';
  const blockedBy = r.blocked_by ?? null;
  const filterAlert = r.filter_alert ?? null;
  const extra = r.extra ?? EMPTY_MAP;
  // `?? default` also takes null for an absent value; avsc refuses a null
  // where the schema has no null, so such a value is left to it.
  if (r.deployment === null || r.query === null || r.bytes === null || r.request_time === null || r.user_agent === null) return NOT_HANDLED;
  if (r.referer === null || r.request_id === null || r.extra === null) return NOT_HANDLED;
  if (typeof deployment !== 'string' || typeof query !== 'string' || !isLong(bytes) || typeof requestTime !== 'number') return NOT_HANDLED;
  if (upstream !== null && typeof upstream !== 'number') return NOT_HANDLED;
  if (typeof ua !== 'string' || typeof referer !== 'string' || typeof requestId !== 'string') return NOT_HANDLED;
  if ((country !== null && typeof country !== 'string') || (asn !== null && !isLong(asn)) || (asOrg !== null && typeof asOrg !== 'string')) return NOT_HANDLED;
  if ((authUser !== null && typeof authUser !== 'string') || (blockedBy !== null && typeof blockedBy !== 'string')) return NOT_HANDLED;
  if ((filterAlert !== null && typeof filterAlert !== 'string') || typeof extra !== 'object' || Array.isArray(extra)) return NOT_HANDLED;
  let need = 160 + strBound(node) + strBound(deployment) + strBound(client_ip) + strBound(method) + strBound(host) + strBound(path) + strBound(query);
  need += strBound(ua) + strBound(referer) + strBound(requestId);
  if (country !== null) need += strBound(country);
  if (asOrg !== null) need += strBound(asOrg);
  if (authUser !== null) need += strBound(authUser);
  if (blockedBy !== null) need += strBound(blockedBy);
  if (filterAlert !== null) need += strBound(filterAlert);
  const map = extra as Loose;
  // Most records carry no extra field: Object.keys (avsc's order) only when there is one.
  const keys = hasKeys(map) ? Object.keys(map) : undefined;
  if (keys !== undefined) {
    for (const k of keys) {
      const v = map[k];
      if (typeof v !== 'string') return NOT_HANDLED;
      need += strBound(k) + strBound(v);
    }
  }
  if (buf.length - pos < need) return -need;
  pos = writeLong(buf, pos, ts);
  pos = writeString(buf, pos, node);
  pos = writeString(buf, pos, deployment);
  pos = writeString(buf, pos, client_ip);
  pos = writeString(buf, pos, method);
  pos = writeString(buf, pos, host);
  pos = writeString(buf, pos, path);
  pos = writeString(buf, pos, query);
  pos = writeLong(buf, pos, status);
  pos = writeLong(buf, pos, bytes);
  buf.writeDoubleLE(requestTime, pos);
  pos += 8;
  if (upstream === null) buf[pos++] = 0;
  else {
    buf[pos++] = 2;
    buf.writeDoubleLE(upstream, pos);
    pos += 8;
  }
  pos = writeString(buf, pos, ua);
  pos = writeString(buf, pos, referer);
  pos = writeNullableString(buf, pos, country);
  if (asn === null) buf[pos++] = 0;
  else {
    buf[pos++] = 2;
    pos = writeLong(buf, pos, asn);
  }
  pos = writeNullableString(buf, pos, asOrg);
  pos = writeNullableString(buf, pos, authUser);
  pos = writeString(buf, pos, requestId);
  pos = writeNullableString(buf, pos, blockedBy);
  pos = writeNullableString(buf, pos, filterAlert);
  if (keys !== undefined && keys.length > 0) {
    pos = writeLong(buf, pos, keys.length);
    for (const k of keys) {
      pos = writeString(buf, pos, k);
      pos = writeString(buf, pos, map[k] as string);
    }
  }
  buf[pos++] = 0;
  return pos;
}

const EMPTY_MAP: Loose = {};

/** Whether for...in finds any key (inherited ones too: Object.keys then decides what is written). */
function hasKeys(o: Loose): boolean {
  for (const _ in o) return true;
  return false;
}

function writeNullableString(buf: Buffer, pos: number, s: unknown): number {
  if (s === null) {
    buf[pos] = 0;
    return pos + 1;
  }
  buf[pos] = 2;
  return writeString(buf, pos + 1, s as string);
}
