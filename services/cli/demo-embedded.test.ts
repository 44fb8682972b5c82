// Embedded mode as `npm start` runs it (`logwarden all`, the built CLI in a
// child process), the ground the demo and the dashboard stand on: the first
// start prints the dashboard URL and a token, a restart prints no token, the
// token still works, and blocks, rules and events are all still there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../shared/testing/nginx.js';
import { until } from '../../shared/testing/wait.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'logwarden-embedded-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  banner: string;
}

async function startAll(config: string): Promise<Started> {
  const child = spawn(process.execPath, [join(root, 'dist/services/cli/main.js'), 'all', '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 90_000;
  // The banner ends with the capture line.
  while (!/\n\s+capture\s/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`logwarden all did not start (exit ${child.exitCode}):\n${out}\n${err}`);
    }
    await sleep(100);
  }
  return { child, banner: out };
}

async function stop(s: Started): Promise<number | null> {
  s.child.kill('SIGTERM');
  const [code] = (await once(s.child, 'exit')) as [number | null];
  return code;
}


test('logwarden all: first start prints the dashboard and a token once; a restart keeps blocks, rules and events', { timeout: 240_000 }, async () => {
  const [udp, api] = [await freePort(), await freePort()];
  const config = join(dir, 'logwarden.yaml');
  writeFileSync(config, [`ingest: { udp: { port: ${udp} } }`, `api: { port: ${api} }`, `data_dir: ${JSON.stringify(join(dir, 'data'))}`, 'log_level: warn'].join('\n'));
  const base = `http://127.0.0.1:${api}`;
  let token = '';
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: { data?: unknown } }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as { data?: unknown } };
  };

  let s = await startAll(config);
  try {
    assert.match(s.banner, new RegExp(`dashboard\\s+${base}/dashboard/`), 'the banner names the dashboard');
    assert.match(s.banner, new RegExp(`syslog:server=127\\.0\\.0\\.1:${udp}`), 'and the nginx line to add');
    token = /admin token\s+(lw_[A-Za-z0-9_-]+)/.exec(s.banner)?.[1] ?? '';
    assert.ok(token, `the first start prints a token:\n${s.banner}`);
    const page = await fetch(`${base}/dashboard/`);
    assert.equal(page.status, 200, 'the dashboard is served from the built CLI');
    assert.match(await page.text(), /<script type="module" src="\/dashboard\/app\.js">/);

    assert.equal((await call('POST', '/api/security/blocked-ips', { ip: '198.51.100.10', reason: 'kept across restarts', duration: 3600 })).status, 201);
    assert.equal((await call('POST', '/api/security/whitelist', { type: 'ip', value: '198.51.100.11', description: 'kept' })).status, 201);
    // An attack tool through syslog: an event and an automatic block.
    const line = `<190>Nov 21 06:00:44 edge-1 nginx: ${JSON.stringify({
      ts: (Date.now() / 1000).toFixed(3), node: 'edge-1', deployment: '', client_ip: '203.0.113.77', xff: '', method: 'GET', host: 'shop.example',
      uri: '/', status: '200', bytes: '1', request_time: '0.001', upstream_time: '', user_agent: 'sqlmap/1.8.11#stable (https://sqlmap.org)',
      referer: '', country: '', auth_user: '', request_id: 'r1', blocked_by: '', filter_alert: '',
    })}`;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => sock.send(line, udp, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    sock.close();
    await until('the event and the automatic block', async () => {
      const ev = await call('GET', '/api/security/events?ip=203.0.113.77');
      const b = await call('GET', '/api/security/blocked-ips/203.0.113.77');
      return (ev.json.data as unknown[]).length > 0 && b.status === 200 ? true : undefined;
    });
  } finally {
    assert.equal(await stop(s), 0, 'a clean stop');
  }

  s = await startAll(config);
  try {
    assert.doesNotMatch(s.banner, /admin token/, 'the token is printed on the first start only');
    assert.equal((await call('GET', '/api/whoami')).status, 200, 'the first token still works');
    const blocks = (await call('GET', '/api/security/blocked-ips')).json.data as Array<{ ip: string; source: string; reason: string }>;
    assert.ok(blocks.some((b) => b.ip === '198.51.100.10' && b.source === 'manual' && b.reason === 'kept across restarts'), JSON.stringify(blocks));
    assert.ok(blocks.some((b) => b.ip === '203.0.113.77' && b.source === 'auto'), 'the automatic block too');
    const wl = (await call('GET', '/api/security/whitelist')).json.data as Array<{ value: string }>;
    assert.ok(wl.some((w) => w.value === '198.51.100.11'), 'the whitelist');
    const ev = (await call('GET', '/api/security/events?ip=203.0.113.77')).json.data as Array<{ detector: string }>;
    assert.ok(ev.some((e) => e.detector.startsWith('signature:')), 'the events');
  } finally {
    assert.equal(await stop(s), 0);
  }
});
