// The shared security_filter vectors (schemas/security-filter/vectors.json,
// also run by the TypeScript engine) through a real nginx with the Lua
// module: each case's rule set is pushed with PUT /rules, each request sent
// with its Host, User-Agent (raw UTF-8 bytes), country and client address,
// and the answer compared with the expected outcome.
//
// How the test nginx expresses a vector request (infra/nginx/test.conf.template):
// the client address comes from X-Logwarden-Test-Client (any string, so the
// vectors' non-addresses reach the engine as they are), the country from
// X-Logwarden-Test-Country ($logwarden_country), the host from the Host header
// (nginx's $host folds case and drops the port and a trailing dot, as the
// contract says). An empty user agent is an absent header. The outcome:
// BLOCK is the status and the body's blocked_by "filter:<id>"; WARN is 200
// with $security_filter_alert, which the test mode also copies with every
// matching rule id into X-Logwarden-Test-Matched (the only way to see
// `matched` from outside).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { signNodeRequest } from '../../shared/node-auth.js';
import { startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';

interface VectorRequest {
  host: string;
  path: string;
  user_agent: string;
  country: string | null;
  ip: string;
}
interface Expect {
  action: 'none' | 'warn' | 'block';
  status?: number;
  rule_id?: string;
  matched?: string[];
}
interface Vector {
  name: string;
  rule_set: unknown;
  requests: { request: VectorRequest; expect: Expect }[];
}

const vectors = JSON.parse(readFileSync(fileURLToPath(new URL('../../../schemas/security-filter/vectors.json', import.meta.url)), 'utf8')) as Vector[];

let nginx: TestNginx | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

before(async () => {
  nginx = await startTestNginx({ control: true, syslog: '127.0.0.1:9' });
});
after(async () => {
  agent.destroy();
  await nginx?.stop();
});

async function putRules(body: unknown): Promise<{ status: number; text: string }> {
  const n = nginx as TestNginx;
  const text = JSON.stringify(body);
  const res = await fetch(`${n.controlUrl as string}/rules`, {
    method: 'PUT',
    headers: { authorization: signNodeRequest(n.controlSecret as string, 'PUT', '/rules', text), 'content-type': 'application/json' },
    body: text,
  });
  return { status: res.status, text: await res.text() };
}

// Header values go out as latin1: one char per byte carries the UTF-8 bytes as they are.
const raw = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

function send(r: VectorRequest): Promise<{ status: number; matched: string | undefined; body: string }> {
  const n = nginx as TestNginx;
  const headers: Record<string, string> = { host: raw(r.host), 'x-logwarden-test-client': raw(r.ip) };
  if (r.user_agent !== '') headers['user-agent'] = raw(r.user_agent);
  if (r.country !== null) headers['x-logwarden-test-country'] = raw(r.country);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: n.port, path: r.path, method: 'GET', headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const m = res.headers['x-logwarden-test-matched'];
        resolve({ status: res.statusCode ?? 0, matched: typeof m === 'string' ? m : undefined, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('every security_filter vector gives the expected outcome at a real nginx', async (t) => {
  let version = 0;
  let checked = 0;
  const seen = { block: 0, warn: 0, none: 0 };
  const failures: string[] = [];
  for (const v of vectors) {
    version += 1;
    const put = await putRules({ version, whitelist: { ips: [], paths: [] }, deployments: {}, routes: [], security_filter: v.rule_set });
    assert.equal(put.status, 200, `${v.name}: PUT /rules ${put.text}`);
    for (const [i, { request, expect }] of v.requests.entries()) {
      const got = await send(request);
      const where = `${v.name} #${i} ${JSON.stringify(request).slice(0, 200)}`;
      const matched = got.matched === undefined || got.matched === '' ? [] : got.matched.split(',');
      seen[got.status !== 200 ? 'block' : matched.length > 0 ? 'warn' : 'none'] += 1;
      if (expect.action === 'block') {
        const blockedBy = (JSON.parse(got.body) as { blocked_by?: string }).blocked_by;
        if (got.status !== expect.status || blockedBy !== `filter:${expect.rule_id ?? ''}`) {
          failures.push(`${where}: expected block ${expect.status ?? '?'} by ${expect.rule_id ?? '?'}, got ${got.status} ${got.body.trim()}`);
        }
      } else {
        // The alert is the lowest matching WARN id; with none matching there is no alert.
        const alert = expect.action === 'warn' ? (expect.rule_id ?? '?') : undefined;
        const gotAlert = got.status === 200 && matched.length > 0 ? matched.slice().sort()[0] : undefined;
        if (got.status !== 200 || gotAlert !== alert) {
          failures.push(`${where}: expected ${expect.action} ${alert ?? ''}, got ${got.status} matched [${matched.join(',')}] ${got.body.trim()}`);
        }
      }
      if (expect.matched !== undefined && JSON.stringify(matched) !== JSON.stringify(expect.matched)) {
        failures.push(`${where}: expected matched ${JSON.stringify(expect.matched)}, got ${JSON.stringify(matched)}`);
      }
      checked += 1;
    }
  }
  t.diagnostic(`${vectors.length} vectors, ${checked} requests through nginx: ${seen.block} blocked, ${seen.warn} warned, ${seen.none} passed`);
  assert.ok(seen.block > 0 && seen.warn > 0 && seen.none > 0, 'the vectors exercise every outcome');
  assert.equal(checked, vectors.reduce((n, v) => n + v.requests.length, 0));
  assert.deepEqual(failures, []);
});
