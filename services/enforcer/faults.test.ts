// Faults at the edge, against real nginx with the Lua module:
// - nginx restarted (new epoch, empty shared dicts): one reconcile pass — what
//   runs every scan_interval — gives it back every block and the rule set.
// - the enforcer cannot reach one of two nodes: the other keeps in sync, and
//   the lagging one, started again on the same ports, is repaired by one pass.
// Reconcile passes are run by the test (the timer is set out of reach), so
// "within one scan_interval" is a count of passes, not a measured time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import type { NodeConfig } from '../../shared/config/types.js';
import { signNodeRequest } from '../../shared/node-auth.js';
import { emptyNodeRules, type NodeRules } from '../../shared/control/node-rules.js';
import type { BlockDecision } from '../../shared/records.js';
import { freePort, startTestNginx, type TestNginx, type TestNginxOptions } from '../../shared/testing/nginx.js';
import { topicNames } from '../../shared/topics.js';
import { Enforcer } from './enforcer.js';

const NEVER_MS = 3_600_000;

interface Node {
  opts: TestNginxOptions & { controlSecret: string };
  nginx: TestNginx;
  config: NodeConfig;
}

async function startNode(name: string, dir: string): Promise<Node> {
  const opts = { dir, port: await freePort(), controlPort: await freePort(), controlSecret: `${name}-secret-0123456789abcdef` };
  const nginx = await startTestNginx(opts);
  return { opts, nginx, config: { name, url: nginx.controlUrl as string, secret: opts.controlSecret, secret_env: '', secret_file: '' } };
}

async function status(n: Node): Promise<{ epoch: unknown; blocks: number; rules_version: number }> {
  const res = await fetch(`${n.config.url}/status`, { headers: { authorization: signNodeRequest(n.opts.controlSecret, 'GET', '/status', '') } });
  return (await res.json()) as { epoch: unknown; blocks: number; rules_version: number };
}

