// The Lua side of enforcement against a real nginx: lua/logwarden/access.lua
// (the per-request check) and lua/logwarden/control.lua (the endpoint the
// enforcer calls), configured by the operator snippets in lua/conf/.
//
// Clients are real (shared/testing/nginx-client.ts): 127.x addresses are the
// connection's own source; other IPv4 ranges and IPv6 come from 127.0.0.1
// through X-Forwarded-For, which the test config's realip module trusts from
// there, as a node behind a proxy would.
import { signNodeRequest } from '../../shared/node-auth.js';
import { emptyNodeRules } from '../../shared/control/node-rules.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { syslogSink, type SyslogSink } from '../../shared/testing/syslog-sink.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startTestNginx, type TestNginx, type TestNginxOptions, stopTestNginx } from '../../shared/testing/nginx.js';
import { nginxRequest } from '../../shared/testing/nginx-client.js';

let syslog: SyslogSink | undefined;
const datagrams: string[] = [];

let dir = '';
let options: TestNginxOptions = {};
let nginx: TestNginx | undefined;

before(async () => {
  syslog = await syslogSink();
  // The sink's own array, under the name the tests read.
  syslog.datagrams = datagrams;
  dir = await mkdtemp(join(tmpdir(), 'logwarden-enforcer-lua-'));
  const port = await freePort();
  let controlPort = await freePort();
  while (controlPort === port) controlPort = await freePort();
  options = {
    dir,
    port,
    controlPort,
    syslog: syslog.address,
  };
  nginx = await startTestNginx(options);
  // The restart test starts it again with the same secret.
  options.controlSecret = nginx.controlSecret;
});

after(() => stopTestNginx(nginx, () => syslog?.close(), () => dir && rm(dir, { recursive: true, force: true })));

function node(): TestNginx {
  assert.ok(nginx, 'nginx did not start');
  return nginx;
}

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function control(method: string, path: string, body?: unknown, secret?: string | null): Promise<Reply> {
  const n = node();
  assert.ok(n.controlUrl && n.controlSecret, 'no control listener');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = secret === undefined ? n.controlSecret : secret;
  const text = body === undefined ? '' : JSON.stringify(body);
  if (token !== null) headers.authorization = signNodeRequest(token, method, path, text);
  const res = await fetch(n.controlUrl + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: text }),
  });
  const answer = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(answer) as Record<string, unknown> };
}

async function blocks(body: unknown): Promise<Reply> {
  const res = await control('POST', '/blocks', body);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res;
}

/** The node's state from GET /status; `checked` (a count of traffic, not state: check-node's tests cover it) left out. */
async function status(): Promise<Record<string, unknown>> {
  const res = await control('GET', '/status');
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(typeof res.json.checked, 'number');
  const { checked: _checked, ...rest } = res.json;
  return rest;
}

/** Status of GET `path` from `client` (127.0.0.1 when omitted). */
async function visit(path: string, client?: string, ua = 'logwarden-test/lua'): Promise<{ status: number; body: string }> {
  const res = await nginxRequest({ port: node().port, path, client, headers: { 'user-agent': ua } });
  return { status: res.status, body: res.body };
}

async function statusOf(client?: string, path = '/'): Promise<number> {
  return (await visit(path, client)).status;
}

async function loggedFor(ua: string): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 30_000;
  let found: Record<string, unknown>[] = [];
  while (Date.now() < deadline) {
    found = datagrams
      .map((d) => JSON.parse(d.slice(d.indexOf(' nginx: ') + 8)) as Record<string, unknown>)
      .filter((j) => j.user_agent === ua);
    if (found.length > 0) break;
    await sleep(20);
  }
  return found;
}

