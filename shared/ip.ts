// Client addresses are normalised one way everywhere (ingest, detection,
// storage keys, enforcement): IPv4 dotted quad, IPv6 in RFC 5952 compressed
// lower-case form, and IPv4-mapped IPv6 (::ffff:a.b.c.d) folded to IPv4, so
// one client never appears under two spellings.
//
// This module (with ip/parse.ts and ip/set.ts) is the one place TypeScript
// parses addresses and blocks: the normal forms and range tests here, the
// allocation-free parser and the prefix-grouped set for per-request matching
// there. Nothing else imports ipaddr.js.
import ipaddr from 'ipaddr.js';
import { parseV4 } from './ip/parse.js';

export { formatBlock, maskWords, parseBlock, parseClient, parseV4, parseV6, wordMask, type IpBlock, type IpKind } from './ip/parse.js';
export { IpSet } from './ip/set.js';
export { cidrsOf, intervalOf, mergeIntervals, mergeRanges, RangeIndex, type Interval } from './ip/ranges.js';

// ipaddr.js answers "not IPv4" by throwing and catching an Error: a stack
// trace per IPv6 client, the costliest step of an access-log line. Addresses
// with a colon go straight to the IPv6 rules instead, and the answers are
// kept (a client sends many requests); the cache is bounded by clearing it whole.
const V6_CACHE_MAX = 16_384;
const v6Cache = new Map<string, string | undefined>();

export function normalizeIp(text: string): string | undefined {
  // nginx logs canonical dotted quads: those are their own normal form.
  if (text.length <= 15 && parseV4(text, 0, text.length) >= 0) return text;
  if (text.includes(':')) return cachedV6(text);
  const s = text.trim();
  if (s === '' || s.length > 64) return undefined;
  // Strict forms only: ipaddr.parse would accept "0x7f.1" or "127.1", which nginx never logs.
  if (!s.includes(':') && ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s).toString();
  return v6Of(s);
}

function cachedV6(text: string): string | undefined {
  let v = v6Cache.get(text);
  if (v !== undefined || v6Cache.has(text)) return v;
  const s = text.trim();
  v = s.length > 64 ? undefined : v6Of(s);
  if (v6Cache.size >= V6_CACHE_MAX) v6Cache.clear();
  v6Cache.set(text, v);
  return v;
}

function v6Of(s: string): string | undefined {
  const v6 = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (!ipaddr.IPv6.isValid(v6) || v6.includes('%')) return undefined;
  const addr = ipaddr.IPv6.parse(v6);
  return addr.isIPv4MappedAddress() ? addr.toIPv4Address().toString() : addr.toString();
}

/**
 * An address or a CIDR block in the one normal form: the address part as
 * normalizeIp gives it, host bits cleared ("10.1.2.3/8" becomes "10.0.0.0/8"),
 * and a full-length prefix folded to the bare address. undefined when invalid.
 */
export function normalizeIpOrCidr(text: string): string | undefined {
  const s = text.trim();
  const slash = s.indexOf('/');
  if (slash < 0) return normalizeIp(s);
  const bitsText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const addr = normalizeIp(s.slice(0, slash));
  if (addr === undefined) return undefined;
  // A mapped IPv6 block (::ffff:10.0.0.0/104) folds to its IPv4 block like the address does.
  const mapped = s.slice(0, slash).includes(':') && !addr.includes(':');
  const v4 = !addr.includes(':');
  const effective = mapped ? bits - 96 : bits;
  const max = v4 ? 32 : 128;
  if (effective < 0 || effective > max) return undefined;
  if (effective === max) return addr;
  return networkOf(ipaddr.parse(addr), effective) + `/${effective}`;
}

/** True when `ip` (normalised) lies in `cidrOrIp` (normalised, as normalizeIpOrCidr returns). */
export function ipInRange(ip: string, cidrOrIp: string): boolean {
  if (!cidrOrIp.includes('/')) return ip === cidrOrIp;
  const a = ipaddr.parse(ip);
  const [net, bits] = ipaddr.parseCIDR(cidrOrIp);
  return a.kind() === net.kind() && a.match(net, bits);
}

/** True for an address or a CIDR block as configuration lists take them (parseRange accepts it). */
export function isIpOrCidr(text: string): boolean {
  if (!text.includes('/')) return normalizeIp(text) !== undefined;
  try {
    ipaddr.parseCIDR(text);
    return true;
  } catch {
    return false;
  }
}

/** A parsed address or CIDR block, for `inRanges`. */
export type IpRange = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

/** "addr/bits" or a bare address (its full length). Throws on anything else: check with isIpOrCidr first. */
export function parseRange(text: string): IpRange {
  if (text.includes('/')) return ipaddr.parseCIDR(text);
  const a = ipaddr.parse(text);
  return [a, a.kind() === 'ipv4' ? 32 : 128];
}

/** True when the address lies in one of the ranges of its own family; false for a text that is not an address. */
export function inRanges(addr: string, ranges: readonly IpRange[]): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(addr);
  } catch {
    return false;
  }
  for (const range of ranges) {
    if (parsed.kind() === range[0].kind() && parsed.match(range as [ipaddr.IPv4 | ipaddr.IPv6, number])) return true;
  }
  return false;
}

/** The network of a normalised address with its family's prefix: "203.0.113.0/24", "2001:db8::/64". */
export function networkOfIp(ip: string, v4Bits: number, v6Bits: number): string {
  const addr = ipaddr.parse(ip);
  const bits = addr.kind() === 'ipv4' ? v4Bits : v6Bits;
  return `${networkOf(addr, bits)}/${bits}`;
}

function networkOf(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = (bytes[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/**
 * The client a request is counted and blocked as: an IPv4 address itself, an IPv6
 * address's network of `ipv6Prefix` bits ("2001:db8:1:2::/64": one subscriber's
 * allocation, which an attacker rotates through). The ingester keys records by it, so
 * one client's requests meet in one partition and one detector shard; the detectors
 * count and block it. A text that is not an address is its own client. IPv6 clients
 * repeat and parsing is the costly part, so answers are cached (bounded).
 */
export class ClientKeys {
  private readonly cache = new Map<string, string>();

  constructor(readonly ipv6Prefix: number) {}

  of(address: string): string {
    if (this.ipv6Prefix >= 128 || !address.includes(':')) return address;
    let key = this.cache.get(address);
    if (key === undefined) {
      try {
        key = networkOfIp(address, 32, this.ipv6Prefix);
      } catch {
        key = address;
      }
      if (this.cache.size >= 65_536) this.cache.clear();
      this.cache.set(address, key);
    }
    return key;
  }
}

/**
 * The reverse-DNS name of an address (`1.66.249.66.in-addr.arpa`, the 32
 * nibbles of an IPv6 address under `ip6.arpa`); undefined when not an address.
 */
export function reverseDnsName(text: string): string | undefined {
  const ip = normalizeIp(text);
  if (ip === undefined) return undefined;
  const bytes = ipaddr.parse(ip).toByteArray();
  if (bytes.length === 4) return `${bytes.reverse().join('.')}.in-addr.arpa`;
  const nibbles = bytes.flatMap((b) => [b >> 4, b & 15]).map((n) => n.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}