// A client other than 127.0.0.1 sends X-Forwarded-For: the test nginx trusts it from
// 127.0.0.1 (realip), as a node behind a proxy does (shared/testing/nginx-client.ts).
async function get(n: Node, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${n.nginx.url}/`, { headers });
  await res.arrayBuffer();
  return res.status;
}

async function until(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(25);
  }
}

const decision = (ip: string, action: 'block' | 'unblock'): BlockDecision => ({
  ip, action, reason: `fault test ${action}`, source: 'manual', created_at: Date.now(),
  expires_at: action === 'block' ? Date.now() + 600_000 : null, deployment: null, escalation_level: 0,
});

const rulesV = (version: number, status: number): NodeRules => ({
  ...emptyNodeRules(version),
  security_filter: { version, property: { enabled: true, filter_rules: [{ id: 'bad-bot', match: { user_agents: ['badbot*'] }, response_handling: { on_filtered: 'BLOCK', block_http_status: status } }] } },
});

const ips = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `192.0.2.${from + i}`);

async function publish(bus: MemoryBus, topic: string, list: string[], action: 'block' | 'unblock'): Promise<void> {
  await bus.publish(topic, list.map((ip) => ({ key: ip, value: blockDecisionCodec.encode(decision(ip, action)) })));
}

test('nginx restarted: one reconcile pass restores every block and the rule set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'enf-fault-restart-'));
  let node = await startNode('restart-node', dir);
  const bus = new MemoryBus();
  const topics = topicNames('enffr.');
  await bus.ensureTopics([{ topic: topics.decisions, partitions: 2, compacted: true }]);
  const enforcer = new Enforcer({ config: loadConfig({ text: 'log_level: silent', env: {} }), bus, topics, nodes: [node.config], reconcileMs: NEVER_MS });
  try {
    await enforcer.start();
    await enforcer.setRules(rulesV(7, 451));
    const blocked = ips(10, 60);
    await publish(bus, topics.decisions, blocked, 'block');
    await until('60 blocks at the node', async () => (await status(node)).blocks === 60);

    await node.nginx.stop();
    node = { ...node, nginx: await startTestNginx(node.opts) };
    const fresh = await status(node);
    assert.deepEqual([fresh.blocks, fresh.rules_version], [0, 0], 'a restarted nginx starts empty');
    assert.equal(await get(node, { 'x-forwarded-for': '192.0.2.10' }), 200);

    await enforcer.reconcile();
    const after = await status(node);
    assert.equal(after.blocks, 60, 'every block is back after one pass');
    assert.equal(after.rules_version, 7, 'the rule set is back after the same pass');
    assert.equal(await get(node, { 'x-forwarded-for': '192.0.2.69' }), 403);
    assert.equal(await get(node, { 'user-agent': 'badbot/1.0' }), 451);
    assert.equal(await get(node, { 'x-forwarded-for': '192.0.2.200' }), 200, 'nothing else is blocked');
  } finally {
    await enforcer.close();
    await bus.close();
    await node.nginx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one of two nodes unreachable: the other stays in sync; the lagging one is repaired by one pass when it returns', async (t) => {
  const dirs = [mkdtempSync(join(tmpdir(), 'enf-fault-a-')), mkdtempSync(join(tmpdir(), 'enf-fault-b-'))];
  const a = await startNode('node-a', dirs[0] as string);
  let b = await startNode('node-b', dirs[1] as string);
  const bus = new MemoryBus();
  const topics = topicNames('enfdn.');
  await bus.ensureTopics([{ topic: topics.decisions, partitions: 2, compacted: true }]);
  const enforcer = new Enforcer({ config: loadConfig({ text: 'log_level: silent', env: {} }), bus, topics, nodes: [a.config, b.config], reconcileMs: NEVER_MS });
  try {
    await enforcer.start();
    await enforcer.setRules(rulesV(1, 451));
    await publish(bus, topics.decisions, ips(1, 20), 'block');
    await until('both nodes in sync', async () => (await status(a)).blocks === 20 && (await status(b)).blocks === 20);

    // node-b goes away; changes keep coming: 50 new blocks, 5 lifted, a new rule set.
    await b.nginx.stop();
    await publish(bus, topics.decisions, ips(100, 50), 'block');
    await publish(bus, topics.decisions, ips(1, 5), 'unblock');
    await enforcer.setRules(rulesV(2, 429));
    await until('node-a to hold the 65 blocks in force', async () => (await status(a)).blocks === 65);
    // A pass with node-b down must not hold node-a back, nor fail.
    await enforcer.reconcile();
    const sa = await status(a);
    assert.deepEqual([sa.blocks, sa.rules_version], [65, 2], 'node-a is in sync while node-b is down');
    assert.equal(await get(a, { 'user-agent': 'badbot/2' }), 429);
    assert.equal(await get(a, { 'x-forwarded-for': '192.0.2.1' }), 200, 'a lifted block is lifted on node-a');
    assert.equal(await get(a, { 'x-forwarded-for': '192.0.2.149' }), 403);
    assert.equal(enforcer.desired.size, 65);

    // node-b comes back on the same ports, empty (a restart), or it would be stale either way.
    b = { ...b, nginx: await startTestNginx(b.opts) };
    await enforcer.reconcile();
    const sb = await status(b);
    assert.deepEqual([sb.blocks, sb.rules_version], [65, 2], 'node-b repaired by one pass');
    for (const [ip, want] of [['192.0.2.1', 200], ['192.0.2.5', 200], ['192.0.2.6', 403], ['192.0.2.100', 403], ['192.0.2.149', 403], ['192.0.2.150', 200]] as const) {
      assert.equal(await get(b, { 'x-forwarded-for': ip }), want, `${ip} on node-b`);
    }
    assert.equal(await get(b, { 'user-agent': 'badbot/2' }), 429, 'node-b has the newer rule set');
    const [fa, fb] = [await status(a), await status(b)];
    assert.deepEqual([fa.blocks, fb.blocks], [65, 65], 'both nodes hold exactly the blocks in force');
    t.diagnostic(`node-a epoch ${String(fa.epoch)}, node-b epoch ${String(fb.epoch)} (restarted)`);
  } finally {
    await enforcer.close();
    await bus.close();
    await a.nginx.stop();
    await b.nginx.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

/** A loopback TCP relay to a node's control port that can be cut and healed: a network partition, nginx keeps running. */
class Link {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  constructor(readonly port: number, private readonly target: number) {}
  async up(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

test('a partitioned node (nginx still running, stale state) is repaired when the link heals: missed blocks set, lifted ones removed', async () => {
  const dirs = [mkdtempSync(join(tmpdir(), 'enf-fault-p1-')), mkdtempSync(join(tmpdir(), 'enf-fault-p2-'))];
  const a = await startNode('part-a', dirs[0] as string);
  const b = await startNode('part-b', dirs[1] as string);
  const link = new Link(await freePort(), b.opts.controlPort as number);
  await link.up();
  const bus = new MemoryBus();
  const topics = topicNames('enfpt.');
  await bus.ensureTopics([{ topic: topics.decisions, partitions: 2, compacted: true }]);
  const viaLink: NodeConfig = { ...b.config, url: `http://127.0.0.1:${link.port}` };
  const enforcer = new Enforcer({ config: loadConfig({ text: 'log_level: silent', env: {} }), bus, topics, nodes: [a.config, viaLink], reconcileMs: NEVER_MS });
  try {
    await enforcer.start();
    await enforcer.setRules(rulesV(1, 451));
    await publish(bus, topics.decisions, ips(1, 20), 'block');
    await until('both nodes in sync', async () => (await status(a)).blocks === 20 && (await status(b)).blocks === 20);
    const epochBefore = (await status(b)).epoch;

    await link.down();
    await publish(bus, topics.decisions, ips(100, 30), 'block');
    await publish(bus, topics.decisions, ips(1, 10), 'unblock');
    await enforcer.setRules(rulesV(2, 429));
    await until('node-a to hold the 40 blocks in force', async () => (await status(a)).blocks === 40);
    await enforcer.reconcile();
    const stale = await status(b);
    assert.deepEqual([stale.blocks, stale.rules_version], [20, 1], 'the partitioned node kept its old state');

    await link.up();
    await enforcer.reconcile();
    const healed = await status(b);
    assert.equal(healed.epoch, epochBefore, 'same nginx, not a restart');
    assert.deepEqual([healed.blocks, healed.rules_version], [40, 2], 'one pass after the link healed: missed blocks set, lifted ones removed, new rules');
    assert.equal(await get(b, { 'x-forwarded-for': '192.0.2.3' }), 200, 'a block lifted during the partition is lifted');
    assert.equal(await get(b, { 'x-forwarded-for': '192.0.2.129' }), 403, 'a block decided during the partition is in force');
  } finally {
    await enforcer.close();
    await bus.close();
    await link.down();
    await a.nginx.stop();
    await b.nginx.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
