// Sorted range tables of the geo databases: one entry per inclusive address
// range, looked up by binary search over typed arrays (no object per range,
// no allocation per lookup). IPv4 ranges are two Uint32Arrays (start, end);
// IPv6 ranges are four 32-bit words per bound, compared word by word. The
// value of a range is an index: a packed country code, or an ASN with the
// index of its organisation's name.

/** Grows typed arrays while a database file is read, then trims them. */
export class RangeBuilder {
  n = 0;
  starts: Uint32Array;
  ends: Uint32Array;
  values: Uint32Array;
  extra: Uint32Array;

  constructor(
    readonly words: 1 | 4,
    capacity = 1 << 16,
  ) {
    this.starts = new Uint32Array(capacity * words);
    this.ends = new Uint32Array(capacity * words);
    this.values = new Uint32Array(capacity);
    this.extra = new Uint32Array(capacity);
  }

  /** Makes room for one more range; returns its index. */
  next(): number {
    if (this.n === this.values.length) {
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.starts = grow(this.starts);
      this.ends = grow(this.ends);
      this.values = grow(this.values);
      this.extra = grow(this.extra);
    }
    return this.n++;
  }

  finish(withExtra: boolean): RangeTable {
    const w = this.words;
    return new RangeTable(
      w,
      this.starts.slice(0, this.n * w),
      this.ends.slice(0, this.n * w),
      this.values.slice(0, this.n),
      withExtra ? this.extra.slice(0, this.n) : null,
    );
  }
}

export class RangeTable {
  /**
   * For each value of an address's top 16 bits, the index of the first range
   * starting at or after it: a lookup searches only the ranges near its /16
   * (a few for IPv4, instead of 19 steps over all).
   */
  private readonly index: Uint32Array;

  constructor(
    /** 1 for IPv4, 4 for IPv6. */
    readonly words: 1 | 4,
    readonly starts: Uint32Array,
    readonly ends: Uint32Array,
    readonly values: Uint32Array,
    readonly extra: Uint32Array | null,
  ) {
    const index = new Uint32Array(65537);
    const n = values.length;
    let k = 0;
    for (let top = 0; top <= 65536; top++) {
      while (k < n && (starts[k * words] as number) >>> 16 < top) k++;
      index[top] = k;
    }
    this.index = index;
  }

  get size(): number {
    return this.values.length;
  }

  get bytes(): number {
    return this.starts.byteLength + this.ends.byteLength + this.values.byteLength + (this.extra?.byteLength ?? 0) + this.index.byteLength;
  }

  /** The index of the range holding the IPv4 address `a`, or -1. */
  find4(a: number): number {
    const s = this.starts;
    const index = this.index;
    const top = a >>> 16;
    // The range holding a starts in a's /16 or before it: the candidates are
    // [the last range starting before this /16, the last starting in it].
    let lo = Math.max(0, (index[top] as number) - 1);
    let hi = (index[top + 1] as number) - 1;
    // The last range whose start is ≤ a.
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((s[mid] as number) <= a) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at >= 0 && a <= (this.ends[at] as number) ? at : -1;
  }

  /** The index of the range holding the IPv6 address in `w` (four words), or -1. */
  find6(w: Uint32Array): number {
    const s = this.starts;
    const top = (w[0] as number) >>> 16;
    let lo = Math.max(0, (this.index[top] as number) - 1);
    let hi = (this.index[top + 1] as number) - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare6(s, mid * 4, w) <= 0) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at >= 0 && compare6(this.ends, at * 4, w) >= 0 ? at : -1;
  }
}

