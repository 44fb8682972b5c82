// Fault: stopping while the Kafka broker is gone. A stop must end — a service
// that hangs on SIGTERM is killed by its supervisor with nothing flushed or
// logged, and a consumer left retrying keeps the process (or a test file) alive
// for ever. On a broker of this file's own, stopped and started again:
//
// - a subscription closed after its consumer crashed does not restart itself,
//   and does not rejoin its group when the broker returns (kafkajs's own restart
//   of a crashed consumer outlives a disconnect: the subscription restarts with a
//   consumer of its own, and a close waits for a start under way);
// - a whole runtime (ingester, detectors, sinks) stopped with the broker down
//   returns, each stage bounded, and leaves no member in any of its groups.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { registry } from '../../shared/metrics.js';
import { unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { consumerGroup } from '../../shared/topics.js';
import { readSlot } from '../ingester/index.js';
import { startRuntime } from '../runtime.js';
import { PrivateBroker, pipelineConfig, until } from './helpers.js';

const broker = new PrivateBroker();
const dataDir = mkdtempSync(join(tmpdir(), 'lw-fault-stop-'));
// Closed even when an assertion fails with the broker down.
const opened: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of opened.reverse()) await close().catch(() => undefined);
  broker.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

async function crashes(group: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'logwarden_bus_consumer_crashes_total');
  return (m?.values ?? []).filter((v) => v.labels.group === group).reduce((n, v) => n + v.value, 0);
}

/** Members of every consumer group whose name starts with `prefix`, on the broker (back up). */
async function membersOf(brokers: string[], prefix: string): Promise<Map<string, number>> {
  const admin = new kafkajs.Kafka({ clientId: `${prefix}probe`, brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    // A broker just restarted answers "coordinator loading" for a while.
    return await until('the group coordinator to answer', async () => {
      try {
        const ids = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
        const { groups } = await admin.describeGroups(ids);
        return new Map(groups.map((g) => [g.groupId, g.members.length]));
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable) return undefined;
        throw err;
      }
    }, 60_000, 500);
  } finally {
    await admin.disconnect();
  }
}

// Longer than a crashed consumer's restart backoff plus a group join: a consumer that came back is a member by then.
const REJOIN_WINDOW_MS = 10_000;

test('a subscription closed after its consumer crashed stays closed when the broker returns', { skip: unitOnly() && 'unit-only run', timeout: 240_000 }, async () => {
  const brokers = await broker.start();
  const name = uniqueName('close');
  const bus = new KafkaBus({ brokers, clientId: name, acks: 'all', compression: 'none', replicationFactor: 1, consumerRetries: 1, sessionTimeoutMs: 6_000 });
  opened.push(() => bus.close());
  const topic = `${name}.t`;
  await bus.ensureTopics([{ topic, partitions: 1 }]);
  const group = `${name}-g`;
  let assigned = 0;
  let consumed = 0;
  const sub = await bus.subscribe({
    groupId: group, topics: [topic], fromBeginning: true,
    onBatch: (b) => {
      consumed += b.messages.length;
      return Promise.resolve();
    },
    onAssign: () => {
      assigned++;
    },
  });
  // A committed offset keeps the group on the broker once it is empty: "no member" is then a finding, not an absent group.
  await bus.publish(topic, [{ key: Buffer.from('k'), value: Buffer.from('v') }]);
  await until('the message consumed and committed', async () => (consumed > 0 && (await bus.committedOffsets(group, topic)).length > 0 ? true : undefined), 30_000);

  broker.stop();
  // Crashed, and its restart under way (a new consumer connecting to the gone broker): the close lands there.
  await until('the consumer to crash', async () => ((await crashes(group)) >= 1 ? true : undefined), 120_000, 50);
  await sleep(1_500);
  await sub.close();
  const crashesAtClose = await crashes(group);

  await broker.start();
  // Listed with no member: the member from before the stop (6 s session) expired, and none came back.
  await until('the group listed, empty', async () => ((await membersOf(brokers, name)).get(group) === 0 ? true : undefined), 60_000, 500);
  await sleep(REJOIN_WINDOW_MS);
  assert.equal((await membersOf(brokers, name)).get(group), 0, 'no member in the group after close');
  assert.equal(await crashes(group), crashesAtClose, 'no crash after close: nothing kept retrying');
  assert.equal(assigned, 1, 'never reassigned after close');
});

