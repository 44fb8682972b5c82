// The rotation of the CHALLENGE cookie's signing keys (lua/logwarden/challenge.lua).
// Nothing is stored and no key crosses the wire: an enforcer pushes the current
// period (floor(now / rotation)) and each node derives that period's key and
// the previous one from its own control secret (HMAC-SHA1, the hash Debian's
// Lua module offers). So every node that shares a secret signs alike — a cookie
// earned at one node passes at the others — a restart changes nothing, and a
// rotation does not challenge every client again.

/** The rotation period a moment falls in. */
export function challengePeriod(rotationMs: number, now = Date.now()): number {
  return Math.floor(now / rotationMs);
}
