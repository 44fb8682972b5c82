// Distributed mode on the real Kafka broker: two notifier processes' worth of
// members (each its own KafkaBus) share the notifier group, and every decision
// published to the decisions topic — each written twice, as a producer retry
// would — reaches the receiver once, whichever member handled it. Then one
// member stops; the other takes its partitions and still sends each decision once.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { createBus } from '../../shared/bus/index.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import type { Bus } from '../../shared/bus/types.js';
import { ControlState } from '../../shared/control/state.js';
import type { BlockDecision } from '../../shared/records.js';
import { kafkaBrokers, unitOnly } from '../../shared/testing/kafka.js';
import { testConfig } from '../../shared/testing/config.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, topicSpecs } from '../../shared/topics.js';
import { start, type StartedNotifier } from './index.js';
import { decisionId } from './payload.js';
import { startReceiver, type Receiver } from './testing/receiver.js';

const PARTITIONS = 3;
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-notify-kafka-'));

describe('notifier group on the real Kafka broker', { skip: unitOnly() ? 'needs Kafka (run without --unit)' : false }, () => {
  const buses: Bus[] = [];
  const members: StartedNotifier[] = [];
  let rx: Receiver | undefined;
  after(async () => {
    for (const m of members) await m.stop(1000);
    for (const b of buses) await b.close();
    await rx?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('each decision is notified once across the members, before and after one leaves', async (t) => {
    rx = await startReceiver();
    const config = testConfig('notify-kafka', {
      dataDir,
      brokers: kafkaBrokers(),
      env: { HOOK_SECRET: 'notify-kafka-signing-secret-0123' },
      sections: {
        kafka: { partitions: PARTITIONS },
        notifications: { targets: [{ name: 'soc', url: rx.url, secret_env: 'HOOK_SECRET', kinds: ['block'], aggregate_window: '100ms', rate_limit: '1000/1s' }] },
      },
    });
    const topics = topicNames(config.kafka.topic_prefix);
    const member = async (): Promise<StartedNotifier> => {
      const bus = createBus(config);
      buses.push(bus);
      await bus.ensureTopics(topicSpecs(config, topics));
      const m = await start({ config, bus, topics, control: new ControlState(), ch: undefined, store: undefined });
      assert.ok(m);
      members.push(m);
      return m;
    };
    const [a, b] = [await member(), await member()];
    await until('both members own partitions', () => (a.assignment().length > 0 && b.assignment().length > 0 && a.assignment().length + b.assignment().length === PARTITIONS ? true : undefined), 60_000);

    const producer = buses[0] as Bus;
    let n = 0;
    const decision = (): BlockDecision => {
      n++;
      return { ip: `192.0.2.${n}`, action: 'block', reason: 'kafka group test', source: 'auto', created_at: Date.now(), expires_at: Date.now() + 3_600_000, deployment: null, escalation_level: 0 };
    };
    const notified = (): string[] => rx?.accepted().flatMap((r) => (JSON.parse(r.body) as { items: Array<{ id: string }> }).items.map((i) => i.id)) ?? [];
    const publishTwice = async (ds: BlockDecision[]): Promise<void> => {
      const msgs = ds.map((d) => ({ key: d.ip, value: blockDecisionCodec.encode(d) }));
      await producer.publish(topics.decisions, msgs);
      await producer.publish(topics.decisions, msgs);
    };
    // A new group starts at the end of each partition: first, one decision per partition
    // notified, so every member has settled where it reads.
    const warm = new Set<number>();
    await until('every partition read', async () => {
      const pending = Array.from({ length: 20 }, decision).filter((d) => !warm.has(partitionForKey(d.ip, PARTITIONS)));
      await publishTwice(pending);
      for (const d of pending) if (notified().includes(decisionId(d))) warm.add(partitionForKey(d.ip, PARTITIONS));
      await until('those notified', () => (pending.every((d) => notified().includes(decisionId(d))) ? true : undefined), 5_000).catch(() => undefined);
      for (const d of pending) if (notified().includes(decisionId(d))) warm.add(partitionForKey(d.ip, PARTITIONS));
      return warm.size === PARTITIONS ? true : undefined;
    }, 60_000);

    const batch1 = Array.from({ length: 30 }, decision);
    await publishTwice(batch1);
    await until('the first 30 notified', () => (batch1.every((d) => notified().includes(decisionId(d))) ? true : undefined), 60_000);
    const byA = a.notifier.stats().soc?.deliveredItems ?? 0;
    const byB = b.notifier.stats().soc?.deliveredItems ?? 0;
    assert.ok(byA > 0 && byB > 0, `both members delivered (${byA}, ${byB})`);

    // One member leaves: the other takes its partitions from the committed offsets.
    await b.stop(5000);
    members.splice(members.indexOf(b), 1);
    await until('the other member owns every partition', () => (a.assignment().length === PARTITIONS ? true : undefined), 60_000);
    const batch2 = Array.from({ length: 30 }, decision);
    await publishTwice(batch2);
    await until('the next 30 notified', () => (batch2.every((d) => notified().includes(decisionId(d))) ? true : undefined), 60_000);

    const ids = notified();
    assert.equal(new Set(ids).size, ids.length, 'no decision notified twice');
    t.diagnostic(`${ids.length} decisions notified once each (every one published twice), ${rx.accepted().length} messages; member A delivered ${a.notifier.stats().soc?.deliveredItems} items, member B ${byB} before it left`);
  });
});
