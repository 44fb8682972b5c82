// The rule set (PUT /rules, a NodeRules document) against a real nginx with
// the Lua module: every kind of rule allows and refuses with its status and
// headers, the order of the checks, atomic replacement under load, and bad
// documents refused whole.
//
// Clients as in lua.test.ts (shared/testing/nginx-client.ts): 127.x addresses
// are real source addresses, others come from 127.0.0.1 through the test
// config's trusted X-Forwarded-For. X-Logwarden-Test-Country sets
// $logwarden_country, standing for an operator's geoip2 variable.
// The test server's deployment is "logwarden-test"; /other-deployment/ is "other".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyNodeRules, type NodeRules } from '../../shared/control/node-rules.js';
import { hashCredential } from '../../shared/credential-hash.js';
import { signedControl, startTestNginx, type TestNginx, stopTestNginx } from '../../shared/testing/nginx.js';
import { nginxRequest, type NginxAnswer } from '../../shared/testing/nginx-client.js';

const syslog = createSocket('udp4');
const datagrams: string[] = [];
syslog.on('message', (msg) => datagrams.push(msg.toString('utf8')));

let nginx: TestNginx | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
let version = 0;

before(async () => {
  await new Promise<void>((resolve, reject) => {
    syslog.once('error', reject);
    syslog.bind(0, '127.0.0.1', () => resolve());
  });
  nginx = await startTestNginx({ control: true, syslog: `127.0.0.1:${syslog.address().port}` });
});

after(() => {
  agent.destroy();
  return stopTestNginx(nginx, () => syslog.close());
});

function node(): TestNginx {
  assert.ok(nginx, 'nginx did not start');
  return nginx;
}

async function control(method: string, path: string, body?: unknown, rawBody?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await signedControl(node(), method, path, body, rawBody);
  const answer = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(answer) as Record<string, unknown>;
  } catch {
    json = { raw: answer };
  }
  return { status: res.status, json };
}

async function putRules(rules: Partial<NodeRules>): Promise<Record<string, unknown>> {
  version += 1;
  const res = await control('PUT', '/rules', { ...emptyNodeRules(version), ...rules, version });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json;
}

/** The node's state from GET /status; `checked` (a count of traffic, which moves with every visit) left out. */
async function status(): Promise<Record<string, unknown>> {
  const res = await control('GET', '/status');
  assert.equal(res.status, 200);
  const { checked: _checked, ...rest } = res.json;
  return rest;
}

interface Visit {
  client?: string;
  country?: string;
  ua?: string;
  method?: string;
  auth?: string;
}

function visit(path: string, v: Visit = {}): Promise<NginxAnswer> {
  const headers: Record<string, string> = { 'user-agent': v.ua ?? 'logwarden-test/rules' };
  if (v.country !== undefined) headers['x-logwarden-test-country'] = v.country;
  if (v.auth !== undefined) headers.authorization = v.auth;
  return nginxRequest({ port: node().port, path, method: v.method ?? 'GET', headers, client: v.client, agent });
}

