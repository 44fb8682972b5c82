// A real nginx with the Lua module and logwarden's operator snippets, for tests:
// the product's local launcher (shared/local-nginx.ts, which the demo uses too)
// under the names the tests know. Each call gets its own directory and port
// unless told otherwise, so test files running in parallel never share (or
// stop) each other's nginx. Its clients are told apart by their real source
// address: bind the client socket to 127.x.y.z (`localAddress`).
import { freePort, startLocalNginx, type LocalNginx, type LocalNginxOptions } from '../local-nginx.js';
import { signNodeRequest } from '../node-auth.js';

export { freePort };
export type TestNginxOptions = LocalNginxOptions;
export type TestNginx = LocalNginx;

/** Starts a test nginx (see infra/nginx/test.conf.template for its locations). */
export function startTestNginx(opts: TestNginxOptions = {}): Promise<TestNginx> {
  return startLocalNginx(opts);
}

/** Stops a test's nginx (when it started), then runs `then` (close a socket, remove a folder), even when the stop failed. */
export async function stopTestNginx(nginx: TestNginx | undefined, ...then: Array<() => unknown>): Promise<void> {
  try {
    await nginx?.stop();
  } finally {
    for (const f of then) await f();
  }
}

/**
 * One call to the node's control endpoint, signed with its secret as the
 * enforcer signs (shared/node-auth.ts): `body` sent as JSON (none for
 * undefined), or `raw` as it is (a malformed body, for the refusals).
 */
export function signedControl(nginx: TestNginx, method: string, path: string, body?: unknown, raw?: string): Promise<Response> {
  const text = raw ?? (body === undefined ? '' : JSON.stringify(body));
  return fetch(`${nginx.controlUrl as string}${path}`, {
    method,
    headers: { authorization: signNodeRequest(nginx.controlSecret as string, method, path, text), 'content-type': 'application/json' },
    ...(method === 'GET' ? {} : { body: text }),
  });
}
