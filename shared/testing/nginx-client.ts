// Requests to the test nginx (./nginx.ts) from a given client address, with
// nothing in the Lua module that lets a request speak for another address:
// nginx's own $remote_addr is the client, as in production.
//
// - An address in 127.0.0.0/8 is a real source address: Linux routes the
//   whole block to loopback, so the socket binds to it and connects from it.
// - Any other address (IPv6, public ranges, the shared vectors' addresses)
//   comes through a trusted proxy, as at a production node behind one: the
//   request leaves 127.0.0.1 with X-Forwarded-For, and the test config's
//   realip module (set_real_ip_from 127.0.0.1) makes it $remote_addr before
//   the access phase. nginx parses it; a header it cannot parse leaves the
//   client 127.0.0.1, so anything else is refused here.
// - No address at all: `socketPath`, the test server's unix socket, where
//   $remote_addr is "unix:".
import http from 'node:http';
import { isIP } from 'node:net';

export interface NginxRequest {
  /** Port of the test server on 127.0.0.1 (unused with socketPath). */
  port: number;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  /** The client address nginx sees; 127.0.0.1 when omitted. */
  client?: string;
  /** Sends over this unix socket instead ($remote_addr "unix:"); no client then. */
  socketPath?: string;
  agent?: http.Agent;
  body?: string;
}

export interface NginxAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** True when `ip` is an IPv4 address in 127.0.0.0/8 that a socket can bind to. */
export function isLoopbackV4(ip: string): boolean {
  return isIP(ip) === 4 && ip.startsWith('127.');
}

/** The request options that make nginx see `client` as $remote_addr. */
export function presentClient(client: string | undefined): { localAddress?: string; headers: Record<string, string> } {
  // 127.0.0.1 is where an unbound socket to 127.0.0.1 leaves from anyway.
  if (client === undefined || client === '127.0.0.1') return { headers: {} };
  if (isLoopbackV4(client)) return { localAddress: client, headers: {} };
  // nginx takes no zone index ("fe80::1%eth0") either.
  if (isIP(client) === 0 || client.includes('%')) {
    throw new Error(`not an address nginx takes from X-Forwarded-For: ${JSON.stringify(client)} (a client without one comes over the unix socket)`);
  }
  // No localAddress: an unbound socket to 127.0.0.1 leaves from 127.0.0.1, and a
  // keep-alive agent keeps one pool (one connection per worker) for all such clients.
  return { headers: { 'x-forwarded-for': client } };
}

/** One request to the test nginx from `req.client`; resolves with the whole answer. */
export function nginxRequest(req: NginxRequest): Promise<NginxAnswer> {
  if (req.socketPath !== undefined && req.client !== undefined) throw new Error('a unix-socket client has no address');
  const via = presentClient(req.client);
  const where = req.socketPath !== undefined ? { socketPath: req.socketPath } : { host: '127.0.0.1', port: req.port, ...(via.localAddress ? { localAddress: via.localAddress } : {}) };
  return new Promise((resolve, reject) => {
    const r = http.request(
      { ...where, path: req.path, method: req.method ?? 'GET', headers: { ...req.headers, ...via.headers }, ...(req.agent ? { agent: req.agent } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Polls `fn` (a request's status) until nginx answers `want`, within `ms`; returns how long it took. */
export async function untilAnswers(what: string, fn: () => Promise<number>, want: number, ms = 15_000): Promise<number> {
  const t0 = Date.now();
  let got = -1;
  while (Date.now() - t0 < ms) {
    got = await fn();
    if (got === want) return Date.now() - t0;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${what}: nginx answered ${got}, expected ${want}`);
}