test('a blocked address gets 403, logged as blocked_by blocklist, until deleted', async () => {
  assert.equal(await statusOf(), 200, 'allowed before any block');

  const set = await blocks({ set: [{ ip: '127.0.0.1', ttl: 0, reason: 'test' }] });
  assert.equal(set.json.applied, 1);
  assert.equal(await statusOf('127.0.0.2'), 200, 'another loopback source address is another client');

  const ua = `logwarden-test/blocked-${process.pid}-${Date.now()}`;
  const refused = await visit('/', undefined, ua);
  assert.equal(refused.status, 403);
  assert.equal((JSON.parse(refused.body) as Record<string, unknown>).blocked_by, 'blocklist');
  const logged = await loggedFor(ua);
  assert.equal(logged.length, 1, `datagrams: ${JSON.stringify(datagrams.slice(-5))}`);
  assert.equal(logged[0]?.blocked_by, 'blocklist');
  assert.equal(logged[0]?.status, '403');
  assert.equal(logged[0]?.client_ip, '127.0.0.1');

  const del = await blocks({ delete: ['127.0.0.1'] });
  assert.equal(del.json.deleted, 1);
  assert.equal(await statusOf(), 200, 'allowed after delete');
});

test('a CIDR block refuses every address inside it, IPv4-mapped IPv6 included', async () => {
  await blocks({ set: [{ ip: '127.0.0.0/8' }] });
  assert.equal(await statusOf(), 403, 'the loopback client is inside 127.0.0.0/8');
  assert.equal(await statusOf('127.201.13.7'), 403, 'so is every other loopback source address');
  await blocks({ delete: ['127.0.0.0/8'] });
  assert.equal(await statusOf(), 200);

  // Host bits below the prefix are cleared: this is 198.51.100.0/24.
  await blocks({ set: [{ ip: '198.51.100.99/24' }, { ip: '203.0.113.0/25' }, { ip: '203.0.113.64/26' }] });
  assert.equal((await status()).ranges, 3);
  assert.equal(await statusOf('198.51.100.0'), 403);
  assert.equal(await statusOf('198.51.100.255'), 403);
  assert.equal(await statusOf('::ffff:198.51.100.7'), 403, 'IPv4-mapped IPv6 is the IPv4 address');
  assert.equal(await statusOf('198.51.101.0'), 200);
  assert.equal(await statusOf('198.51.99.255'), 200);
  assert.equal(await statusOf('203.0.113.127'), 403, 'overlapping ranges merge');
  assert.equal(await statusOf('203.0.113.128'), 200);

  await blocks({ delete: ['198.51.100.0/24', '203.0.113.0/25', '203.0.113.64/26'] });
  assert.equal(await statusOf('198.51.100.7'), 200, 'allowed after delete');
  assert.equal((await status()).ranges, 0);
});

test('ranges of one, two and five prefix lengths: each length decides (the one- and two-length paths of logwarden.ipset and its search)', async () => {
  // One length: a hash set per length, no loop.
  await blocks({ set: [{ ip: '198.18.0.0/16' }] });
  assert.equal(await statusOf('198.18.200.1'), 403);
  assert.equal(await statusOf('198.19.0.1'), 200);
  assert.equal(await statusOf('198.17.255.255'), 200);
  // Two lengths: both looked up, the longer first.
  await blocks({ set: [{ ip: '203.0.113.0/24' }] });
  assert.equal(await statusOf('203.0.113.9'), 403);
  assert.equal(await statusOf('198.18.0.1'), 403, 'the /16 still decides beside a /24');
  assert.equal(await statusOf('203.0.114.1'), 200);
  assert.equal(await statusOf('198.19.0.1'), 200);
  // Five lengths: merged ranges and a binary search.
  await blocks({ set: [{ ip: '192.0.2.0/28' }, { ip: '192.0.2.64/27' }, { ip: '100.64.0.0/10' }] });
  assert.equal((await status()).ranges, 5);
  for (const [client, want] of [
    ['192.0.2.15', 403], ['192.0.2.16', 200], ['192.0.2.70', 403], ['192.0.2.96', 200],
    ['100.127.255.255', 403], ['100.128.0.0', 200], ['100.63.255.255', 200],
    ['198.18.255.255', 403], ['203.0.113.255', 403], ['203.0.112.255', 200],
  ] as const) {
    assert.equal(await statusOf(client), want, client);
  }
  await blocks({ delete: ['198.18.0.0/16', '203.0.113.0/24', '192.0.2.0/28', '192.0.2.64/27', '100.64.0.0/10'] });
  assert.equal((await status()).ranges, 0);
  assert.equal(await statusOf('198.18.200.1'), 200, 'allowed after delete');
});

