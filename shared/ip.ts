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
