// The enforcer against a real nginx with the Lua module: a decision on the bus
// becomes a 403 at nginx, an unblock lifts it, a restarted nginx (empty shared
// dict, new epoch) is repaired by the next reconcile, and a node that cannot
// be reached does not hold the others back.
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
