// The shared security_filter vectors (schemas/security-filter/vectors.json,
// also run by the TypeScript engine) through a real nginx with the Lua
// module: each case's rule set is pushed with PUT /rules, each request sent
// with its Host, User-Agent (raw UTF-8 bytes), country and client address,
// and the answer compared with the expected outcome.
//
// How the test nginx expresses a vector request (infra/nginx/test.conf.template,
// shared/testing/nginx-client.ts): the client address is nginx's own
// $remote_addr, each vector's address arriving from 127.0.0.1 through
// X-Forwarded-For, which the test config's realip module trusts from there (nginx
// parses it and hands the module its own spelling, as it would behind a
// production proxy). A vector address that is no address ("not-an-ip",
// "010.0.0.1", "fe80::1%eth0", ...) cannot reach the module through nginx,
// which gives it only addresses and, for a unix-socket client, "unix:": such
// requests come over the test server's unix socket, the one non-address a
// module really sees. The country comes from X-Logwarden-Test-Country
// ($logwarden_country), the host from the Host header (nginx's $host folds case
// and drops the port and a trailing dot, as the contract says). An empty user
// agent is an absent header. The outcome: BLOCK is the status and the body's
// blocked_by "filter:<id>"; CHALLENGE is the challenge page (its status, its
// reference "challenge:filter:<id>"; the keys are pushed first); WARN is 200 with $security_filter_alert, which the
// test config sends back as X-Logwarden-Test-Alert. `matched` (every matching
// rule), which no answer of the check shows, comes from the test config's
// /__logwarden_test/filter-matched: the same request's headers and client,
// evaluated against the stored rule set without acting on it. It also names
// the client nginx made of the request, which must be the vector's address
// (as nginx spells it) or "unix:", never the proxy's 127.0.0.1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { isIP } from 'node:net';
import { CHALLENGE, type SecurityFilterRequest } from '../../shared/security-filter/index.js';
import { filterVectors } from '../../shared/testing/filter-vectors.js';
import { signedControl, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { isLoopbackV4, nginxRequest, type NginxAnswer } from '../../shared/testing/nginx-client.js';

const vectors = filterVectors();

let nginx: TestNginx | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

before(async () => {
  nginx = await startTestNginx({ control: true, syslog: '127.0.0.1:9' });
  const keys = await control('PUT', '/challenge', { period: 1, rotation: 3600, difficulty: 8, cookie_ttl: 60 });
  assert.equal(keys.status, 200, keys.text);
});
after(async () => {
  agent.destroy();
  await nginx?.stop();
});

async function control(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await signedControl(nginx as TestNginx, method, path, body);
  return { status: res.status, text: await res.text() };
}

const putRules = (body: unknown): Promise<{ status: number; text: string }> => control('PUT', '/rules', body);

// Header values go out as latin1: one char per byte carries the UTF-8 bytes as they are.
const raw = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** Whether nginx can take the vector's client address (else it comes over the unix socket). */
const isAddress = (ip: string): boolean => isIP(ip) !== 0 && !ip.includes('%');

function ask(r: SecurityFilterRequest, path: string): Promise<NginxAnswer> {
  const n = nginx as TestNginx;
  const headers: Record<string, string> = { host: raw(r.host) };
  if (r.user_agent !== '') headers['user-agent'] = raw(r.user_agent);
  if (r.country !== null) headers['x-logwarden-test-country'] = raw(r.country);
  const from = isAddress(r.ip) ? { client: r.ip } : { socketPath: n.socketPath };
  return nginxRequest({ port: n.port, path, headers, agent, ...from });
}

async function send(r: SecurityFilterRequest): Promise<{ status: number; alert: string | undefined; client: string; matched: string[]; body: string }> {
  const res = await ask(r, r.path);
  const a = res.headers['x-logwarden-test-alert'];
  const probe = await ask(r, `/__logwarden_test/filter-matched?path=${encodeURIComponent(r.path)}`);
  assert.equal(probe.status, 200, `the filter probe: ${probe.body}`);
  const [client = '', list = ''] = probe.body.split('\n');
  const matched = list === '' ? [] : list.split(',');
  return { status: res.status, alert: typeof a === 'string' && a !== '' ? a : undefined, client, matched, body: res.body };
}

test('every security_filter vector gives the expected outcome at a real nginx', async (t) => {
  let version = 0;
  let checked = 0;
  const seen = { block: 0, challenge: 0, warn: 0, none: 0 };
  let overSocket = 0;
  const failures: string[] = [];
  for (const v of vectors) {
    version += 1;
    const put = await putRules({ version, whitelist: { ips: [], paths: [] }, deployments: {}, routes: [], security_filter: v.rule_set, ...(v.geo ? { geo: v.geo } : {}) });
    assert.equal(put.status, 200, `${v.name}: PUT /rules ${put.text}`);
    for (const [i, { request, expect }] of v.requests.entries()) {
      const got = await send(request);
      const where = `${v.name} #${i} ${JSON.stringify(request).slice(0, 200)}`;
      const presented = !isAddress(request.ip) ? got.client === 'unix:' : isLoopbackV4(request.ip) ? got.client === request.ip : got.client !== '127.0.0.1' && isIP(got.client) !== 0;
      if (!presented) failures.push(`${where}: nginx took the client for ${JSON.stringify(got.client)}`);
      const page = got.body.includes('id="lw-challenge"');
      seen[page ? 'challenge' : got.status !== 200 ? 'block' : got.alert !== undefined ? 'warn' : 'none'] += 1;
      if (!isAddress(request.ip)) overSocket += 1;
      if (expect.action === 'challenge') {
        if (got.status !== CHALLENGE.httpStatus || !page || !got.body.includes(`challenge:filter:${expect.rule_id ?? ''}<`)) {
          failures.push(`${where}: expected the challenge page of ${expect.rule_id ?? '?'}, got ${got.status} ${got.body.slice(0, 200)}`);
        }
      } else if (expect.action === 'block') {
        const blockedBy = (JSON.parse(got.body) as { blocked_by?: string }).blocked_by;
        if (got.status !== expect.status || blockedBy !== `filter:${expect.rule_id ?? ''}`) {
          failures.push(`${where}: expected block ${expect.status ?? '?'} by ${expect.rule_id ?? '?'}, got ${got.status} ${got.body.trim()}`);
        }
      } else {
        // The alert is the lowest matching WARN id; with none matching there is no alert.
        const alert = expect.action === 'warn' ? (expect.rule_id ?? '?') : undefined;
        if (got.status !== 200 || got.alert !== alert) {
          failures.push(`${where}: expected ${expect.action} ${alert ?? ''}, got ${got.status} alert ${got.alert ?? '-'} ${got.body.trim()}`);
        }
      }
      if (expect.matched !== undefined && JSON.stringify(got.matched) !== JSON.stringify(expect.matched)) {
        failures.push(`${where}: expected matched ${JSON.stringify(expect.matched)}, got ${JSON.stringify(got.matched)}`);
      }
      checked += 1;
    }
  }
  t.diagnostic(`${vectors.length} vectors, ${checked} requests through nginx (${overSocket} with no address, over its unix socket): ${seen.block} blocked, ${seen.challenge} challenged, ${seen.warn} warned, ${seen.none} passed`);
  assert.ok(seen.block > 0 && seen.challenge > 0 && seen.warn > 0 && seen.none > 0, 'the vectors exercise every outcome');
  assert.equal(checked, vectors.reduce((n, v) => n + v.requests.length, 0));
  assert.deepEqual(failures, []);
});