const blockedBy = (a: NginxAnswer | undefined): unknown => (JSON.parse(a?.body ?? '{}') as { blocked_by?: unknown }).blocked_by;
const basic = (s: string): string => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`;

async function loggedFor(ua: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const d of datagrams) {
      const j = JSON.parse(d.slice(d.indexOf(' nginx: ') + 8)) as Record<string, unknown>;
      if (j.user_agent === ua) return j;
    }
    await sleep(20);
  }
  throw new Error(`no access log line for ${ua}`);
}

test('deployment policy: allowed_ips, blocked_paths and rate_limit, per deployment', async () => {
  const counts = await putRules({
    deployments: {
      'logwarden-test': { enabled: true, rate_limit: 0, allowed_ips: ['127.0.0.0/8', '2001:db8::/32', '192.0.2.7'], blocked_paths: ['/wp-admin', '/api/*/debug'] },
      other: { enabled: true, rate_limit: 2, allowed_ips: [], blocked_paths: [] },
      off: { enabled: false, rate_limit: 1, allowed_ips: ['192.0.2.1'], blocked_paths: ['/'] },
    },
  });
  assert.equal(counts.deployments, 3);

  assert.equal((await visit('/')).status, 200);
  assert.equal((await visit('/', { client: '2001:db8:5::1' })).status, 200, 'inside an allowed IPv6 block');
  assert.equal((await visit('/', { client: '192.0.2.7' })).status, 200, 'an allowed address');
  const outside = await visit('/', { client: '198.51.100.1' });
  assert.equal(outside.status, 403);
  assert.equal(blockedBy(outside), 'policy:allowed_ips');
  assert.equal((await visit('/', { client: '2001:db9::1' })).status, 403);

  const wp = await visit('/wp-admin/setup.php');
  assert.equal(wp.status, 403);
  assert.equal(blockedBy(wp), 'policy:blocked_path');
  assert.equal((await visit('/wp-admin')).status, 403);
  assert.equal((await visit('/wp-administrator')).status, 200, 'a prefix ends on a segment boundary');
  assert.equal((await visit('/api/v2/debug')).status, 403, 'wildcard');
  assert.equal((await visit('/api/v2/debug/x')).status, 200, 'a wildcard covers the whole path');
  assert.equal((await visit('/other-deployment/wp-admin')).status, 200, 'another deployment: not this policy');

  // 40 requests at once from one client against 2/s: most are over the rate.
  const burst = await Promise.all(Array.from({ length: 40 }, () => visit('/other-deployment/x', { client: '203.0.113.9' })));
  const limited = burst.filter((a) => a.status === 429);
  assert.ok(limited.length >= 30, `429s: ${limited.length} of 40 (statuses ${burst.map((a) => a.status).join(',')})`);
  assert.ok(burst.some((a) => a.status === 200), 'the first ones pass');
  assert.equal(limited[0]?.headers['retry-after'], '1');
  assert.equal(blockedBy(limited[0]), 'rate_limit');
  assert.equal((await visit('/other-deployment/x', { client: '203.0.113.10' })).status, 200, 'another client has its own budget');
  assert.equal((await visit('/', { client: '127.0.0.2' })).status, 200, 'no limit on the other deployment');
});

test('protected routes: 401 with WWW-Authenticate, basic and bearer, most specific route decides', async () => {
  const counts = await putRules({
    routes: [
      { id: 'admin', path: '/admin', method: 'ALL', auth_type: 'basic', deployment: '', credential_hash: hashCredential('root:hunter2-but-longer') },
      { id: 'admin-get-report', path: '/admin/report', method: 'GET', auth_type: 'basic', deployment: '', credential_hash: hashCredential('auditor:read-only-pass') },
      { id: 'api', path: '/api/*', method: 'POST', auth_type: 'bearer', deployment: 'logwarden-test', credential_hash: hashCredential('tok_0123456789abcdef') },
      { id: 'other-admin', path: '/other-deployment/admin', method: 'ALL', auth_type: 'basic', deployment: 'other', credential_hash: hashCredential('other:pass') },
    ],
  });
  assert.equal(counts.routes, 4);
  assert.equal((await status()).routes, 4);

  const none = await visit('/admin/users');
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Basic realm="admin"');
  assert.equal(blockedBy(none), 'route:admin');
  assert.equal((await visit('/admin/users', { auth: basic('root:hunter2-but-longer') })).status, 200);
  assert.equal((await visit('/admin/users', { auth: basic('root:hunter2') })).status, 401, 'wrong password');
  assert.equal((await visit('/admin/users', { auth: 'Basic !!!' })).status, 401, 'not base64');
  assert.equal((await visit('/administrator')).status, 200, 'a prefix ends on a segment boundary');
  // Cached after the first success: the same credentials keep passing.
  for (let i = 0; i < 3; i++) assert.equal((await visit('/admin', { auth: basic('root:hunter2-but-longer') })).status, 200);

  assert.equal((await visit('/admin/report', { auth: basic('auditor:read-only-pass') })).status, 200, 'the GET route is more specific');
  assert.equal((await visit('/admin/report', { auth: basic('root:hunter2-but-longer') })).status, 401, 'and it decides alone');
  assert.equal((await visit('/admin/report', { method: 'POST', auth: basic('root:hunter2-but-longer') })).status, 200, 'POST falls to the ALL route');

  const bearer = await visit('/api/v1/items', { method: 'POST' });
  assert.equal(bearer.status, 401);
  assert.equal(bearer.headers['www-authenticate'], 'Bearer realm="api"');
  const badToken = await visit('/api/v1/items', { method: 'POST', auth: 'Bearer tok_wrong' });
  assert.equal(badToken.status, 401);
  assert.equal(badToken.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token"');
  assert.equal((await visit('/api/v1/items', { method: 'POST', auth: 'Bearer tok_0123456789abcdef' })).status, 200);
  assert.equal((await visit('/api/v1/items', { method: 'GET' })).status, 200, 'another method is not protected');

  assert.equal((await visit('/other-deployment/admin')).status, 401, "the deployment's own route");
  assert.equal((await visit('/other-deployment/admin', { auth: basic('other:pass') })).status, 200);
});

// glob.first_path and routes.first_route try the first entries of a list
// without a loop (a short loop in the check's path costs the JIT its trace of
// the whole check), then loop over the rest: every position of a list longer
// than the unrolled part must still decide, and a miss must still fall through.
test('lists longer than the unrolled part: every position decides (whitelist prefixes, blocked paths, security_filter path levels, routes of one segment)', async () => {
  const n = 7;
  const ks = Array.from({ length: n }, (_, i) => i + 1);
  await putRules({
    whitelist: { ips: [], paths: ['/w1/*', '/w2/*', '/w3/*', '/w4/*'] },
    deployments: {
      'logwarden-test': { enabled: true, rate_limit: 0, allowed_ips: [], blocked_paths: [...ks.map((k) => `/bp${k}`), '/w1', '/w2', '/w3', '/w4', '/w5'] },
      other: { enabled: true, rate_limit: 0, allowed_ips: [], blocked_paths: ['/other-deployment/x1', '/other-deployment/x2'] },
    },
    routes: ks.map((k) => ({ id: `seg-r${k}`, path: `/seg/r${k}`, method: 'ALL', auth_type: 'basic' as const, deployment: '', credential_hash: hashCredential(`u${k}:p${k}`) })),
    security_filter: {
      version: 1,
      paths: ks.map((k) => ({
        path: `/lv${k}`,
        security_filter: { enabled: true, filter_rules: [{ id: `lv${k}`, match: { user_agents: ['lvtest*'] }, response_handling: { on_filtered: 'BLOCK' } }] },
      })),
    },
  });
  for (const k of ks) {
    const bp = await visit(`/bp${k}/x`);
    assert.equal(bp.status, 403, `blocked path ${k}`);
    assert.equal(blockedBy(bp), 'policy:blocked_path');
    const lv = await visit(`/lv${k}/x`, { ua: 'lvtest/1' });
    assert.equal(lv.status, 403, `path level ${k}`);
    assert.equal(blockedBy(lv), `filter:lv${k}`);
    const r = await visit(`/seg/r${k}`);
    assert.equal(r.status, 401, `route ${k}`);
    assert.equal(blockedBy(r), `route:seg-r${k}`);
  }
  for (const k of [1, 2, 3, 4]) assert.equal((await visit(`/w${k}/x`)).status, 200, `whitelisted prefix ${k} beats the blocked path`);
  assert.equal(blockedBy(await visit('/w5/x')), 'policy:blocked_path', 'past the last whitelisted prefix');
  assert.equal((await visit(`/bp${n + 1}/x`)).status, 200, 'past the last blocked path');
  assert.equal((await visit(`/lv${n + 1}/x`, { ua: 'lvtest/1' })).status, 200, 'no path level, no property level');
  assert.equal((await visit('/lv1/x')).status, 200, 'the level applies, its rule does not match');
  assert.equal((await visit('/seg/none')).status, 200, 'no route in the segment matches');
  assert.equal((await visit('/other-deployment/x2')).status, 403, 'a list of two: its second');
  assert.equal((await visit('/other-deployment/x3')).status, 200, 'a list of two: a miss');
});

test('credential hashes made in TypeScript verify in Lua (shared vectors, RFC 6070 included)', async () => {
  const vectors = JSON.parse(readFileSync(fileURLToPath(new URL('../../../shared/credential-hash.vectors.json', import.meta.url)), 'utf8')) as {
    valid: { secret: string; hash: string; wrong: string }[];
    malformed: string[];
  };
  await putRules({
    routes: vectors.valid.map((v, i) => ({ id: `v${i}`, path: `/vector/${i}`, method: 'ALL', auth_type: 'basic' as const, deployment: '', credential_hash: v.hash })),
  });
  for (const [i, v] of vectors.valid.entries()) {
    assert.equal((await visit(`/vector/${i}`, { auth: basic(v.wrong) })).status, 401, `vector ${i}, near miss`);
    assert.equal((await visit(`/vector/${i}`, { auth: basic(v.secret) })).status, 200, `vector ${i}`);
  }
  for (const [i, m] of vectors.malformed.entries()) {
    const res = await control('PUT', '/rules', {
      ...emptyNodeRules(version + 1),
      routes: [{ id: 'm', path: '/m', method: 'ALL', auth_type: 'basic', deployment: '', credential_hash: m }],
    });
    assert.equal(res.status, 400, `malformed hash ${i}: ${m}`);
    assert.equal(res.json.field, 'routes[0].credential_hash');
  }
});

test('security_filter: BLOCK with its status, WARN logged as filter_alert, geo from the country variable', async () => {
  const counts = await putRules({
    security_filter: {
      version: 1,
      property: {
        enabled: true,
        filter_rules: [
          { id: 'scanners', match: { user_agents: ['sqlmap*', '*nikto*'] }, response_handling: { on_filtered: 'BLOCK' } },
          { id: 'embargo', match: { geo: [{ COUNTRY_CODE: 'KP' }] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 451 } },
          { id: 'curl-watch', match: { user_agents: ['curl/*'] } },
        ],
      },
    },
  });
  assert.equal(counts.filter_rules, 3);
  const scanner = await visit('/', { ua: 'sqlmap/1.7' });
  assert.equal(scanner.status, 403);
  assert.equal(blockedBy(scanner), 'filter:scanners');
  const embargo = await visit('/', { country: 'KP' });
  assert.equal(embargo.status, 451);
  assert.equal(blockedBy(embargo), 'filter:embargo');
  assert.equal((await visit('/', { country: 'DE' })).status, 200);

  const ua = `curl/8.0 logwarden-warn-${process.pid}-${Date.now()}`;
  assert.equal((await visit('/', { ua })).status, 200, 'WARN lets the request through');
  const line = await loggedFor(ua);
  assert.equal(line.filter_alert, 'curl-watch');
  assert.equal(line.blocked_by, '');
  const blockedUa = `nikto-logwarden-${process.pid}-${Date.now()}`;
  await visit('/', { ua: blockedUa });
  const blockedLine = await loggedFor(blockedUa);
  assert.equal(blockedLine.blocked_by, 'filter:scanners');
  assert.equal(blockedLine.status, '403');
});

test('order: whitelist beats blocks, policy, routes and filters; blocks beat policy', async () => {
  await control('POST', '/blocks', { set: [{ ip: '198.18.0.5' }, { ip: '198.18.0.0/15' }, { ip: '2001:db8:bad::/48' }] });
  await putRules({
    whitelist: { ips: ['198.18.0.0/24', '2001:db8:bad:1::/64'], paths: ['/health', '/static/*'] },
    deployments: { 'logwarden-test': { enabled: true, rate_limit: 0, allowed_ips: ['10.0.0.0/8'], blocked_paths: ['/static'] } },
    routes: [{ id: 'everything', path: '/', method: 'ALL', auth_type: 'basic', deployment: '', credential_hash: hashCredential('a:b') }],
    security_filter: { version: 1, property: { enabled: true, filter_rules: [{ id: 'all', match: { ips: ['0.0.0.0/0', '::/0'] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 418 } }] } },
  });
  assert.equal((await visit('/', { client: '198.18.0.5' })).status, 200, 'whitelisted address beats the exact block, the policy, the route and the filter');
  assert.equal((await visit('/', { client: '2001:db8:bad:1::9' })).status, 200, 'whitelisted IPv6 block beats the blocked /48');
  const blocked6 = await visit('/', { client: '2001:db8:bad:2::9' });
  assert.equal(blocked6.status, 403);
  assert.equal(blockedBy(blocked6), 'blocklist');
  assert.equal((await visit('/static/app.js', { client: '192.0.2.1' })).status, 200, 'whitelisted path beats the blocked path');
  assert.equal((await visit('/health', { client: '198.18.1.1' })).status, 200, 'whitelisted path beats the range block');
  const range = await visit('/', { client: '198.18.1.1' });
  assert.equal(blockedBy(range), 'blocklist', 'the range block comes before the policy');
  const policy = await visit('/', { client: '192.0.2.1' });
  assert.equal(blockedBy(policy), 'policy:allowed_ips', 'policy before routes');
  const route = await visit('/', { client: '10.1.2.3' });
  assert.equal(blockedBy(route), 'route:everything', 'routes before filters');
  const filtered = await visit('/', { client: '10.1.2.3', auth: basic('a:b') });
  assert.equal(filtered.status, 418, 'past the route, the filter');
  assert.equal(blockedBy(filtered), 'filter:all');
  await control('POST', '/blocks', { delete: ['198.18.0.5', '198.18.0.0/15', '2001:db8:bad::/48'] });
});

test('a rule-set replacement is atomic under concurrent requests', async () => {
  // Each probe's outcome under A and under B differ, and every mix of A's and
  // B's parts (whitelist, filter) gives an outcome neither set gives.
  const filter = (status: number): NodeRules['security_filter'] => ({
    version: 1,
    property: { enabled: true, filter_rules: [{ id: `all-${status}`, match: { ips: ['0.0.0.0/0', '::/0'] }, response_handling: { on_filtered: 'BLOCK', block_http_status: status } }] },
  });
  const A = { whitelist: { ips: [], paths: ['/t'] }, security_filter: filter(452) };
  const B = { whitelist: { ips: [], paths: ['/u'] }, security_filter: filter(451) };
  const allowed: Record<string, number[]> = { '/t': [200, 451], '/u': [452, 200] };
  await putRules(A);

  let stop = false;
  const seen: Record<string, Map<number, number>> = { '/t': new Map(), '/u': new Map() };
  const torn: string[] = [];
  const hammer = async (path: '/t' | '/u'): Promise<void> => {
    while (!stop) {
      const a = await visit(path);
      seen[path]?.set(a.status, (seen[path]?.get(a.status) ?? 0) + 1);
      if (!allowed[path]?.includes(a.status)) torn.push(`${path} → ${a.status}`);
    }
  };
  const hammers = Array.from({ length: 12 }, (_, i) => hammer(i % 2 === 0 ? '/t' : '/u'));
  for (let i = 0; i < 40; i++) {
    await putRules(i % 2 === 0 ? B : A);
    await sleep(10);
  }
  stop = true;
  await Promise.all(hammers);
  const summary = JSON.stringify(Object.fromEntries(Object.entries(seen).map(([p, m]) => [p, Object.fromEntries(m)])));
  assert.deepEqual(torn.slice(0, 10), [], summary);
  // Not vacuous: both sets were seen by the probes.
  assert.ok((seen['/t']?.get(200) ?? 0) > 0 && (seen['/t']?.get(451) ?? 0) > 0, summary);
  assert.ok((seen['/u']?.get(452) ?? 0) > 0 && (seen['/u']?.get(200) ?? 0) > 0, summary);
});

test('a bad rule set gets 400 naming the field, and nothing changes', async () => {
  await putRules({ whitelist: { ips: [], paths: ['/kept'] }, security_filter: { version: 1, property: { enabled: true, filter_rules: [{ id: 'kept', match: { user_agents: ['kept-bot'] }, response_handling: { on_filtered: 'BLOCK' } }] } } });
  const before = await status();
  const good = emptyNodeRules(version + 1);
  const route = { id: 'r', path: '/r', method: 'GET', auth_type: 'basic', deployment: '', credential_hash: hashCredential('a:b') };
  const cases: { body: unknown; field: string }[] = [
    { body: { ...good, version: -1 }, field: 'version' },
    { body: { ...good, version: 1.5 }, field: 'version' },
    { body: { ...good, extra: true }, field: 'extra' },
    { body: { ...good, whitelist: { ips: ['10.0.0.0/33'], paths: [] } }, field: 'whitelist.ips[0]' },
    { body: { ...good, whitelist: { ips: [], paths: ['no-slash'] } }, field: 'whitelist.paths[0]' },
    { body: { ...good, deployment_whitelist: { shop: { ips: ['not-an-ip'] } } }, field: 'deployment_whitelist["shop"].ips[0]' },
    { body: { ...good, deployment_whitelist: { shop: { paths: ['/a*b'] } } }, field: 'deployment_whitelist["shop"].paths[0]' },
    { body: { ...good, deployment_whitelist: { shop: { hosts: [] } } }, field: 'deployment_whitelist["shop"].hosts' },
    { body: { ...good, deployment_whitelist: [] }, field: 'deployment_whitelist' },
    { body: { ...good, deployments: { shop: { enabled: 'yes', rate_limit: 0, allowed_ips: [], blocked_paths: [] } } }, field: 'deployments["shop"].enabled' },
    { body: { ...good, deployments: { shop: { enabled: true, rate_limit: -1, allowed_ips: [], blocked_paths: [] } } }, field: 'deployments["shop"].rate_limit' },
    { body: { ...good, deployments: { shop: { enabled: true, rate_limit: 0, allowed_ips: ['nope'], blocked_paths: [] } } }, field: 'deployments["shop"].allowed_ips[0]' },
    { body: { ...good, routes: [route, route, { ...route, id: 'r3', method: 'get' }] }, field: 'routes[1].id' },
    { body: { ...good, routes: [route, { ...route, id: 'r2' }, { ...route, id: 'r3', method: 'get' }] }, field: 'routes[2].method' },
    { body: { ...good, routes: [{ ...route, auth_type: 'digest' }] }, field: 'routes[0].auth_type' },
    { body: { ...good, routes: [{ ...route, credential_hash: 'a:b' }] }, field: 'routes[0].credential_hash' },
    { body: { ...good, security_filter: { version: 1, property: { enabled: true, filter_rules: [{ id: 'x', match: { ips: ['10.0.0.1/8'] } }] } } }, field: 'security_filter.property.filter_rules[0].match.ips[0]' },
    { body: { ...good, security_filter: { version: 1, domains: { 'shop.example': { enabled: true, filter_rules: [{ id: 'x', match: { geo: [{ COUNTRY_CODE: 'UK' }] } }] } } } }, field: 'security_filter.domains["shop.example"].filter_rules[0].match.geo[0].COUNTRY_CODE' },
    { body: { ...good, security_filter: { version: 1, paths: [{ path: '/a', security_filter: { enabled: true, filter_rules: [{ id: 'x', match: {} }] } }] } }, field: 'security_filter.paths[0].security_filter.filter_rules[0].match' },
  ];
  for (const c of cases) {
    const res = await control('PUT', '/rules', c.body);
    assert.equal(res.status, 400, JSON.stringify(c.body).slice(0, 300));
    assert.equal(res.json.field, c.field, JSON.stringify(res.json));
    assert.equal(typeof res.json.error, 'string');
  }
  const notJson = await control('PUT', '/rules', undefined, '{"version": ');
  assert.equal(notJson.status, 400);
  const huge = await control('PUT', '/rules', undefined, JSON.stringify({ ...good, whitelist: { ips: [], paths: ['/x'.repeat(2_200_000)] } }));
  assert.equal(huge.status, 413, 'over the 4 MiB body limit');
  assert.equal((await control('PUT', '/whitelist', { ips: [] })).status, 410, 'the whitelist is part of /rules now');

  assert.deepEqual(await status(), before);
  assert.equal((await visit('/kept', { ua: 'kept-bot' })).status, 200, 'the old whitelist still holds');
  assert.equal((await visit('/', { ua: 'kept-bot' })).status, 403, 'the old filter still holds');
});