test('IPv6 addresses and blocks, whatever their spelling', async () => {
  await blocks({ set: [{ ip: '2001:db8::7' }, { ip: '2001:DB8:1::/48' }] });
  assert.equal(await statusOf('2001:0db8:0000:0000:0000:0000:0000:0007'), 403, 'exact, written out');
  assert.equal(await statusOf('2001:db8::8'), 200);
  assert.equal(await statusOf('2001:db8:1:ffff::1'), 403, 'inside the /48');
  assert.equal(await statusOf('2001:db8:2::1'), 200, 'outside the /48');
  assert.equal(await statusOf('127.0.0.1'), 200);

  await blocks({ delete: ['2001:db8:0::7', '2001:db8:1::/48'] });
  assert.equal(await statusOf('2001:db8::7'), 200, 'allowed after delete');
  assert.equal(await statusOf('2001:db8:1::1'), 200);
});

test('a block with a TTL lapses; a permanent one stays', async () => {
  await blocks({
    set: [
      { ip: '192.0.2.10', ttl: 1 },
      { ip: '192.0.2.128/25', ttl: 1 },
      { ip: '192.0.2.11', ttl: 0 },
    ],
  });
  assert.equal(await statusOf('192.0.2.10'), 403);
  assert.equal(await statusOf('192.0.2.200'), 403);
  await sleep(1500);
  // The dict's clock is nginx's cached time: poll instead of trusting one read.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && ((await statusOf('192.0.2.10')) !== 200 || (await statusOf('192.0.2.200')) !== 200)) {
    await sleep(100);
  }
  assert.equal(await statusOf('192.0.2.10'), 200, 'the address block expired');
  assert.equal(await statusOf('192.0.2.200'), 200, 'the range expired');
  assert.equal(await statusOf('192.0.2.11'), 403, 'the permanent block stays');
  await blocks({ delete: ['192.0.2.11'] });
});

test('the secret never crosses the wire: a replayed or stale signed request is refused', async () => {
  const n = node();
  const body = JSON.stringify({ set: [{ ip: '192.0.2.77', ttl: 60 }] });
  const auth = signNodeRequest(n.controlSecret as string, 'POST', '/blocks', body);
  assert.doesNotMatch(auth, new RegExp(n.controlSecret as string), 'the header does not carry the secret');
  const send = (authorization: string, text = body) =>
    fetch(`${n.controlUrl as string}/blocks`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: text });
  assert.equal((await send(auth)).status, 200);
  const replay = await send(auth);
  assert.equal(replay.status, 401, 'the same signed request again');
  assert.equal(((await replay.json()) as { reason?: string }).reason, 'replayed request');
  const tampered = await send(signNodeRequest(n.controlSecret as string, 'POST', '/blocks', body), JSON.stringify({ set: [{ ip: '192.0.2.78', ttl: 60 }] }));
  assert.equal(tampered.status, 401, 'a body changed after signing');
  const stale = await send(signNodeRequest(n.controlSecret as string, 'POST', '/blocks', body, Math.floor(Date.now() / 1000) - 600));
  assert.equal(stale.status, 401, 'a signature ten minutes old');
  assert.equal(await statusOf('192.0.2.78'), 200);
  await blocks({ delete: ['192.0.2.77'] });
});

test('a wrong or missing secret gets 401 and changes nothing', async () => {
  const before = await status();
  const wrong = await control('POST', '/blocks', { set: [{ ip: '127.0.0.1' }] }, `${node().controlSecret}x`);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, 'unauthorized');
  assert.match(wrong.headers.get('www-authenticate') ?? '', /^LW1/);
  const missing = await control('POST', '/blocks', { set: [{ ip: '127.0.0.1' }] }, null);
  assert.equal(missing.status, 401);
  assert.equal((await control('GET', '/status', undefined, 'not-the-secret')).status, 401);
  assert.equal(await statusOf(), 200);
  assert.deepEqual(await status(), before);
});

