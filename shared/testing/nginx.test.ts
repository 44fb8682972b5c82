// The real nginx with the Lua module, configured with logwarden's operator
// snippets: every request must reach a syslog listener as one RFC 3164 datagram
// carrying the JSON the ingester parses.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { syslogSink, type SyslogSink } from './syslog-sink.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startTestNginx, type TestNginx, stopTestNginx } from './nginx.js';

let syslog: SyslogSink | undefined;
const datagrams: string[] = [];

let dir = '';
let nginx: TestNginx | undefined;

before(async () => {
  syslog = await syslogSink();
  // The sink's own array, under the name the tests read.
  syslog.datagrams = datagrams;
  dir = await mkdtemp(join(tmpdir(), 'logwarden-nginx-test-'));
  nginx = await startTestNginx({ dir, port: await freePort(), syslog: syslog.address });
});

after(() => stopTestNginx(nginx, () => syslog?.close(), () => dir && rm(dir, { recursive: true, force: true })));

function url(path: string): string {
  assert.ok(nginx, 'nginx did not start');
  return nginx.url + path;
}

async function get(path: string, userAgent: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url(path), { headers: { 'user-agent': userAgent } });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

// <PRI>Mmm dd hh:mm:ss HOST TAG: MSG — the day is space-padded ("Nov  1").
const RFC3164 = /^<(\d{1,3})>(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ 12]\d|3[01]) (\d\d:\d\d:\d\d) (\S+) nginx: (.*)$/s;

const KEYS = [
  'ts', 'node', 'deployment', 'client_ip', 'xff', 'method', 'host', 'uri', 'status', 'bytes',
  'request_time', 'upstream_time', 'user_agent', 'referer', 'country', 'auth_user',
  'request_id', 'blocked_by', 'filter_alert', 'logwarden_challenge',
];

interface Logged {
  pri: number;
  host: string;
  json: Record<string, unknown>;
}

function parse(datagram: string): Logged {
  const m = RFC3164.exec(datagram);
  assert.ok(m, `not an RFC 3164 syslog line: ${JSON.stringify(datagram)}`);
  return { pri: Number(m[1]), host: m[5] ?? '', json: JSON.parse(m[6] ?? '') as Record<string, unknown> };
}

/** The datagrams whose user_agent is `ua`, once there are at least `n` (or the wait gives up). */
async function loggedFor(ua: string, n: number): Promise<Logged[]> {
  const deadline = Date.now() + 30_000;
  let found: Logged[] = [];
  while (Date.now() < deadline) {
    found = datagrams.map(parse).filter((l) => l.json.user_agent === ua);
    if (found.length >= n) break;
    await sleep(20);
  }
  return found;
}

test('the test locations answer with their statuses', async () => {
  const ua = `logwarden-test/statuses-${process.pid}`;
  const root = await get('/', ua);
  assert.equal(root.status, 200);
  assert.equal(root.body, 'ok\n');
  assert.equal((await get('/missing?x=1', ua)).status, 404);
  assert.equal((await get('/login', ua)).status, 401);
});

test('the health location proves the Lua module and cjson load', async () => {
  const res = await get('/__logwarden/health', 'logwarden-test/health');
  assert.equal(res.status, 200);
  assert.match(res.type ?? '', /^application\/json/);
  const health = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(health.ok, true);
  assert.equal(health.module, 'logwarden');
  assert.match(String(health.version), /^\d+\.\d+\.\d+$/);
  assert.match(String(health.lua), /^(LuaJIT|Lua) \d/);
  assert.equal(typeof health.ngx_lua, 'number');
});

test('every request reaches syslog as one RFC 3164 datagram of JSON', async () => {
  const ua = `logwarden-test/syslog "${process.pid}" \\ ${Date.now()}`; // quotes and a backslash: escape=json must hold
  const requests = [
    { path: '/', status: 200 },
    { path: '/missing?x=1', status: 404 },
    { path: '/login', status: 401 },
    { path: '/__logwarden/health', status: 200 },
  ];
  for (const r of requests) {
    assert.equal((await get(r.path, ua)).status, r.status, r.path);
  }

  const logged = await loggedFor(ua, requests.length);
  assert.equal(logged.length, requests.length, `datagrams received: ${JSON.stringify(datagrams)}`);

  for (const r of requests) {
    const mine = logged.filter((l) => l.json.uri === r.path);
    assert.equal(mine.length, 1, `one datagram for ${r.path}`);
    const { pri, host, json } = mine[0]!;
    assert.equal(pri, 23 * 8 + 6, 'facility local7, severity info');
    assert.equal(host, hostname().toLowerCase(), 'the header names this node');
    assert.equal(json.node, host);
    assert.deepEqual(Object.keys(json).sort(), [...KEYS].sort());
    assert.equal(json.method, 'GET');
    assert.equal(json.status, String(r.status));
    assert.equal(json.user_agent, ua);
    assert.equal(json.client_ip, '127.0.0.1');
    assert.equal(json.deployment, 'logwarden-test');
    // Nothing sets these yet, but the variables must exist for the log format.
    assert.equal(json.blocked_by, '');
    assert.equal(json.filter_alert, '');
    assert.equal(json.country, '');
    assert.match(String(json.request_id), /^\d+-\d+$/, 'connection serial and request number');
    assert.ok(Number.isFinite(Number(json.ts)) && Number(json.ts) > 0, `ts ${String(json.ts)}`);
    assert.ok(Number.isFinite(Number(json.request_time)), `request_time ${String(json.request_time)}`);
  }
});
