// The strict text forms of addresses and blocks, parsed in one pass without
// allocating: the hot-path parser (the security_filter engine runs it per
// request). Strict means what nginx logs and RFC 4291 allows: IPv4 dotted
// decimal without leading zeros, IPv6 with 1-4 hex digits a group, at most
// one "::", an optional dotted IPv4 tail, no zone id. Anything else is not an
// address. The deprecated IPv4-compatible ::a.b.c.d is an IPv6 address (RFC
// 4291; ipaddr.js, for one, reads it as IPv4-mapped).
import ipaddr from 'ipaddr.js';

/** The IPv4 address in s[from, to) as an unsigned integer, or -1. */
export function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && leadingZero) return -1;
      if (digits === 0) leadingZero = c === 48;
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = HEX[65 + i] = 10 + i;

/**
 * Fills `out` with the 8 groups of an RFC 4291 text address (1-4 hex digits a
 * group, at most one "::" standing for at least one group, optionally a
 * dotted IPv4 last 32 bits); false for anything else. One pass, no allocation.
 */
export function parseV6(s: string, out: Uint16Array): boolean {
  const len = s.length;
  if (len < 2 || len > 45) return false;
  let n = 0;
  let dbl = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    dbl = 0;
    i = 2;
  }
  while (i < len) {
    const start = i;
    let v = 0;
    let c = 0;
    for (; i < len; i++) {
      c = s.charCodeAt(i);
      const d = c < 128 ? (HEX[c] as number) : -1;
      if (d < 0) break;
      v = (v << 4) | d;
    }
    if (i < len && c === 46) {
      // The dotted IPv4 tail ends the address.
      if (n > 6) return false;
      const v4 = parseV4(s, start, len);
      if (v4 < 0) return false;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      break;
    }
    if (i === start || i - start > 4 || n === 8) return false;
    out[n++] = v;
    if (i === len) break;
    if (c !== 58) return false;
    i++;
    if (i < len && s.charCodeAt(i) === 58) {
      if (dbl >= 0) return false;
      dbl = n;
      i++;
    } else if (i === len) return false;
  }
  if (dbl < 0) return n === 8;
  if (n > 7) return false;
  // Move the groups after "::" to the end and zero the gap.
  for (let k = 7, j = n - 1; j >= dbl; k--, j--) out[k] = out[j] as number;
  for (let k = dbl; k < 8 - (n - dbl); k++) out[k] = 0;
  return true;
}

/** 4: IPv4, 6: IPv6, 0: not an address. */
export type IpKind = 0 | 4 | 6;

/**
 * A client address into caller-owned scratch, without allocating: IPv4 (and
 * IPv4-mapped IPv6, the same client) as an integer in v4[0], IPv6 as four
 * 32-bit words. `groups` is scratch for the parse.
 */
export function parseClient(s: string, v4: Uint32Array, words: Uint32Array, groups: Uint16Array): IpKind {
  if (s.indexOf(':') < 0) {
    const n = s.length <= 15 ? parseV4(s, 0, s.length) : -1;
    if (n < 0) return 0;
    v4[0] = n;
    return 4;
  }
  if (!parseV6(s, groups)) return 0;
  const g = groups;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    v4[0] = (((g[6] as number) << 16) | (g[7] as number)) >>> 0;
    return 4;
  }
  for (let i = 0; i < 4; i++) words[i] = (((g[2 * i] as number) << 16) | (g[2 * i + 1] as number)) >>> 0;
  return 6;
}

/** An address or block: IPv4-mapped blocks folded to IPv4. */
export interface IpBlock {
  v4: boolean;
  /** Four 32-bit words (IPv6), or the address in words[0] (IPv4). */
  words: [number, number, number, number];
  prefix: number;
}

/** The mask of one 32-bit word holding bits [0, bits) of a prefix. */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function maskWords(w: readonly number[], prefix: number, v4: boolean): [number, number, number, number] {
  if (v4) return [((w[0] as number) & wordMask(prefix)) >>> 0, 0, 0, 0];
  return [0, 1, 2, 3].map((i) => ((w[i] as number) & wordMask(prefix - 32 * i)) >>> 0) as [number, number, number, number];
}

const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * "addr" or "addr/prefix" in the strict forms (prefix decimal without leading
 * zeros, within the family's length), host bits kept as given; null when not
 * such a text. Rule entries go through the same parser as client addresses,
 * so both sides agree on every spelling.
 */
export function parseBlock(s: string): IpBlock | null {
  const slash = s.indexOf('/');
  const text = slash < 0 ? s : s.slice(0, slash);
  const v6 = text.includes(':');
  let prefix = v6 ? 128 : 32;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!PREFIX.test(p) || Number(p) > prefix) return null;
    prefix = Number(p);
  }
  if (!v6) {
    const n = parseV4(text, 0, text.length);
    return n < 0 ? null : { v4: true, words: [n, 0, 0, 0], prefix };
  }
  const g = new Uint16Array(8);
  if (!parseV6(text, g)) return null;
  const words: [number, number, number, number] = [0, 1, 2, 3].map((i) => (((g[2 * i] as number) << 16) | (g[2 * i + 1] as number)) >>> 0) as [number, number, number, number];
  // An IPv4-mapped block is an IPv4 block: clients are compared after folding.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff && prefix >= 96) {
    return { v4: true, words: [words[3], 0, 0, 0], prefix: prefix - 96 };
  }
  return { v4: false, words, prefix };
}

/** "a.b.c.d/n" or the RFC 5952 text of an IPv6 block. */
export function formatBlock(b: IpBlock): string {
  if (b.v4) {
    const w = b.words[0];
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}/${b.prefix}`;
  }
  const parts = b.words.flatMap((w) => [w >>> 16, w & 0xffff]);
  return `${new ipaddr.IPv6(parts).toString()}/${b.prefix}`;
}
