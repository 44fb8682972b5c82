// Rows as one block of ClickHouse's Native format: what inserts send instead
// of JSON text when every value has an exact binary form (client.ts's
// insert()). Native is columnar and typed: the engine copies each column in,
// where JSON costs a JSON.stringify per row in Node plus a text parse per
// value in the engine (together over half of an event insert's time before;
// loadtest/sink-formats.bench.ts splits it).
//
// The contract is "the same rows as the JSON body would store, or nothing":
// `encodeNative()` returns undefined as soon as a value is not one this file
// encodes exactly as ClickHouse's JSON parser would read it (a malformed
// address, an unknown enum name, a fraction in an integer column, a number
// in a String column, an undefined value...). The caller then sends the JSON
// body, so what ClickHouse refuses (a bad row, for the sink's refusal
// handling) it still refuses with its own error, and what it coerces it still
// coerces. Column selection mirrors serializeRows (json-rows.ts): the first
// row's defined keys; a row with other keys falls back too.
//
// Block layout (the Native format of files and HTTP bodies, no block info):
// varUInt columns, varUInt rows, then per column its name, its type name and
// its data. Data per type:
//   (U)IntN, Float64   fixed width, little endian
//   String             varUInt byte length + UTF-8 bytes
//   DateTime64(3, tz)  Int64 epoch milliseconds (the JSON convention here)
//   Enum8/Enum16       Int8/Int16 value of the name
//   IPv6               16 bytes, network order; IPv4 text stored ::ffff:a.b.c.d
//   Nullable(T)        one UInt8 per row (1 = NULL), then T with defaults
//   Array(T)           UInt64 end offsets, then every element as T
//   Map(K, V)          as Array(Tuple(K, V)): offsets, all keys, all values
//   LowCardinality(T)  written as T: the insert converts it (Native input
//                      converts types, `input_format_native_allow_types_conversion`)
import { isIPv6 } from 'node:net';

/** A column type this file can write, parsed from its ClickHouse name. */
export type NativeType =
  | { kind: 'int'; bytes: 1 | 2 | 4 | 8; signed: boolean; name: string }
  | { kind: 'float64'; name: string }
  | { kind: 'string'; name: string }
  | { kind: 'datetime64ms'; name: string }
  | { kind: 'enum'; bytes: 1 | 2; values: ReadonlyMap<string, number>; name: string }
  | { kind: 'ipv6'; name: string }
  | { kind: 'nullable'; inner: NativeType; name: string }
  | { kind: 'array'; inner: NativeType; name: string }
  | { kind: 'map'; key: NativeType; value: NativeType; name: string };

const INTS: Record<string, { bytes: 1 | 2 | 4 | 8; signed: boolean }> = {
  UInt8: { bytes: 1, signed: false }, UInt16: { bytes: 2, signed: false }, UInt32: { bytes: 4, signed: false }, UInt64: { bytes: 8, signed: false },
  Int8: { bytes: 1, signed: true }, Int16: { bytes: 2, signed: true }, Int32: { bytes: 4, signed: true }, Int64: { bytes: 8, signed: true },
};

function inside(type: string, prefix: string): string | undefined {
  return type.startsWith(`${prefix}(`) && type.endsWith(')') ? type.slice(prefix.length + 1, -1) : undefined;
}

/** Splits "K, V" at the top-level comma (type arguments may hold parentheses and quotes). */
function splitTop(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(args.slice(start).trim());
  return out;
}

const ENUM_ITEM = /^'((?:[^'\\]|\\.)*)' = (-?\d+)$/;

function parseEnum(args: string, bytes: 1 | 2, name: string): NativeType | undefined {
  const values = new Map<string, number>();
  for (const item of splitTop(args)) {
    const m = ENUM_ITEM.exec(item);
    if (!m) return undefined;
    const label = m[1] as string;
    if (label.includes('\\')) return undefined; // escaped names: leave them to the JSON body
    values.set(label, Number(m[2]));
  }
  return { kind: 'enum', bytes, values, name };
}

