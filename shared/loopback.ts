// The guard of everything that sends traffic from this project (the demo, the
// load generator): loopback only. Nothing is resolved, so a name that points
// elsewhere cannot slip through; an IPv4 address written inside IPv6
// (::ffff:127.0.0.1) or with a zone is refused rather than interpreted.
import ipaddr from 'ipaddr.js';

/** True for 127.0.0.0/8 (dotted quad) and ::1 (in any spelling); false for names. */
export function isLoopback(host: string): boolean {
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return ipaddr.IPv4.parse(host).range() === 'loopback';
  if (host.includes('.') || host.includes('%') || !ipaddr.IPv6.isValid(host)) return false;
  return ipaddr.IPv6.parse(host).range() === 'loopback';
}
