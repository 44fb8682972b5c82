// The control endpoint answers loopback callers only, even with the right
// secret (lua/logwarden/control.lua; $logwarden_control_allow_remote off).
// A real non-local caller: a network namespace of this test's own, joined to
// this one by a veth pair, and the test nginx's control listener also bound to
// the host end's address. Needs root (CAP_NET_ADMIN) and iproute2; without
// them, a non-loopback address of this machine's own interfaces stands in
// (the kernel still routes it locally, but nginx sees that address); without
// one either, the test is skipped, saying why (under CI=true it fails instead).
// Wrong secrets: lua/test/lua.test.ts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { signNodeRequest } from '../../shared/node-auth.js';
import { unitOnly } from '../../shared/testing/kafka.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';

const run = promisify(execFile);

interface Remote {
  /** The address nginx's control listener gets besides 127.0.0.1. */
  listen: string;
  /** How this setup is described in the test's diagnostics. */
  how: string;
  /** Sends one request from the non-local side; resolves to [status, body]. */
  call(url: string, method: string, headers: Record<string, string>, body: string): Promise<[number, string]>;
  teardown(): Promise<void>;
}

function ipOk(args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore' }).status === 0;
}

/** A netns with a veth pair, when this process may make one. */
function netnsRemote(): Remote | undefined {
  if (process.getuid?.() !== 0 || spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0) return undefined;
  const id = process.pid % 100_000;
  const ns = `lwctl${id}`;
  const host = `lwc${id}h`;
  const peer = `lwc${id}n`;
  // 10.254.0.0/16, one /30 per process id: parallel runs do not meet.
  const a = Math.floor((id % 16_384) / 64);
  const b = (id % 64) * 4;
  const hostIp = `10.254.${a}.${b + 1}`;
  const nsIp = `10.254.${a}.${b + 2}`;
  const teardown = (): void => {
    ipOk(['link', 'del', host]);
    ipOk(['netns', 'del', ns]);
  };
  teardown();
  const steps = [
    ['netns', 'add', ns],
    ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer],
    ['link', 'set', peer, 'netns', ns],
    ['addr', 'add', `${hostIp}/30`, 'dev', host],
    ['link', 'set', host, 'up'],
    ['-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', peer],
    ['-n', ns, 'link', 'set', peer, 'up'],
    ['-n', ns, 'link', 'set', 'lo', 'up'],
  ];
  for (const s of steps) {
    if (!ipOk(s)) {
      teardown();
      return undefined;
    }
  }
  // The request is made by a node inside the namespace: its source address is nsIp.
  const script = `
    const [url, method, headers, body] = JSON.parse(process.argv[1]);
    fetch(url, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.timeout(10000) })
      .then(async (r) => process.stdout.write(JSON.stringify([r.status, await r.text()])))
      .catch((e) => { process.stdout.write(JSON.stringify([0, String(e)])); });`;
  return {
    listen: hostIp,
    how: `network namespace ${ns} (${nsIp}) over a veth pair to ${hostIp}`,
    async call(url, method, headers, body) {
      const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script, JSON.stringify([url, method, headers, body])], { timeout: 30_000 });
      return JSON.parse(stdout) as [number, string];
    },
    teardown: () => Promise.resolve(teardown()),
  };
}

/** This machine's own non-loopback IPv4 address as the source. */
function interfaceRemote(): Remote | undefined {
  const addr = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.'))?.address;
  if (!addr) return undefined;
  return {
    listen: addr,
    how: `this machine's interface address ${addr} (no network namespace could be made)`,
    call(url, method, headers, body) {
      return new Promise((resolve, reject) => {
        const u = new URL(url);
        const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers, localAddress: addr }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve([res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')]));
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    teardown: () => Promise.resolve(),
  };
}

const remote = unitOnly() ? undefined : (netnsRemote() ?? interfaceRemote());

const noCaller = 'no network namespace (needs root and iproute2) and no non-loopback interface address to call from';
describe('control endpoint and non-local callers', { skip: unitOnly() ? 'unit-only run' : requireTool(noCaller, remote !== undefined) }, () => {
  let nginx: TestNginx | undefined;
  let remoteUrl = '';
  before(async () => {
    assert.ok(remote);
    nginx = await startTestNginx({ control: true });
    // The control listener on the non-local address too, as an operator who got the listen line wrong would have it.
    const conf = `${nginx.dir}/conf/logwarden-control.conf`;
    const text = readFileSync(conf, 'utf8');
    const listen = `listen 127.0.0.1:${nginx.controlPort};`;
    assert.ok(text.includes(listen), 'the rendered control listener');
    writeFileSync(conf, text.replace(listen, `${listen}\n    listen ${remote.listen}:${nginx.controlPort};`));
    const [bin, ...args] = nginx.nginxCommand;
    await run(bin as string, [...args, '-s', 'reload']);
    remoteUrl = `http://${remote.listen}:${nginx.controlPort}`;
    // Reload is asynchronous: wait for the new listener.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [status] = await remote.call(`${remoteUrl}/status`, 'GET', {}, '');
      if (status !== 0) break;
      assert.ok(Date.now() < deadline, `the control listener on ${remote.listen} answers`);
      await sleep(100);
    }
  });
  after(async () => {
    await nginx?.stop();
    await remote?.teardown();
  });

  const signed = (method: string, path: string, body: string): Record<string, string> => ({
    authorization: signNodeRequest(nginx?.controlSecret as string, method, path, body),
    'content-type': 'application/json',
  });
  const local = async (method: string, path: string, body = ''): Promise<[number, Record<string, unknown>]> => {
    const res = await fetch(`${nginx?.controlUrl}${path}`, { method, headers: signed(method, path, body), ...(body ? { body } : {}) });
    return [res.status, (await res.json()) as Record<string, unknown>];
  };

  test('a correctly signed call from a non-local address gets 403 and changes nothing', async (t) => {
    assert.ok(remote && nginx);
    t.diagnostic(`non-local caller: ${remote.how}`);
    const [before, st0] = await local('GET', '/status');
    assert.equal(before, 200, 'the loopback caller with the secret is served');

    const [status, text] = await remote.call(`${remoteUrl}/status`, 'GET', signed('GET', '/status', ''), '');
    assert.equal(status, 403, text);
    assert.match(text, /loopback callers only/);

    const body = JSON.stringify({ set: [{ ip: '198.51.100.77', ttl: 600, reason: 'from afar' }] });
    const [setStatus, setText] = await remote.call(`${remoteUrl}/blocks`, 'POST', signed('POST', '/blocks', body), body);
    assert.equal(setStatus, 403, setText);
    const rules = JSON.stringify({ version: 99, whitelist: { ips: ['0.0.0.0/0'], paths: [] }, deployments: {}, routes: [] });
    const [rulesStatus, rulesText] = await remote.call(`${remoteUrl}/rules`, 'PUT', signed('PUT', '/rules', rules), rules);
    assert.equal(rulesStatus, 403, rulesText);

    const [after, st1] = await local('GET', '/status');
    assert.equal(after, 200);
    assert.equal(st1.blocks, st0.blocks, 'no block was set');
    assert.equal(st1.rules_version, st0.rules_version, 'no rule set was stored');
    // A client other than 127.0.0.1 sends X-Forwarded-For: the test nginx trusts it from
    // 127.0.0.1 (realip), as a node behind a proxy does (shared/testing/nginx-client.ts).
    const edge = await fetch(`${nginx.url}/`, { headers: { 'x-forwarded-for': '198.51.100.77' } });
    await edge.arrayBuffer();
    assert.equal(edge.status, 200, 'the address the remote caller tried to block is served');
  });
});