/** The encodable form of a ClickHouse column type, or undefined when this file does not write it. */
export function parseNativeType(type: string): NativeType | undefined {
  const t = type.trim();
  const int = INTS[t];
  if (int) return { kind: 'int', ...int, name: t };
  if (t === 'Float64') return { kind: 'float64', name: t };
  if (t === 'String') return { kind: 'string', name: t };
  if (t === 'IPv6') return { kind: 'ipv6', name: t };
  if (/^DateTime64\(3(, '[A-Za-z0-9_/+-]+')?\)$/.test(t)) return { kind: 'datetime64ms', name: t };
  const e8 = inside(t, 'Enum8');
  if (e8 !== undefined) return parseEnum(e8, 1, t);
  const e16 = inside(t, 'Enum16');
  if (e16 !== undefined) return parseEnum(e16, 2, t);
  const lc = inside(t, 'LowCardinality');
  if (lc !== undefined) return parseNativeType(lc);
  const nullable = inside(t, 'Nullable');
  if (nullable !== undefined) {
    const inner = parseNativeType(nullable);
    return inner && { kind: 'nullable', inner, name: `Nullable(${inner.name})` };
  }
  const arr = inside(t, 'Array');
  if (arr !== undefined) {
    const inner = parseNativeType(arr);
    return inner && { kind: 'array', inner, name: `Array(${inner.name})` };
  }
  const map = inside(t, 'Map');
  if (map !== undefined) {
    const kv = splitTop(map);
    if (kv.length !== 2) return undefined;
    const key = parseNativeType(kv[0] as string);
    const value = parseNativeType(kv[1] as string);
    return key && value && { kind: 'map', key, value, name: `Map(${key.name}, ${value.name})` };
  }
  return undefined;
}

// String.prototype.isWellFormed (ES2024; Node 20 has it, the ES2023 lib does not declare it).
const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** A growable byte buffer. */
class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  varUInt(n: number): void {
    this.reserve(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  /** Writes a string; false when it is not well-formed UTF-16 (a lone surrogate has no UTF-8 form). */
  string(s: string): boolean {
    const len = s.length;
    // ASCII up to 127 chars: one length byte, one byte per char, written here (Buffer.write's call costs more).
    if (len < 128) {
      this.reserve(1 + len);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = p;
        return true;
      }
    }
    if (!wellFormed(s)) return false;
    const n = Buffer.byteLength(s, 'utf8');
    this.varUInt(n);
    this.reserve(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return true;
  }
  /** A safe integer ≥ 0 as UInt64 LE, byte by byte (Buffer#writeUInt32LE checks its arguments on every call: twice a value, ~a tenth of an event block's encode). */
  u64(n: number): void {
    const b = this.buf;
    let p = this.pos;
    const lo = n % 0x100000000;
    const hi = (n - lo) / 0x100000000;
    b[p++] = lo;
    b[p++] = lo >>> 8;
    b[p++] = lo >>> 16;
    b[p++] = lo >>> 24;
    b[p++] = hi;
    b[p++] = hi >>> 8;
    b[p++] = hi >>> 16;
    b[p++] = hi >>> 24;
    this.pos = p;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** Thrown inside the encoder when a value has no exact encoding; encodeNative answers undefined. */
class NotEncodable extends Error {}
const notEncodable = (): never => {
  throw new NotEncodable();
};

const MAX_U64 = 2n ** 64n - 1n;
const INT_DIGITS = /^-?\d+$/;

function bigIntOf(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INT_DIGITS.test(v)) return BigInt(v);
  return notEncodable();
}

function writeInts(w: Writer, t: Extract<NativeType, { kind: 'int' }>, values: readonly unknown[]): void {
  const n = values.length;
  w.reserve(n * t.bytes);
  const b = w.buf;
  if (t.bytes === 8) {
    const [lo, hi] = t.signed ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, MAX_U64];
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) w.u64(v);
      else {
        const x = bigIntOf(v);
        if (x < lo || x > hi) notEncodable();
        b.writeBigUInt64LE(BigInt.asUintN(64, x), w.pos);
        w.pos += 8;
      }
    }
    return;
  }
  const bits = t.bytes * 8;
  const min = t.signed ? -(2 ** (bits - 1)) : 0;
  const max = t.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) notEncodable();
    const x = v as number;
    if (t.bytes === 1) b[w.pos] = x & 0xff;
    else if (t.bytes === 2) b.writeUInt16LE(x & 0xffff, w.pos);
    else b.writeUInt32LE(x >>> 0, w.pos);
    w.pos += t.bytes;
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Dotted-quad IPv4 (no leading zeros) into b[at..at+4); false when it is not one. */
function writeIPv4(text: string, b: Buffer, at: number): boolean {
  const len = text.length;
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || value > 255 || part > 3) return false;
      b[at + part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return false; // a leading zero
      if (++digits > 3) return false;
      value = value * 10 + (c - 0x30);
    } else return false;
  }
  return part === 4;
}