/** Sign of (table[i..i+4) − w). */
function compare6(t: Uint32Array, i: number, w: Uint32Array): number {
  for (let k = 0; k < 4; k++) {
    const a = t[i + k] as number;
    const b = w[k] as number;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/** A two-letter code as one number, and back. */
export const packCountry = (cc: string): number => (cc.charCodeAt(0) << 8) | cc.charCodeAt(1);
// Every code of two capital letters, made once, 26 × 26 of them side by side (5 KiB of slots and the
// strings made one after another: what the ingester reads per line stays in a few cache lines, where
// an array indexed by the packed value spread them over 180 KiB); no allocation per lookup.
const codes: string[] = [];
for (let a = 65; a <= 90; a++) for (let b = 65; b <= 90; b++) codes.push(String.fromCharCode(a, b));

/** The code of a packed value. */
export const unpackCountry = (v: number): string => {
  const a = (v >>> 8) - 65;
  const b = (v & 0xff) - 65;
  return v <= 0xffff && a >= 0 && a < 26 && b >= 0 && b < 26 ? (codes[a * 26 + b] as string) : String.fromCharCode(v >>> 8, v & 0xff);
};

/** Bits of an IPv4 address that MergedTable4's first-level index jumps on (/20: a few segments each). */
const JUMP_BITS = 20;

/**
 * The IPv4 country and AS tables merged into one partition of the address
 * space: every boundary of either table starts a segment, which holds both
 * answers. One search answers both, a /20 jump table narrows it to the one or
 * two segments of the address's /20, and a segment is one row of four words
 * (start, packed country or 0, ASN, organisation index or NO_AS): one cache
 * line read, where the separate tables cost several.
 */
export class MergedTable4 {
  private constructor(
    /** Rows of four words; the first row starts at 0, so every address has one. */
    readonly rows: Uint32Array,
    /** For each /20, the index of the first row starting at or after it (2^20 + 1 entries). */
    private readonly jump: Uint32Array,
  ) {}

  /** `asn.extra` holds each AS range's organisation index. */
  static build(country: RangeTable, asn: RangeTable): MergedTable4 {
    // Every start, and every end + 1, of both tables (and 0), sorted, distinct.
    const all = new Uint32Array(1 + 2 * (country.size + asn.size));
    let m = 1;
    for (const t of [country, asn]) {
      for (let i = 0; i < t.size; i++) {
        all[m++] = t.starts[i] as number;
        const end = t.ends[i] as number;
        if (end !== 0xffffffff) all[m++] = end + 1;
      }
    }
    const points = all.subarray(0, m).sort();
    const rows = new Uint32Array(4 * m);
    const orgOf = asn.extra as Uint32Array;
    let n = 0;
    // As RangeTable.find4 answers (the data has nested ranges): the last range starting at or
    // before the point, if the point is not past its end. That changes only at a start or an end + 1.
    let ci = -1;
    let ai = -1;
    for (let k = 0; k < m; k++) {
      const p = points[k] as number;
      if (k > 0 && p === points[k - 1]) continue;
      while (ci + 1 < country.size && (country.starts[ci + 1] as number) <= p) ci++;
      while (ai + 1 < asn.size && (asn.starts[ai + 1] as number) <= p) ai++;
      const cc = ci >= 0 && p <= (country.ends[ci] as number) ? (country.values[ci] as number) : 0;
      const inAs = ai >= 0 && p <= (asn.ends[ai] as number);
      const number = inAs ? (asn.values[ai] as number) : 0;
      const org = inAs ? (orgOf[ai] as number) : NO_AS;
      // A segment answering as the one before it only extends that one.
      if (n > 0 && rows[4 * n - 3] === cc && rows[4 * n - 2] === number && rows[4 * n - 1] === org) continue;
      rows[4 * n] = p;
      rows[4 * n + 1] = cc;
      rows[4 * n + 2] = number;
      rows[4 * n + 3] = org;
      n++;
    }
    const size = 1 << JUMP_BITS;
    const jump = new Uint32Array(size + 1);
    const shift = 32 - JUMP_BITS;
    let k = 0;
    for (let top = 0; top <= size; top++) {
      while (k < n && (rows[4 * k] as number) >>> shift < top) k++;
      jump[top] = k;
    }
    return new MergedTable4(rows.slice(0, 4 * n), jump);
  }

  get size(): number {
    return this.rows.length / 4;
  }

  get bytes(): number {
    return this.rows.byteLength + this.jump.byteLength;
  }

  /** The offset in `rows` of the segment holding the IPv4 address `a` (always one: the first starts at 0). */
  find(a: number): number {
    const r = this.rows;
    const top = a >>> (32 - JUMP_BITS);
    // The segment holding a starts in a's /20 or is the last one before it.
    let lo = (this.jump[top] as number) - 1;
    if (lo < 0) lo = 0;
    let hi = (this.jump[top + 1] as number) - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((r[4 * mid] as number) <= a) lo = mid;
      else hi = mid - 1;
    }
    return 4 * lo;
  }
}

/** The organisation word of a segment outside every AS range. */
export const NO_AS = 0xffffffff;
