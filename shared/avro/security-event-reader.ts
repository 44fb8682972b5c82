// A hand-written Avro reader for SecurityEvent (schemas/avro/security-event.v2.avsc),
// the sink's per-row hot path: every event row is decoded once before it is
// inserted. avsc's compiled reader is not slow, but it makes a string with a
// native call (Buffer#utf8Slice, ~0.2 µs) for each of an event's ~8 strings,
// and most of them repeat from row to row (detector, deployment, sample
// paths, details keys and values, country, AS organisation). This reader
// reads the same bytes in straight-line code and takes repeated short strings
// from a small table keyed by their bytes (`Interned`), so a repeated value
// costs a hash and a compare, and is one string in memory, not one per row.
//
// Its values are avsc's, field for field and in the same key order (the
// codec test compares them over generated records). It never throws and
// reads only what avsc writes for the current schema: anything else (a
// truncated body, bytes left over, an array or map in blocks with a byte
// size, a long beyond 2^53, an enum or union index out of range) answers
// undefined, and the codec lets avsc read it, or name what is wrong.
// `SECURITY_EVENT_FIELDS` is the schema it was written for; the codec uses it
// only for records written with the subject's current schema, and only while
// that schema has exactly these fields.
import type { SecurityEvent, SecurityEventType } from '../records.js';

const TYPE_SYMBOLS: readonly SecurityEventType[] = ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected', 'challenge'];

/** Field names and types of the schema this reader decodes, in order (fieldSignature's form, compared at codec construction). */
export const SECURITY_EVENT_FIELDS = JSON.stringify([
  ['id', 'string'], ['ts', 'long'], ['type', { type: 'enum', name: 'SecurityEventType', symbols: TYPE_SYMBOLS }], ['detector', 'string'], ['ip', 'string'],
  ['deployment', 'string'], ['count', 'long'], ['window_start', 'long'], ['window_end', 'long'], ['sample_paths', { type: 'array', items: 'string' }],
  ['details', { type: 'map', values: 'string' }], ['country', ['null', 'string']], ['asn', ['null', 'long']], ['as_org', ['null', 'string']],
]);

/** Repeated strings of at most this many bytes are taken from the table. */
const INTERN_MAX_BYTES = 48;
const INTERN_SLOTS = 4096;

/**
 * Strings by their UTF-8 bytes: a direct-mapped table (a colliding string
 * replaces the slot's), so it never grows and a miss costs what avsc pays.
 */
class Interned {
  private readonly bytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(INTERN_SLOTS).fill(undefined);
  private readonly strings: string[] = new Array<string>(INTERN_SLOTS).fill('');

  get(buf: Buffer, start: number, end: number): string {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
    const slot = (h ^ (h >>> 15)) & (INTERN_SLOTS - 1);
    const known = this.bytes[slot];
    if (known !== undefined && known.length === end - start) {
      let i = 0;
      while (i < known.length && known[i] === buf[start + i]) i++;
      if (i === known.length) return this.strings[slot] as string;
    }
    const s = utf8Slice.call(buf, start, end);
    this.bytes[slot] = Buffer.from(buf.subarray(start, end));
    this.strings[slot] = s;
    return s;
  }
}

const interned = new Interned();

// Buffer#utf8Slice: what avsc's readString calls (toString('utf8', ...) checks its arguments first); @types/node does not declare it.
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice: (this: Buffer, start: number, end: number) => string }).utf8Slice;

/** The read position; the functions below advance it, and set it to -1 on anything they do not read. */
let pos = 0;

// avsc's isSafeLong bound.
const MAX_LONG = 9007199254740990;

/**
 * A zig-zag varint as avsc's Tap.readLong reads it; NaN (and pos -1) when it
 * is not one avsc reads into a safe long. A failure sticks: once pos is -1,
 * every read answers NaN and leaves it there.
 */
function readLong(buf: Buffer): number {
  const len = buf.length;
  if (pos < 0) return NaN;
  let n = 0;
  let k = 0;
  let b: number;
  do {
    if (pos >= len) return fail();
    b = buf[pos++] as number;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (b & 0x80 && k < 28);
  if (!(b & 0x80)) return (n >> 1) ^ -(n & 1);
  // Past 28 bits, float arithmetic (as avsc).
  let f = n;
  let fk = 268435456;
  do {
    if (pos >= len || fk > 2 ** 63) return fail();
    b = buf[pos++] as number;
    f += (b & 0x7f) * fk;
    fk *= 128;
  } while (b & 0x80);
  const v = (f % 2 ? -(f + 1) : f) / 2;
  return v >= -MAX_LONG && v <= MAX_LONG ? v : fail();
}

function fail(): number {
  pos = -1;
  return NaN;
}

function readString(buf: Buffer, intern: boolean): string {
  const n = readLong(buf);
  if (pos < 0 || n < 0 || pos + n > buf.length) {
    fail();
    return '';
  }
  const start = pos;
  pos += n;
  return intern && n <= INTERN_MAX_BYTES ? interned.get(buf, start, pos) : utf8Slice.call(buf, start, pos);
}

/** A block count of an array or map: blocks with a byte size (negative counts) are left to avsc. */
function readCount(buf: Buffer): number {
  const n = readLong(buf);
  return n < 0 ? fail() : n;
}

function readOptionalString(buf: Buffer): string | null {
  const branch = readLong(buf);
  if (branch === 0) return null;
  if (branch !== 1) fail();
  return pos < 0 ? null : readString(buf, true);
}

/**
 * The SecurityEvent in buf[start..], which must end exactly at the buffer's
 * end; undefined when the bytes are not what avsc writes for this schema
 * (the caller lets avsc read them).
 */
export function readSecurityEvent(buf: Buffer, start: number): SecurityEvent | undefined {
  pos = start;
  const id = readString(buf, false);
  const ts = readLong(buf);
  const type = TYPE_SYMBOLS[readLong(buf)];
  if (type === undefined) return undefined;
  const detector = readString(buf, true);
  const ip = readString(buf, false);
  const deployment = readString(buf, true);
  const count = readLong(buf);
  const windowStart = readLong(buf);
  const windowEnd = readLong(buf);
  if (pos < 0) return undefined;
  let samplePaths: string[] | undefined;
  let i = 0;
  for (let n = readCount(buf); n > 0 && pos >= 0; n = readCount(buf)) {
    samplePaths ??= new Array<string>(n);
    while (n-- > 0 && pos >= 0) samplePaths[i++] = readString(buf, true);
  }
  if (pos < 0) return undefined;
  const details: Record<string, string> = {};
  for (let n = readCount(buf); n > 0 && pos >= 0; n = readCount(buf)) {
    while (n-- > 0 && pos >= 0) {
      const key = readString(buf, true);
      details[key] = readString(buf, true);
    }
  }
  if (pos < 0) return undefined;
  const country = readOptionalString(buf);
  const asnBranch = readLong(buf);
  const asn = asnBranch === 0 ? null : asnBranch === 1 ? readLong(buf) : fail();
  const asOrg = readOptionalString(buf);
  if (pos !== buf.length) return undefined;
  return {
    id, ts, type, detector, ip, deployment, count, window_start: windowStart, window_end: windowEnd,
    sample_paths: samplePaths ?? [], details, country, asn, as_org: asOrg,
  };
}
