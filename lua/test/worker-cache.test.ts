// What each nginx worker caches between requests (lua/logwarden/access.lua,
// filter.lua) never outlives the change that invalidates it: the compiled
// rule set and ranges, the addresses a worker found not blocked, and the
// user-agent verdicts of the security_filter. Every check here runs once on a
// keep-alive connection held by each worker (a connection stays with the
// worker that accepted it), so "every worker on its next request" is what is
// asserted, not "some worker eventually".
//
// The client 198.51.100.23 comes, as in lua.test.ts, from 127.0.0.1 through
// the test config's trusted X-Forwarded-For (shared/testing/nginx-client.ts):
// a connection keeps its source address, and the per-worker ones leave from
// 127.0.0.1, so the client rides on them in that header.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { emptyNodeRules, type NodeRules } from '../../shared/control/node-rules.js';
import { signedControl, startTestNginx, type TestNginx, stopTestNginx } from '../../shared/testing/nginx.js';
import { nginxRequest } from '../../shared/testing/nginx-client.js';
import { until } from '../../shared/testing/wait.js';

const syslog = createSocket('udp4');
syslog.on('message', () => undefined);

let nginx: TestNginx | undefined;
/** One keep-alive connection per worker, by worker id. */
const workers = new Map<number, http.Agent>();
let version = 0;

function get(agent: http.Agent, path: string, headers: Record<string, string> = {}, client?: string): Promise<{ status: number; body: string }> {
  return nginxRequest({ port: node().port, path, agent, client, headers: { 'user-agent': 'logwarden-test/worker-cache', ...headers } });
}

before(async () => {
  await new Promise<void>((resolve, reject) => {
    syslog.once('error', reject);
    syslog.bind(0, '127.0.0.1', () => resolve());
  });
  nginx = await startTestNginx({ control: true, syslog: `127.0.0.1:${syslog.address().port}` });
  const conf = readFileSync(join(nginx.dir, 'conf', 'nginx.conf'), 'utf8');
  const configured = /^worker_processes\s+(\w+);/m.exec(conf)?.[1] ?? '1';
  const count = configured === 'auto' ? cpus().length : Number(configured);
  assert.ok(count >= 2, `the test nginx runs ${count} worker(s): these tests need two or more`);
  // The kernel hands new connections to whichever worker it wakes, unevenly:
  // open batches until every worker holds one. The health answer names it.
  await until(`a connection to each of ${count} workers`, async () => {
    const batch = Array.from({ length: 8 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const ids = await Promise.all(batch.map(async (a) => (JSON.parse((await get(a, '/__logwarden/health')).body) as { worker: number }).worker));
    batch.forEach((a, i) => {
      const id = ids[i] as number;
      if (workers.has(id)) a.destroy();
      else workers.set(id, a);
    });
    return workers.size >= count ? true : undefined;
  }, 30_000, 10);
});

after(() => {
  for (const a of workers.values()) a.destroy();
  return stopTestNginx(nginx, () => syslog.close());
});

function node(): TestNginx {
  assert.ok(nginx, 'nginx did not start');
  return nginx;
}

async function control(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await signedControl(node(), method, path, body);
  const json = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

async function putRules(rules: Partial<NodeRules>): Promise<void> {
  version += 1;
  await control('PUT', '/rules', { ...emptyNodeRules(version), ...rules, version });
}

/** The status each worker answers, in worker order, for one request on its own connection. */
async function onEveryWorker(path: string, headers: Record<string, string> = {}, client?: string): Promise<number[]> {
  const out: number[] = [];
  for (const [, agent] of [...workers].sort(([a], [b]) => a - b)) out.push((await get(agent, path, headers, client)).status);
  return out;
}

const every = (status: number): number[] => Array.from({ length: workers.size }, () => status);

function uaFilter(pattern: string, onFiltered: 'BLOCK' | 'WARN' = 'BLOCK'): NodeRules['security_filter'] {
  return {
    version: 1,
    property: { enabled: true, filter_rules: [{ id: 'ua', match: { user_agents: [pattern] }, response_handling: { on_filtered: onFiltered, block_http_status: 451 } }] },
  };
}

test('an address block, its deletion and its expiry are seen by every worker on its next request', async () => {
  const client = '198.51.100.23';
  await putRules({});
  // Twice: the first answer makes each worker remember the address as not blocked.
  assert.deepEqual(await onEveryWorker('/', {}, client), every(200));
  assert.deepEqual(await onEveryWorker('/', {}, client), every(200));

  await control('POST', '/blocks', { set: [{ ip: '198.51.100.23', ttl: 0 }] });
  assert.deepEqual(await onEveryWorker('/', {}, client), every(403), 'an address remembered as not blocked, then blocked');
  await control('POST', '/blocks', { delete: ['198.51.100.23'] });
  assert.deepEqual(await onEveryWorker('/', {}, client), every(200), 'deleted');

  // Only an address's own block changed: no range, no rule set.
  await control('POST', '/blocks', { set: [{ ip: '198.51.100.23', ttl: 1 }] });
  assert.deepEqual(await onEveryWorker('/', {}, client), every(403), 'blocked again, with a TTL');
  // The dict's clock is nginx's cached time: poll until it lapses everywhere.
  await until('the block to lapse on every worker', async () => ((await onEveryWorker('/', {}, client)).every((s) => s === 200) ? true : undefined), 15_000);
  assert.deepEqual(await onEveryWorker('/', {}, client), every(200), 'lapsed, and stays lapsed');

  await control('POST', '/blocks', { set: [{ ip: '198.51.100.0/24', ttl: 0 }] });
  assert.deepEqual(await onEveryWorker('/', {}, client), every(403), 'a range over an address remembered as not blocked');
  await control('POST', '/blocks', { delete: ['198.51.100.0/24'] });
  assert.deepEqual(await onEveryWorker('/', {}, client), every(200));
});

test('a rule-set change is seen by every worker on its next request', async () => {
  await putRules({ whitelist: { ips: [], paths: ['/open'] }, security_filter: uaFilter('*') });
  assert.deepEqual(await onEveryWorker('/open'), every(200));
  assert.deepEqual(await onEveryWorker('/closed'), every(451));
  await putRules({ whitelist: { ips: [], paths: ['/closed'] }, security_filter: uaFilter('*') });
  assert.deepEqual(await onEveryWorker('/open'), every(451));
  assert.deepEqual(await onEveryWorker('/closed'), every(200));
  await putRules({});
  assert.deepEqual(await onEveryWorker('/open'), every(200));
  assert.deepEqual(await onEveryWorker('/closed'), every(200));
});

test('the user-agent memo keeps no verdict across rule sets', async () => {
  const friendly = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) FriendlyBot/2.1' };
  const evil = { 'user-agent': 'x-EvilBot/1.0 (+https://example.com)' };
  const shouting = { 'user-agent': 'X-EVILBOT/1.0 (+HTTPS://EXAMPLE.COM)' };

  await putRules({ security_filter: uaFilter('*evilbot*') });
  // Twice each: the second answer comes from the memo.
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await onEveryWorker('/', friendly), every(200), 'not matched');
    assert.deepEqual(await onEveryWorker('/', evil), every(451), 'matched');
    assert.deepEqual(await onEveryWorker('/', shouting), every(451), 'matched, ASCII case-insensitive');
  }

  await putRules({ security_filter: uaFilter('*friendlybot/2.?') });
  assert.deepEqual(await onEveryWorker('/', friendly), every(451), 'remembered as not matched under the old rules, matched now');
  assert.deepEqual(await onEveryWorker('/', evil), every(200), 'remembered as matched under the old rules, not now');
  assert.deepEqual(await onEveryWorker('/', shouting), every(200));

  await putRules({ security_filter: uaFilter('Mozilla/5.0 (X11; Linux x86_64) FriendlyBot/2.1', 'WARN') });
  assert.deepEqual(await onEveryWorker('/', friendly), every(200), 'an exact WARN rule lets it through');
  await putRules({ security_filter: uaFilter('mozilla/5.0 (x11; linux x86_64) friendlybot/2.1') });
  assert.deepEqual(await onEveryWorker('/', friendly), every(451), 'the same user agent, now an exact BLOCK rule');
  await putRules({});
  assert.deepEqual(await onEveryWorker('/', friendly), every(200));
});

