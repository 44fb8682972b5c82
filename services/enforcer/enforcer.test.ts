// The enforcer against a real nginx with the Lua module: a decision on the bus
// becomes a 403 at nginx, an unblock lifts it, a restarted nginx (empty shared
// dict, new epoch) is repaired by the next reconcile, and a node that cannot
// be reached does not hold the others back; the rule set (setRules) reaches
// the nodes the same way and comes back after a restart; a challenge decision
// reaches them as the challenge page, with the keys the enforcer pushes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import type { NodeConfig } from '../../shared/config/types.js';
import type { BlockDecision } from '../../shared/records.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { topicNames } from '../../shared/topics.js';
import { signNodeRequest } from '../../shared/node-auth.js';
import { emptyNodeRules, type NodeRules } from '../../shared/control/node-rules.js';
import { hashCredential } from '../../shared/credential-hash.js';
import { registry } from '../../shared/metrics.js';
import { createHmac } from 'node:crypto';
import { challengePeriod } from '../../shared/challenge-keys.js';
import { Enforcer } from './enforcer.js';

const dir = mkdtempSync(join(tmpdir(), 'enforcer-nginx-'));
let nginx: TestNginx | undefined;
after(async () => {
  await nginx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function statusOf(url: string): Promise<number> {
  const res = await fetch(`${url}/`);
  await res.arrayBuffer();
  return res.status;
}

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

const decision = (ip: string, action: 'block' | 'unblock'): BlockDecision => ({
  ip, action, reason: action === 'block' ? 'test: brute force' : 'test: unblocked', source: 'manual',
  created_at: Date.now(), expires_at: action === 'block' ? Date.now() + 600_000 : null, deployment: null, escalation_level: 0,
});

test('a decision reaches nginx, an unblock lifts it, a restarted nginx is repaired by reconcile, a dead node holds nothing back', async (t) => {
  const [port, controlPort] = [await freePort(), await freePort()];
  const options = { dir, port, controlPort, controlSecret: 'enforcer-test-secret-0123456789' };
  nginx = await startTestNginx(options);
  const live: NodeConfig = { name: 'edge-live', url: nginx.controlUrl as string, secret: options.controlSecret, secret_env: '', secret_file: '' };
  const dead: NodeConfig = { name: 'edge-dead', url: `http://127.0.0.1:${await freePort()}`, secret: 'x'.repeat(20), secret_env: '', secret_file: '' };

  const bus = new MemoryBus();
  const topics = topicNames('enf.');
  await bus.ensureTopics([{ topic: topics.decisions, partitions: 2, compacted: true }]);
  const config = loadConfig({ text: 'log_level: silent', env: {} });
  const enforcer = new Enforcer({ config, bus, topics, nodes: [dead, live], reconcileMs: 300 });
  await enforcer.start();
  try {
    assert.equal(await statusOf(nginx.url), 200);

    await bus.publish(topics.decisions, [{ key: '127.0.0.1', value: blockDecisionCodec.encode(decision('127.0.0.1', 'block')) }]);
    const blockedIn = await until('the block to reach nginx', async () => (await statusOf(nginx?.url as string)) === 403);
    t.diagnostic(`decision published → 403 at nginx in ${blockedIn} ms (with an unreachable node beside it)`);

    await bus.publish(topics.decisions, [{ key: '127.0.0.1', value: blockDecisionCodec.encode(decision('127.0.0.1', 'unblock')) }]);
    await until('the unblock to reach nginx', async () => (await statusOf(nginx?.url as string)) === 200);

    await bus.publish(topics.decisions, [{ key: '127.0.0.1', value: blockDecisionCodec.encode(decision('127.0.0.1', 'block')) }]);
    await until('the block again', async () => (await statusOf(nginx?.url as string)) === 403);

    // nginx restarted: its shared dict is empty and its epoch new; the enforcer notices and re-pushes.
    await nginx.stop();
    nginx = await startTestNginx(options);
    const repairedIn = await until('the restarted node to be repaired', async () => (await statusOf(nginx?.url as string)) === 403);
    t.diagnostic(`restarted nginx repaired in ${repairedIn} ms (reconcile every 300 ms)`);
    assert.equal(enforcer.desired.size, 1);
  } finally {
    await enforcer.close();
    await bus.close();
  }
});

test('setRules reaches every live node at once; a restarted nginx gets rules and blocks back within one reconcile', async (t) => {
  const ruleDir = mkdtempSync(join(tmpdir(), 'enforcer-rules-nginx-'));
  const [port, controlPort] = [await freePort(), await freePort()];
  const options = { dir: ruleDir, port, controlPort, controlSecret: 'enforcer-rules-secret-0123456789' };
  let node = await startTestNginx(options);
  const live: NodeConfig = { name: 'rules-live', url: node.controlUrl as string, secret: options.controlSecret, secret_env: '', secret_file: '' };
  const dead: NodeConfig = { name: 'rules-dead', url: `http://127.0.0.1:${await freePort()}`, secret: 'x'.repeat(20), secret_env: '', secret_file: '' };
  const bus = new MemoryBus();
  const topics = topicNames('enfr.');
  await bus.ensureTopics([{ topic: topics.decisions, partitions: 1, compacted: true }]);
  const enforcer = new Enforcer({ config: loadConfig({ text: 'log_level: silent', env: {} }), bus, topics, nodes: [dead, live], reconcileMs: 300 });
  await enforcer.start();
  // A client other than 127.0.0.1 sends X-Forwarded-For: the test nginx trusts it from
  // 127.0.0.1 (realip), as a node behind a proxy does (shared/testing/nginx-client.ts).
  const get = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
    const res = await fetch(node.url + path, { headers });
    await res.arrayBuffer();
    return res.status;
  };
  const status = async (): Promise<{ rules_version?: unknown; epoch?: unknown }> => {
    const res = await fetch(`${node.controlUrl as string}/status`, { headers: { authorization: signNodeRequest(options.controlSecret, 'GET', '/status', '') } });
    return (await res.json()) as { rules_version?: unknown; epoch?: unknown };
  };
  const rulesVersion = async (): Promise<unknown> => (await status()).rules_version;
  try {
    const v1: NodeRules = {
      ...emptyNodeRules(1),
      routes: [{ id: 'admin', path: '/admin', method: 'ALL', auth_type: 'bearer', deployment: '', credential_hash: hashCredential('tok_enforcer_test') }],
    };
    await enforcer.setRules(v1);
    assert.equal(await rulesVersion(), 1);
    assert.equal(await get('/admin'), 401);
    assert.equal(await get('/admin', { authorization: 'Bearer tok_enforcer_test' }), 200);
    await assert.rejects(enforcer.setRules(emptyNodeRules(1)), RangeError, 'the version must increase');

    const v2: NodeRules = {
      ...emptyNodeRules(2),
      security_filter: { version: 1, property: { enabled: true, filter_rules: [{ id: 'bad-bot', match: { user_agents: ['badbot*'] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 451 } }] } },
    };
    await enforcer.setRules(v2);
    assert.equal(await rulesVersion(), 2);
    assert.equal(await get('/admin'), 200, 'the route went with v1');
    assert.equal(await get('/', { 'user-agent': 'badbot/2' }), 451);

    await bus.publish(topics.decisions, [{ key: '192.0.2.55', value: blockDecisionCodec.encode(decision('192.0.2.55', 'block')) }]);
    await until('the block', async () => (await get('/', { 'x-forwarded-for': '192.0.2.55' })) === 403);

    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string, nodeName: string): number | undefined =>
      metrics.find((m) => m.name === name)?.values.find((v) => v.labels.node === nodeName)?.value;
    assert.ok((value('logwarden_enforcer_rules_push_errors_total', 'rules-dead') ?? 0) >= 1, 'the dead node counts push errors');
    assert.equal(value('logwarden_enforcer_node_rules_version_lag', 'rules-live'), 0);
    assert.equal(value('logwarden_enforcer_node_rules_version_lag', 'rules-dead'), 2);

    const before = (await status()).epoch;
    await node.stop();
    node = await startTestNginx(options);
    // A new epoch: the node started afresh, its shared memory empty (the enforcer, reconciling every
    // 300 ms, may have restored it already by the time this is read, so its rule set is not looked at).
    assert.notEqual((await status()).epoch, before, 'a fresh nginx');
    const restoredIn = await until(
      'rules and blocks restored',
      async () => (await get('/', { 'user-agent': 'badbot/2' })) === 451 && (await get('/', { 'x-forwarded-for': '192.0.2.55' })) === 403,
    );
    t.diagnostic(`restarted nginx had rules and blocks back in ${restoredIn} ms (reconcile every 300 ms)`);
    assert.equal(await rulesVersion(), 2);
  } finally {
    await enforcer.close();
    await bus.close();
    await node.stop();
    rmSync(ruleDir, { recursive: true, force: true });
  }
});

