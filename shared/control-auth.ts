// How the enforcer authenticates to a node's control endpoint without the
// shared secret ever crossing the wire: each request carries an HMAC of its
// method, path, body and time, keyed by the secret.
//
//   Authorization: LW1 t=<unix seconds>,n=<random hex>,sig=<hex HMAC-SHA1(secret, t "\n" n "\n" METHOD "\n" path "\n" body)>
//
// The node (lua/logwarden/control.lua) recomputes it with ngx.hmac_sha1,
// refuses a time more than 60 s off its clock, and refuses a signature it has
// already seen (a replayed request), so a captured request can neither be
// reused nor changed.
import { createHmac, randomBytes } from 'node:crypto';

export const CONTROL_AUTH_SCHEME = 'LW1';

export function signControlRequest(secret: string, method: string, path: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  // The nonce makes two identical requests in one second two different signatures.
  const nonce = randomBytes(8).toString('hex');
  const sig = createHmac('sha1', secret).update(`${nowSeconds}\n${nonce}\n${method.toUpperCase()}\n${path}\n${body}`).digest('hex');
  return `${CONTROL_AUTH_SCHEME} t=${nowSeconds},n=${nonce},sig=${sig}`;
}
