// One contract, two buses: the same tests run against the in-process bus and
// against the real Kafka broker that `npm test` starts (infra/kafka).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaBrokers, testProducerClient, unitOnly, uniqueName } from '../testing/kafka.js';
import { KafkaBus } from './kafka.js';
import { MemoryBus } from './memory.js';
import { partitionForKey } from './murmur2.js';
import type { Bus, BusMessage, IncomingBatch, Subscription } from './types.js';

const PARTITIONS = 4;

async function waitFor(what: string, cond: () => boolean, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(25);
  }
}

const impls: Array<{ name: string; skip: boolean; make: () => Bus }> = [
  { name: 'memory', skip: false, make: () => new MemoryBus() },
  {
    name: 'kafka',
    skip: unitOnly(),
    make: () => new KafkaBus({ brokers: kafkaBrokers(), clientId: 'contract-test', acks: 'all', compression: 'none', replicationFactor: 1 }),
  },
  // Its publish on librdkafka (kafka.producer_client), consumers on kafkajs: only when the run asks for it (the package is opt-in).
  {
    name: 'kafka, librdkafka producer',
    skip: unitOnly() || testProducerClient() !== 'librdkafka',
    make: () => new KafkaBus({ brokers: kafkaBrokers(), clientId: 'contract-test-rd', acks: 'all', compression: 'none', replicationFactor: 1, producerClient: 'librdkafka' }),
  },
];

