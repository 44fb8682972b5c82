// The compact form in which a country's or an AS's address ranges travel to
// the nodes (NodeRules.geo; decoded by lua/logwarden/geo.lua). As text, the
// United States alone is 170,000 CIDR blocks and 4 MB; packed, its 79,000
// merged ranges take about a fifth of that, and a node decodes them with one
// pass over bytes instead of parsing an address per entry.
//
//   { "v4": base64(stream4), "v6": base64(stream6) }
//
// Both streams hold ranges sorted by start, disjoint and not adjacent (the
// database's merged ranges), inclusive at both ends.
//
// stream4: per range two unsigned LEB128 varints: the gap from the end of the
//   previous range plus one (from 0 for the first) to this range's start, and
//   the range's size minus one.
// stream6: per range its start, then its end, each as its eight 16-bit groups
//   relative to a reference: one byte (shared << 4 | n), where the first
//   `shared` groups are the reference's, the next n follow big-endian (2
//   bytes each), and the rest are 0x0000 for a start or 0xffff for an end.
//   A start's reference is the previous range's start (all zero for the
//   first); an end's is its own start.
//
// The Lua side refuses a stream that is truncated, has shared + n > 8, or
// whose ranges are not in order (the control endpoint names the field).

/** Ranges as numbers: v4 flat [lo, hi, …]; v6 flat, 16 groups a range (lo's eight, then hi's). */
export interface GeoRanges {
  v4: number[];
  v6: number[];
}

/** What a node takes per country or AS. */
export interface PackedRanges {
  v4: string;
  v6: string;
}

class Bytes {
  buf = Buffer.alloc(4096);
  len = 0;
  byte(b: number): void {
    if (this.len === this.buf.length) {
      const next = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(next);
      this.buf = next;
    }
    this.buf[this.len++] = b;
  }
  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }
  base64(): string {
    return this.buf.subarray(0, this.len).toString('base64');
  }
}

function writeGroups(out: Bytes, g: number[], at: number, ref: number[], refAt: number, fill: number): void {
  let shared = 0;
  while (shared < 8 && g[at + shared] === ref[refAt + shared]) shared++;
  let end = 8;
  while (end > shared && g[at + end - 1] === fill) end--;
  out.byte((shared << 4) | (end - shared));
  for (let k = shared; k < end; k++) {
    const v = g[at + k] as number;
    out.byte(v >>> 8);
    out.byte(v & 0xff);
  }
}

const ZERO8 = [0, 0, 0, 0, 0, 0, 0, 0];

export function packRanges(r: GeoRanges): PackedRanges {
  const s4 = new Bytes();
  let next = 0;
  for (let i = 0; i < r.v4.length; i += 2) {
    const lo = r.v4[i] as number;
    const hi = r.v4[i + 1] as number;
    s4.varint(lo - next);
    s4.varint(hi - lo);
    next = hi + 1;
  }
  const s6 = new Bytes();
  for (let i = 0; i < r.v6.length; i += 16) {
    if (i === 0) writeGroups(s6, r.v6, 0, ZERO8, 0, 0);
    else writeGroups(s6, r.v6, i, r.v6, i - 16, 0);
    writeGroups(s6, r.v6, i + 8, r.v6, i, 0xffff);
  }
  return { v4: s4.base64(), v6: s6.base64() };
}

/** The inverse of packRanges, for tests and tools; throws on a malformed stream. */
export function unpackRanges(p: PackedRanges): GeoRanges {
  const b4 = Buffer.from(p.v4, 'base64');
  const v4: number[] = [];
  let at = 0;
  const varint = (): number => {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (at >= b4.length) throw new Error('stream4 truncated');
      const b = b4[at++] as number;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
  };
  let next = 0;
  while (at < b4.length) {
    const lo = next + varint();
    const hi = lo + varint();
    v4.push(lo, hi);
    next = hi + 1;
  }
  const b6 = Buffer.from(p.v6, 'base64');
  const v6: number[] = [];
  let pos = 0;
  const groups = (ref: number[], refAt: number, fill: number): void => {
    if (pos >= b6.length) throw new Error('stream6 truncated');
    const h = b6[pos++] as number;
    const shared = h >>> 4;
    const n = h & 15;
    if (shared + n > 8 || pos + 2 * n > b6.length) throw new Error('stream6 malformed');
    for (let k = 0; k < 8; k++) {
      if (k < shared) v6.push(ref[refAt + k] as number);
      else if (k < shared + n) {
        v6.push(((b6[pos] as number) << 8) | (b6[pos + 1] as number));
        pos += 2;
      } else v6.push(fill);
    }
  };
  while (pos < b6.length) {
    const start = v6.length;
    if (start === 0) groups(ZERO8, 0, 0);
    else groups(v6, start - 16, 0);
    groups(v6, start, 0xffff);
  }
  return { v4, v6 };
}

/** Ranges in a packed value (what a node's entry bound counts). */
export function rangeCount(r: GeoRanges): number {
  return r.v4.length / 2 + r.v6.length / 16;
}