/** Writes an address's 16 bytes at `at`; false when the text is not a plain IPv4 or IPv6 address. */
export function writeIPv6(text: string, b: Buffer, at: number): boolean {
  if (writeIPv4(text, b, at + 12)) {
    b.fill(0, at, at + 10);
    b[at + 10] = 0xff;
    b[at + 11] = 0xff;
    return true;
  }
  if (text.includes('%') || !isIPv6(text)) return false;
  // Expand: an embedded IPv4 tail becomes two groups, "::" the missing zero groups.
  let s = text;
  const dot = s.lastIndexOf(':');
  const tail = s.slice(dot + 1);
  if (tail.includes('.')) {
    const m = IPV4.exec(tail);
    if (!m) return false;
    const q = m.slice(1, 5).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dot + 1)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length; // "::" stands for at least one group
  if (halves.length === 2 && missing < 1) return false;
  const groups = halves.length === 2 ? [...head, ...new Array<string>(missing).fill('0'), ...rest] : head;
  if (groups.length !== 8) return false;
  for (let k = 0; k < 8; k++) {
    const g = parseInt(groups[k] as string, 16);
    if (!(g >= 0 && g <= 0xffff)) return false;
    b[at + 2 * k] = g >> 8;
    b[at + 2 * k + 1] = g & 0xff;
  }
  return true;
}

function writeColumn(w: Writer, t: NativeType, values: readonly unknown[]): void {
  const n = values.length;
  switch (t.kind) {
    case 'int':
      return writeInts(w, t, values);
    case 'float64': {
      w.reserve(n * 8);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isFinite(v)) notEncodable();
        w.buf.writeDoubleLE((v as number) + 0, w.pos); // -0 as JSON writes it: 0
        w.pos += 8;
      }
      return;
    }
    case 'string':
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'string' || !w.string(v)) notEncodable();
      }
      return;
    case 'datetime64ms': {
      w.reserve(n * 8);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) notEncodable();
        w.u64(v as number);
      }
      return;
    }
    case 'enum': {
      w.reserve(n * t.bytes);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        const x = typeof v === 'string' ? t.values.get(v) : undefined;
        if (x === undefined) notEncodable();
        // Two's complement, low byte first (the enum's values are in range: parseEnum read them from the type).
        w.buf[w.pos++] = (x as number) & 0xff;
        if (t.bytes === 2) w.buf[w.pos++] = ((x as number) >> 8) & 0xff;
      }
      return;
    }
    case 'ipv6': {
      w.reserve(n * 16);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'string' || !writeIPv6(v, w.buf, w.pos)) notEncodable();
        w.pos += 16;
      }
      return;
    }
    case 'nullable': {
      w.reserve(n);
      const inner: unknown[] = new Array<unknown>(n);
      const fill = defaultOf(t.inner);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        const isNull = v === null;
        w.buf[w.pos++] = isNull ? 1 : 0;
        inner[i] = isNull ? fill : v;
      }
      return writeColumn(w, t.inner, inner);
    }
    case 'array': {
      const flat: unknown[] = [];
      w.reserve(n * 8);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!Array.isArray(v)) return notEncodable();
        for (const x of v as unknown[]) flat.push(x);
        w.u64(flat.length);
      }
      return writeColumn(w, t.inner, flat);
    }
    case 'map': {
      const keys: unknown[] = [];
      const vals: unknown[] = [];
      w.reserve(n * 8);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return notEncodable();
        for (const k of Object.keys(v)) {
          const x = (v as Record<string, unknown>)[k];
          if (x === undefined) notEncodable(); // JSON.stringify would drop the key
          keys.push(k);
          vals.push(x);
        }
        w.u64(keys.length);
      }
      writeColumn(w, t.key, keys);
      return writeColumn(w, t.value, vals);
    }
  }
}