for (const impl of impls) {
  const why = unitOnly() ? 'unit-only run' : 'LOGWARDEN_TEST_PRODUCER_CLIENT=librdkafka not set (infra/kafka/install-librdkafka.sh installs it)';
  describe(`bus contract: ${impl.name}`, { skip: impl.skip && why }, () => {
    const bus = impl.skip ? undefined : impl.make();
    const subs: Subscription[] = [];
    after(async () => {
      await Promise.all(subs.map((s) => s.close()));
      await bus?.close();
    });
    const b = (): Bus => bus as Bus;

    async function freshTopic(compacted = false): Promise<string> {
      const topic = uniqueName('contract');
      await b().ensureTopics([{ topic, partitions: PARTITIONS, compacted }]);
      return topic;
    }

    async function collect(topic: string, groupId: string, opts: { fromBeginning?: boolean; fail?: (batch: IncomingBatch) => boolean; error?: () => Error } = {}) {
      const got: BusMessage[] = [];
      const batches: IncomingBatch[] = [];
      const sub = await b().subscribe({
        groupId,
        topics: [topic],
        fromBeginning: opts.fromBeginning ?? true,
        onBatch: (batch) => {
          batches.push(batch);
          if (opts.fail?.(batch)) return Promise.reject(opts.error?.() ?? new Error('handler failure (test)'));
          got.push(...batch.messages);
          return Promise.resolve();
        },
      });
      subs.push(sub);
      return { got, batches, sub };
    }

    test('a key always lands on the partition Kafka’s partitioner picks, in order', async () => {
      const topic = await freshTopic();
      const keys = Array.from({ length: 20 }, (_, i) => `198.51.100.${i}`);
      const msgs = Array.from({ length: 200 }, (_, i) => ({ key: keys[i % keys.length] as string, value: Buffer.from(String(i)) }));
      await b().publish(topic, msgs);
      const { got } = await collect(topic, uniqueName('g'));
      await waitFor('200 messages', () => got.length >= 200);
      assert.equal(got.length, 200);
      for (const key of keys) {
        const mine = got.filter((m) => m.key?.toString() === key);
        assert.equal(mine.length, 10, key);
        assert.ok(mine.every((m) => m.partition === partitionForKey(key, PARTITIONS)), `${key} on one partition`);
        const values = mine.map((m) => Number(m.value.toString()));
        assert.deepEqual(values, [...values].sort((x, y) => x - y), `${key} in order`);
      }
      for (const m of got) assert.equal(m.topic, topic);
    });

    test('offsets advance only after the handler succeeds; a new member resumes after the commit', async () => {
      const topic = await freshTopic();
      const groupId = uniqueName('g');
      await b().publish(topic, Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 8}`, value: Buffer.from(String(i)) })));
      let failures = 0;
      const first = await collect(topic, groupId, { fail: () => failures++ < 2 });
      await waitFor('40 distinct messages', () => new Set(first.got.map((m) => m.value.toString())).size >= 40);
      assert.equal(failures > 2, true, 'the handler failed twice before succeeding');
      const failedBatch = first.batches[0] as IncomingBatch;
      for (const m of failedBatch.messages) {
        assert.ok(first.got.some((g) => g.partition === m.partition && g.offset === m.offset), `failed message ${m.offset} redelivered`);
      }
      // Everything was committed: a later member of the group sees only what comes next.
      await first.sub.close();
      const committed = await b().committedOffsets(groupId, topic);
      const ends = await b().endOffsets(topic);
      assert.deepEqual(committed, ends.filter((e) => e.offset !== '0'), 'committed offsets reached the log end');
      await b().publish(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`late-${i}`) })));
      const second = await collect(topic, groupId);
      await waitFor('10 late messages', () => second.got.length >= 10);
      await sleep(300);
      assert.deepEqual(second.got.map((m) => m.value.toString()).sort(), Array.from({ length: 10 }, (_, i) => `late-${i}`).sort());
    });

    test('a handler failure kafkajs would not retry (a TypeError) stops nothing: the batch comes again', async () => {
      const topic = await freshTopic();
      await b().publish(topic, Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 4}`, value: Buffer.from(String(i)) })));
      let failures = 0;
      const { got } = await collect(topic, uniqueName('g'), { fail: () => failures++ < 1, error: () => new TypeError('handler bug (test)') });
      await waitFor('20 distinct messages', () => new Set(got.map((m) => m.value.toString())).size >= 20);
      assert.deepEqual([...new Set(got.map((m) => m.value.toString()))].sort(), Array.from({ length: 20 }, (_, i) => String(i)).sort());
      assert.ok(failures >= 2, 'the handler failed once, then ran again');
    });

    test('members of one group split the partitions and every message reaches one of them', async () => {
      const topic = await freshTopic();
      const groupId = uniqueName('g');
      const a = await collect(topic, groupId);
      const c = await collect(topic, groupId);
      await waitFor('both members assigned', () => {
        const pa = a.sub.assignment();
        const pc = c.sub.assignment();
        return pa.length > 0 && pc.length > 0 && pa.length + pc.length === PARTITIONS;
      });
      const owned = [...a.sub.assignment(), ...c.sub.assignment()].map((p) => p.partition).sort();
      assert.deepEqual(owned, [0, 1, 2, 3]);
      await b().publish(topic, Array.from({ length: 100 }, (_, i) => ({ key: `ip-${i}`, value: Buffer.from(String(i)) })));
      await waitFor('100 messages across members', () => a.got.length + c.got.length >= 100);
      await sleep(300);
      assert.equal(a.got.length + c.got.length, 100);
      const ownerOfA = new Set(a.sub.assignment().map((p) => p.partition));
      assert.ok(a.got.every((m) => ownerOfA.has(m.partition)));
      assert.ok(c.got.every((m) => !ownerOfA.has(m.partition)));
    });

    test('offsets by timestamp find the first message at or after the time, and seek replays from there', async () => {
      const topic = await freshTopic();
      const t0 = Date.now() - 600_000;
      const stamps = [t0, t0 + 60_000, t0 + 120_000];
      for (const [phase, ts] of stamps.entries()) {
        await b().publish(topic, Array.from({ length: 12 }, (_, i) => ({ key: `ip-${i}`, value: Buffer.from(`${phase}:${i}`), timestamp: ts })));
      }
      const ends = await b().endOffsets(topic);
      assert.equal(ends.reduce((n, e) => n + Number(e.offset), 0), 36, 'end offsets sum to the messages published');
      const offsets = await b().offsetsForTimestamp(topic, t0 + 90_000);
      assert.equal(offsets.length, PARTITIONS);
      const { got, sub } = await collect(topic, uniqueName('g'));
      await waitFor('36 messages', () => got.length >= 36);
      for (const { partition, offset } of offsets) {
        const first = got.find((m) => m.partition === partition && m.timestamp >= t0 + 90_000);
        if (first) assert.equal(offset, first.offset, `partition ${partition}`);
      }
      assert.ok(got.every((m) => stamps.includes(m.timestamp)), 'timestamps kept');
      got.length = 0;
      for (const { partition, offset } of offsets) sub.seek(topic, partition, offset);
      await waitFor('12 replayed messages', () => got.length >= 12);
      await sleep(300);
      assert.equal(got.length, 12);
      assert.ok(got.every((m) => m.value.toString().startsWith('2:')), 'only the last phase is replayed');
    });

    test('a time after the publish is stored as the publish\'s time (Kafka 4 refuses records over an hour ahead)', async () => {
      const topic = await freshTopic();
      const before = Date.now();
      const past = before - 86_400_000;
      await b().publish(topic, [
        { key: 'ahead', value: Buffer.from('ahead'), timestamp: before + 7_200_000 },
        { key: 'past', value: Buffer.from('past'), timestamp: past },
      ]);
      const after = Date.now();
      const { got } = await collect(topic, uniqueName('g'));
      await waitFor('2 messages', () => got.length >= 2);
      const at = (v: string): number => got.find((m) => m.value.toString() === v)?.timestamp ?? Number.NaN;
      assert.ok(at('ahead') >= before && at('ahead') <= after, `ahead stored at ${at('ahead')}, published within [${before}, ${after}]`);
      assert.equal(at('past'), past, 'a time before the publish is kept');
    });

    test('headers and binary values arrive unchanged', async () => {
      const topic = await freshTopic();
      const value = Buffer.from([0, 1, 2, 255, 0, 10, 13]);
      await b().publish(topic, [{ key: null, value, headers: { reason: 'bad_format', source: 'udp' } }]);
      const { got } = await collect(topic, uniqueName('g'));
      await waitFor('1 message', () => got.length >= 1);
      assert.deepEqual(got[0]?.value, value);
      assert.deepEqual(got[0]?.headers, { reason: 'bad_format', source: 'udp' });
      assert.equal(got[0]?.key, null);
    });
  });
}