test('a bad payload gets 400 naming the field and applies nothing', async () => {
  const before = await status();
  const cases: { body: unknown; field: string }[] = [
    { body: { set: [{ ip: '192.0.2.20' }, { ip: '192.0.2.300' }, { ip: '10.1.0.0/16' }] }, field: 'set[1].ip' },
    { body: { set: [{ ip: '192.0.2.20' }, { ip: '10.1.0.0/33' }] }, field: 'set[1].ip' },
    { body: { set: [{ ip: '192.0.2.20', ttl: -1 }] }, field: 'set[0].ttl' },
    { body: { set: [{ ip: '192.0.2.20', until: 5 }] }, field: 'set[0].until' },
    { body: { set: [{ ip: '192.0.2.20' }], delete: ['192.0.2.20', 'nope'] }, field: 'delete[1]' },
    { body: { set: [{ ip: '192.0.2.20' }], replace: true }, field: 'replace' },
  ];
  for (const c of cases) {
    const res = await control('POST', '/blocks', c.body);
    assert.equal(res.status, 400, JSON.stringify(c.body));
    assert.equal(res.json.field, c.field, JSON.stringify(res.json));
    assert.equal(typeof res.json.error, 'string');
  }
  const notJson = await fetch(`${node().controlUrl}/blocks`, {
    method: 'POST',
    headers: { authorization: signNodeRequest(node().controlSecret as string, 'POST', '/blocks', '{"set": [') },
    body: '{"set": [',
  });
  assert.equal(notJson.status, 400);
  assert.equal(await statusOf('192.0.2.20'), 200, 'the good entries were not applied');
  assert.equal(await statusOf('10.1.2.3'), 200);
  assert.deepEqual(await status(), before);
});

test('the whitelist beats a block, by address, block or path', async () => {
  await blocks({ set: [{ ip: '127.0.0.1' }, { ip: '198.18.0.5' }, { ip: '198.18.0.0/15' }] });
  const wl = await control('PUT', '/rules', { ...emptyNodeRules(1), whitelist: { ips: ['198.18.0.0/24'], paths: ['/open/*', '/exact'] } });
  assert.equal(wl.status, 200, JSON.stringify(wl.json));
  assert.equal(await statusOf('198.18.0.5'), 200, 'whitelisted block beats the exact block');
  assert.equal(await statusOf('198.18.1.5'), 403, 'outside the whitelisted /24, inside the blocked /15');
  assert.equal(await statusOf(undefined, '/open/x'), 200, 'whitelisted path prefix');
  assert.equal(await statusOf(undefined, '/exact'), 200, 'whitelisted path');
  assert.equal(await statusOf(undefined, '/exact/more'), 403, 'an exact path is not a prefix');
  assert.equal(await statusOf(), 403);

  const refused = await control('PUT', '/rules', { ...emptyNodeRules(2), whitelist: { ips: ['300.1.1.1'], paths: [] } });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.field, 'whitelist.ips[0]');
  assert.equal(await statusOf('198.18.0.5'), 200, 'a refused whitelist keeps the old one');

  assert.equal((await control('PUT', '/rules', emptyNodeRules(3))).status, 200);
  assert.equal(await statusOf('198.18.0.5'), 403);
  await blocks({ delete: ['127.0.0.1', '198.18.0.5', '198.18.0.0/15'] });
  assert.equal(await statusOf(), 200);
});

test('a reload keeps blocks and epoch; a restart brings a new epoch and no blocks', async () => {
  await blocks({ set: [{ ip: '127.0.0.1' }, { ip: '10.0.0.0/8' }] });
  const first = await status();
  assert.equal(typeof first.epoch, 'string');
  assert.equal(first.blocks, 1);
  assert.equal(first.ranges, 1);
  assert.equal(await statusOf(), 403);

  // A reload (nginx.sh start finds it running and sends HUP) keeps the shared
  // dicts, so the blocks and the epoch survive it.
  nginx = await startTestNginx(options);
  assert.deepEqual(await status(), first);
  assert.equal(await statusOf(), 403);

  await node().stop();
  nginx = await startTestNginx(options);
  const second = await status();
  assert.equal(typeof second.epoch, 'string');
  assert.notEqual(second.epoch, first.epoch);
  assert.equal(second.blocks, 0);
  assert.equal(second.ranges, 0);
  assert.equal(await statusOf(), 200);
  assert.equal(await statusOf('10.1.2.3'), 200);
});