test('a runtime stopped while the broker is down returns, and leaves no member in its groups', { skip: unitOnly() && 'unit-only run', timeout: 300_000 }, async (t) => {
  const brokers = await broker.start();
  const name = uniqueName('stopdown');
  const config = pipelineConfig(name, brokers, dataDir, { partitions: 2, kafka: 'session_timeout: 6s' });
  const rt = await startRuntime(config, new Set(['ingester', 'detector', 'sink']), { stopStageMs: 3_000, stopTotalMs: 20_000 });
  let stopped = false;
  opened.push(async () => {
    if (!stopped) await rt.stop();
  });
  const pipeline = rt.pipeline;
  assert.ok(pipeline);
  const line = (i: number): Buffer =>
    Buffer.from(`<190>Nov 21 06:00:44 edge nginx: {"ts":"${(Date.now() / 1000).toFixed(3)}","client_ip":"203.0.113.${i % 250}","method":"GET","host":"h","uri":"/","status":"200","request_id":"s-${i}"}`);
  // Traffic first, until the groups reading it committed: they stay listed on the broker once empty.
  for (let i = 0; i < 50; i++) pipeline.offer(line(i), 'tcp');
  const committing = [consumerGroup(config.kafka, 'detector'), consumerGroup(config.kafka, 'sink-requests')];
  await until('the detector and the requests sink to commit', async () => {
    for (const g of committing) if ((await rt.bus.committedOffsets(g, rt.topics.access)).length === 0) return undefined;
    return true;
  }, 60_000, 200);
  // Then some traffic held in the ingester when the broker goes: the stop has something to give up on.
  broker.stop();
  for (let i = 50; i < 100; i++) pipeline.offer(line(i), 'tcp');

  const t0 = Date.now();
  await rt.stop();
  stopped = true;
  t.diagnostic(`stop with the broker down took ${((Date.now() - t0) / 1000).toFixed(1)} s (each stage bounded at 3 s, the whole at 20 s)`);
  // Nothing lost silently: every record the ingester took was acknowledged by the bus or, the stop
  // having given up on the broker, written to the disk buffer for the next start (none counted unsent).
  const unsent = (): number => pipeline.stats.dropped.unsent_at_close ?? 0;
  const onDisk = (): number => readSlot(join(dataDir, 'ingest-buffer', '0')).length;
  await until('every record acknowledged or kept on disk', () => (pipeline.stats.sent + onDisk() + unsent() === pipeline.stats.parsed ? true : undefined), 90_000, 200);
  assert.ok(onDisk() > 0, 'records taken after the broker went were kept on disk');
  assert.equal(unsent(), 0, 'none given up');
  t.diagnostic(`${pipeline.stats.parsed} records taken: ${pipeline.stats.sent} acknowledged, ${onDisk()} kept on disk at close`);

  await broker.start();
  // Members the broker still lists from before its stop (they could not leave) expire after the 6 s session timeout.
  let last = new Map<string, number>();
  await until('the committed groups listed, every member from before the stop expired', async () => {
    last = await membersOf(brokers, name);
    return committing.every((g) => last.has(g)) && [...last.values()].every((n) => n === 0) ? true : undefined;
  }, 60_000, 500).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: members ${JSON.stringify(Object.fromEntries(last))}`);
  });
  await sleep(REJOIN_WINDOW_MS);
  for (const [group, n] of await membersOf(brokers, name)) assert.equal(n, 0, `no member rejoined ${group} after stop`);
});