test('the user-agent memo is bounded: past its size and for long user agents the verdicts stay right', async () => {
  await putRules({ security_filter: uaFilter('*evilbot*') });
  const evil = { 'user-agent': 'EvilBot/9' };
  const [first] = [...workers.values()];
  assert.ok(first);
  assert.equal((await get(first, '/', evil)).status, 451);
  // More distinct user agents than the memo holds (filter.lua UA_MEMO_MAX,
  // 4096), on one worker: the memo is emptied and refilled on the way.
  for (let i = 0; i < 4200; i++) {
    const a = await get(first, '/', { 'user-agent': `Mozilla/5.0 client-${i}` });
    if (a.status !== 200) assert.fail(`user agent ${i}: ${a.status}`);
  }
  assert.equal((await get(first, '/', evil)).status, 451, 'a matching user agent after the memo was emptied');
  assert.equal((await get(first, '/', { 'user-agent': 'Mozilla/5.0 client-4199' })).status, 200);

  // Longer than the memo keeps (512 bytes): matched every time.
  const long = 'Mozilla/5.0 '.padEnd(2000, 'x');
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await onEveryWorker('/', { 'user-agent': long }), every(200));
    assert.deepEqual(await onEveryWorker('/', { 'user-agent': `${long} evilbot` }), every(451));
  }
  await putRules({ security_filter: uaFilter('*xxxx') });
  assert.deepEqual(await onEveryWorker('/', { 'user-agent': long }), every(451));
  assert.deepEqual(await onEveryWorker('/', { 'user-agent': `${long} evilbot` }), every(200));
  await putRules({});
});
