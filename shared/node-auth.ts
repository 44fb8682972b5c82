// Node endpoint auth: how the enforcer authenticates to the Lua module's
// endpoint on each node (not the control plane of shared/control/) without
// the shared secret ever crossing the wire: each request carries an HMAC of
// its method, path, body and time, keyed by the secret.
//
//   Authorization: LW1 t=<unix seconds>,n=<random hex>,sig=<hex HMAC-SHA1(secret, t "\n" n "\n" METHOD "\n" path "\n" body)>
//
// The node (lua/logwarden/control.lua) recomputes it with ngx.hmac_sha1,
// refuses a time more than 60 s off its clock, and refuses a signature it has
// already seen (a replayed request), so a captured request can neither be
// reused nor changed.
import { createHmac, randomBytes } from 'node:crypto';

export const NODE_AUTH_SCHEME = 'LW1';

export function signNodeRequest(secret: string, method: string, path: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  // The nonce makes two identical requests in one second two different signatures.
  const nonce = randomBytes(8).toString('hex');
  const sig = createHmac('sha1', secret).update(`${nowSeconds}\n${nonce}\n${method.toUpperCase()}\n${path}\n${body}`).digest('hex');
  return `${NODE_AUTH_SCHEME} t=${nowSeconds},n=${nonce},sig=${sig}`;
}
