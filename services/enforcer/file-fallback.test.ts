// The reload fallback against a real nginx started without the control
// endpoint: the rule set and blocks rendered to the file init_by_lua loads,
// `nginx -s reload`, and the rules are in force; a bad file keeps the last
// good state.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyNodeRules, type NodeRules } from '../../shared/control/node-rules.js';
import { startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { FileFallback, renderFallback, writeFileAtomic } from './file-fallback.js';

let dir = '';
let rulesFile = '';
let nginx: TestNginx | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logwarden-fallback-'));
  rulesFile = join(dir, 'node-rules.json');
  // No file yet: nginx starts anyway (logged), enforcing nothing.
  nginx = await startTestNginx({ rulesFile, syslog: '127.0.0.1:9' });
});

after(async () => {
  await nginx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// A client other than 127.0.0.1 sends X-Forwarded-For: the test nginx trusts it from
// 127.0.0.1 (realip), as a node behind a proxy does (shared/testing/nginx-client.ts).
async function get(path: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch((nginx as TestNginx).url + path, { headers });
  await res.arrayBuffer();
  return res.status;
}

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

const filterBlocking = (ua: string, status: number): NodeRules['security_filter'] => ({
  version: 1,
  property: { enabled: true, filter_rules: [{ id: `no-${ua}`, match: { user_agents: [`${ua}*`] }, response_handling: { on_filtered: 'BLOCK', block_http_status: status } }] },
});

test('renderFallback leaves expired blocks out and writes seconds', () => {
  const now = 1_800_000_000_000;
  const file = renderFallback(emptyNodeRules(3), [
    { ip: '192.0.2.1', expiresAt: null, reason: 'permanent' },
    { ip: '192.0.2.2', expiresAt: now - 1, reason: 'expired' },
    { ip: '192.0.2.0/24', expiresAt: now + 1500, reason: 'x'.repeat(300) },
  ], now);
  assert.equal(file.format, 'logwarden-node-rules/1');
  assert.deepEqual(file.blocks.map((b) => [b.ip, b.expires_at]), [['192.0.2.1', 0], ['192.0.2.0/24', 1_800_000_002]]);
  assert.equal(file.blocks[1]?.reason.length, 200);
});

test('writeFileAtomic replaces the file whole and leaves no temporary file', async () => {
  const p = join(dir, 'atomic.json');
  await writeFileAtomic(p, 'one');
  await writeFileAtomic(p, 'two');
  assert.equal(await readFile(p, 'utf8'), 'two');
  assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
});

test('render, reload, and the rules and blocks are in force; a bad file keeps the last good state', async () => {
  const n = nginx as TestNginx;
  const fallback = new FileFallback({ path: rulesFile, reloadCommand: [...n.nginxCommand, '-s', 'reload'] });
  assert.equal(await get('/', { 'user-agent': 'badbot/1' }), 200, 'nothing enforced before the first file');

  await fallback.apply({ ...emptyNodeRules(1), security_filter: filterBlocking('badbot', 451) }, [
    { ip: '192.0.2.66', expiresAt: null, reason: 'test' },
    { ip: '198.51.100.0/24', expiresAt: Date.now() + 600_000, reason: 'test range' },
  ]);
  await until('the first file in force', async () => (await get('/', { 'user-agent': 'badbot/1' })) === 451);
  assert.equal(await get('/', { 'x-forwarded-for': '192.0.2.66' }), 403);
  assert.equal(await get('/', { 'x-forwarded-for': '198.51.100.7' }), 403);
  assert.equal(await get('/'), 200);

  // The next file replaces both: the address block is gone, the range stays, the rule changed.
  await fallback.apply({ ...emptyNodeRules(2), security_filter: filterBlocking('evilbot', 452) }, [
    { ip: '198.51.100.0/24', expiresAt: Date.now() + 600_000, reason: 'test range' },
  ]);
  await until('the second file in force', async () => (await get('/', { 'user-agent': 'evilbot/1' })) === 452);
  assert.equal(await get('/', { 'user-agent': 'badbot/1' }), 200);
  assert.equal(await get('/', { 'x-forwarded-for': '192.0.2.66' }), 200, 'a block not in the file is deleted');
  assert.equal(await get('/', { 'x-forwarded-for': '198.51.100.7' }), 403);

  // A file that does not validate changes nothing (and says so in the error log).
  const bad = renderFallback({ ...emptyNodeRules(3), whitelist: { ips: ['not-an-ip'], paths: [] } }, []);
  await writeFileAtomic(rulesFile, JSON.stringify(bad));
  const logBefore = (await readFile(join(n.dir, 'logs', 'error.log'), 'utf8')).length;
  const [bin, ...args] = n.nginxCommand;
  execFileSync(bin as string, [...args, '-s', 'reload']);
  await until('the refusal logged', async () => (await readFile(join(n.dir, 'logs', 'error.log'), 'utf8')).slice(logBefore).includes('refused at rules.whitelist.ips[0]'));
  assert.equal(await get('/', { 'user-agent': 'evilbot/1' }), 452, 'the last good rule set still holds');
  assert.equal(await get('/', { 'x-forwarded-for': '198.51.100.7' }), 403);
});