/** The value a NULL row carries in a Nullable's inner column. */
function defaultOf(t: NativeType): unknown {
  switch (t.kind) {
    case 'string':
      return '';
    case 'ipv6':
      return '::';
    case 'enum':
      return t.values.keys().next().value;
    case 'array':
      return [];
    case 'map':
      return {};
    case 'nullable':
      return null;
    default:
      return 0;
  }
}

/**
 * The rows' values column by column, for the first row's defined keys (the
 * columns serializeRows picks); undefined when a row has other keys or an
 * undefined value (a JSON body would omit it, and the column take its default).
 */
function gather(rows: readonly object[], columns: readonly string[]): unknown[][] | undefined {
  const n = rows.length;
  const m = columns.length;
  const cols = columns.map(() => new Array<unknown>(n));
  // Fast path: every row's keys in the columns' order (rows decoded from one
  // schema are). for-in over the row reads it through V8's enum cache, with
  // no key array per row.
  fast: {
    for (let i = 0; i < n; i++) {
      const row = rows[i] as Record<string, unknown>;
      let j = 0;
      for (const k in row) {
        if (j >= m || k !== columns[j]) break fast;
        const v = row[k];
        if (v === undefined) return undefined;
        (cols[j] as unknown[])[i] = v;
        j++;
      }
      if (j !== m) break fast;
    }
    return cols;
  }
  for (let i = 0; i < n; i++) {
    const row = rows[i] as Record<string, unknown>;
    if (Object.keys(row).length !== m) return undefined;
    for (let j = 0; j < m; j++) {
      const v = row[columns[j] as string];
      if (v === undefined) return undefined;
      (cols[j] as unknown[])[i] = v;
    }
  }
  return cols;
}

/**
 * One Native block holding `rows`, its columns typed as `types` gives (the
 * table's column types by name), or undefined when some value or column has
 * no exact encoding (see the header): then send the JSON body.
 */
export function encodeNative(
  rows: readonly object[],
  types: ReadonlyMap<string, NativeType>,
): { columns: string[]; body: Buffer } | undefined {
  const first = rows[0] as Record<string, unknown> | undefined;
  if (!first) return undefined;
  const columns = Object.keys(first).filter((k) => first[k] !== undefined);
  const colTypes = columns.map((c) => types.get(c));
  if (columns.length === 0 || colTypes.includes(undefined)) return undefined;
  const values = gather(rows, columns);
  if (!values) return undefined;
  // ~16 bytes a value is about an event row's size; the writer grows when needed.
  const w = new Writer(64 + rows.length * 16 * columns.length);
  try {
    w.varUInt(columns.length);
    w.varUInt(rows.length);
    for (let j = 0; j < columns.length; j++) {
      const t = colTypes[j] as NativeType;
      w.string(columns[j] as string);
      w.string(t.name);
      writeColumn(w, t, values[j] as unknown[]);
    }
  } catch (err) {
    if (err instanceof NotEncodable) return undefined;
    throw err;
  }
  return { columns, body: w.buf.subarray(0, w.pos) };
}
