// Client addresses are normalised one way everywhere (ingest, detection,
// storage keys, enforcement): IPv4 dotted quad, IPv6 in RFC 5952 compressed
// lower-case form, and IPv4-mapped IPv6 (::ffff:a.b.c.d) folded to IPv4, so
// one client never appears under two spellings.
import ipaddr from 'ipaddr.js';

export function normalizeIp(text: string): string | undefined {
  const s = text.trim();
  if (s === '' || s.length > 64) return undefined;
  // Strict forms only: ipaddr.parse would accept "0x7f.1" or "127.1", which nginx never logs.
  // IPv6 goes straight to its own check: ipaddr's IPv4 check throws and catches on it, which is slow.
  if (!s.includes(':') && ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s).toString();
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
  const net = ipaddr.parseCIDR(`${addr}/${effective}`);
  const base = ipaddr.fromByteArray(
    net[0].toByteArray().map((byte, i) => {
      const keep = Math.max(0, Math.min(8, effective - i * 8));
      return byte & (0xff << (8 - keep)) & 0xff;
    }),
  );
  return `${base.toString()}/${effective}`;
}

/** True when `ip` (normalised) lies in `cidrOrIp` (normalised, as normalizeIpOrCidr returns). */
export function ipInRange(ip: string, cidrOrIp: string): boolean {
  if (!cidrOrIp.includes('/')) return ip === cidrOrIp;
  const a = ipaddr.parse(ip);
  const [net, bits] = ipaddr.parseCIDR(cidrOrIp);
  return a.kind() === net.kind() && a.match(net, bits);
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