test('a challenge decision travels like a block: the node serves the challenge page with the keys the enforcer pushed; a block replaces it; a restarted node gets both back', async (t) => {
  const chDir = mkdtempSync(join(tmpdir(), 'enforcer-challenge-nginx-'));
  const [port, controlPort] = [await freePort(), await freePort()];
  const options = { dir: chDir, port, controlPort, controlSecret: 'enforcer-challenge-secret-0123456789' };
  let node = await startTestNginx(options);
  const live: NodeConfig = { name: 'challenge-live', url: node.controlUrl as string, secret: options.controlSecret, secret_env: '', secret_file: '' };
  const bus = new MemoryBus();
  const topics = topicNames('enfc.');
  await bus.ensureTopics([{ topic: topics.decisions, partitions: 1, compacted: true }]);
  const enforcer = new Enforcer({ config: loadConfig({ text: 'log_level: silent', env: {} }), bus, topics, nodes: [live], reconcileMs: 300 });
  await enforcer.start();
  const answer = async (ip: string): Promise<string> => {
    const res = await fetch(`${node.url}/`, { headers: { 'x-forwarded-for': ip } });
    const body = await res.text();
    return res.status === 200 ? 'ok' : body.includes('id="lw-challenge"') ? 'challenge' : body.includes('"blocklist"') ? 'blocked' : `${res.status} ${body.slice(0, 80)}`;
  };
  const status = async (): Promise<{ challenges?: number; challenge?: { keys?: number } }> => {
    const res = await fetch(`${node.controlUrl as string}/status`, { headers: { authorization: signNodeRequest(options.controlSecret, 'GET', '/status', '') } });
    return (await res.json()) as { challenges?: number; challenge?: { keys?: number } };
  };
  const ip = '192.0.2.77';
  const publish = (action: 'block' | 'challenge' | 'unblock'): Promise<unknown> =>
    bus.publish(topics.decisions, [{ key: ip, value: blockDecisionCodec.encode({ ...decision(ip, action === 'unblock' ? 'unblock' : 'block'), action }) }]);
  try {
    await publish('challenge');
    const inMs = await until('the challenge page', async () => (await answer(ip)) === 'challenge');
    t.diagnostic(`challenge decision published → challenge page at nginx in ${inMs} ms`);
    const s = await status();
    assert.equal(s.challenge?.keys, 2, 'the current and the previous key');
    assert.equal(s.challenges, 1);
    // The key the node derived (lua/logwarden/challenge.lua), never shown.
    const key = createHmac('sha1', options.controlSecret).update(`logwarden-challenge\n86400\n${challengePeriod(86_400_000)}`).digest('hex');
    assert.ok(!JSON.stringify(s).includes(key), 'no key in /status');
    assert.equal(await answer('192.0.2.78'), 'ok', 'other clients pass');

    await publish('block');
    await until('the block replacing the challenge', async () => (await answer(ip)) === 'blocked');
    assert.equal((await status()).challenges, 0, 'one entry per address');
    await publish('challenge');
    await until('the challenge again', async () => (await answer(ip)) === 'challenge');

    await node.stop();
    node = await startTestNginx(options);
    await until('the restarted node to challenge again, with keys', async () => (await answer(ip)) === 'challenge');
    await publish('unblock');
    await until('the unblock lifting the challenge', async () => (await answer(ip)) === 'ok');
  } finally {
    await enforcer.close();
    await bus.close();
    await node.stop();
    rmSync(chDir, { recursive: true, force: true });
  }
});
