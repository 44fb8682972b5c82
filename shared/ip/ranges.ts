// Sets of address ranges as sorted, disjoint intervals: what a blocklist feed
// becomes before it is applied. Entries (addresses and CIDR blocks in the
// strict forms of parse.ts) are read as [lo, hi] intervals per family,
// overlapping and adjacent ones are merged, and the result is written back
// as the fewest CIDR blocks in the project's normal form (host bits cleared,
// a full-length block as the bare address), so "10.0.0.0/25", "10.0.0.128/25"
// and "10.0.0.7" become "10.0.0.0/24".
//
// Intervals are bigints for both families: a feed is merged once per refresh,
// not per request, and one representation keeps the arithmetic in one place.
import { formatBlock, parseBlock } from './parse.js';

export interface Interval {
  v6: boolean;
  lo: bigint;
  hi: bigint;
}

const ONE = 1n;

/** The interval an address or block covers; null when the text is not one (strict forms). */
export function intervalOf(text: string): Interval | null {
  const b = parseBlock(text);
  if (b === null) return null;
  if (b.v4) {
    const host = 32 - b.prefix;
    const lo = (BigInt(b.words[0]) >> BigInt(host)) << BigInt(host);
    return { v6: false, lo, hi: lo + (ONE << BigInt(host)) - ONE };
  }
  const w = b.words;
  const value = (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
  const host = BigInt(128 - b.prefix);
  const lo = (value >> host) << host;
  return { v6: true, lo, hi: lo + (ONE << host) - ONE };
}

function compare(a: Interval, b: Interval): number {
  if (a.v6 !== b.v6) return a.v6 ? 1 : -1;
  return a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0;
}

/** Sorted (IPv4 first), disjoint and non-adjacent intervals covering exactly what `list` covers. */
export function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort(compare);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && last.v6 === iv.v6 && iv.lo <= last.hi + ONE) {
      if (iv.hi > last.hi) last.hi = iv.hi;
    } else out.push({ ...iv });
  }
  return out;
}

/** The fewest CIDR blocks exactly covering an interval, in normal form. */
export function cidrsOf(iv: Interval): string[] {
  const bits = iv.v6 ? 128 : 32;
  const out: string[] = [];
  let lo = iv.lo;
  while (lo <= iv.hi) {
    // The largest aligned block starting at lo that stays within hi.
    let host = 0;
    while (host < bits && ((lo >> BigInt(host)) & ONE) === 0n && lo + (ONE << BigInt(host + 1)) - ONE <= iv.hi) host++;
    out.push(formatCidr(iv.v6, lo, bits - host));
    lo += ONE << BigInt(host);
  }
  return out;
}

function formatCidr(v6: boolean, lo: bigint, prefix: number): string {
  const mask = 0xffffffffn;
  const words: [number, number, number, number] = v6
    ? [Number((lo >> 96n) & mask), Number((lo >> 64n) & mask), Number((lo >> 32n) & mask), Number(lo & mask)]
    : [Number(lo), 0, 0, 0];
  const text = formatBlock({ v4: !v6, words, prefix });
  return prefix === (v6 ? 128 : 32) ? text.slice(0, text.lastIndexOf('/')) : text;
}

/** Merges addresses and blocks into the fewest normal-form CIDR blocks (see the header). */
export function mergeRanges(entries: Iterable<string>): string[] {
  const ivs: Interval[] = [];
  for (const e of entries) {
    const iv = intervalOf(e);
    if (iv) ivs.push(iv);
  }
  return mergeIntervals(ivs).flatMap(cidrsOf);
}

/**
 * A few ranges (a whitelist) to test many intervals against: does an interval
 * overlap any of them? Binary search over the merged ranges.
 */
export class RangeIndex {
  private readonly ivs: Interval[];

  constructor(entries: Iterable<string>) {
    const ivs: Interval[] = [];
    for (const e of entries) {
      const iv = intervalOf(e);
      if (iv) ivs.push(iv);
    }
    this.ivs = mergeIntervals(ivs);
  }

  get size(): number {
    return this.ivs.length;
  }

  overlaps(iv: Interval): boolean {
    // The first range whose end is at or after iv.lo (in family order).
    let a = 0;
    let b = this.ivs.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      const r = this.ivs[m] as Interval;
      if ((!r.v6 && iv.v6) || (r.v6 === iv.v6 && r.hi < iv.lo)) a = m + 1;
      else b = m;
    }
    const r = this.ivs[a];
    return r !== undefined && r.v6 === iv.v6 && r.lo <= iv.hi;
  }
}
