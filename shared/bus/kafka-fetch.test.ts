// How much a Kafka consumer's batch holds (fetchBytesPerPartition, accumulate),
// on the real broker: a sink pays per batch, so these decide how many inserts
// a backlog or a trickle of records costs it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaBrokers, unitOnly, uniqueName } from '../testing/kafka.js';
import { until } from '../testing/wait.js';
import { fetchSizes } from './kafka-requests.js';
import { KafkaBus } from './kafka.js';
import type { IncomingBatch, SubscribeOptions, Subscription } from './types.js';

test('fetch limits: kafkajs defaults unless asked', () => {
  assert.deepEqual(fetchSizes(undefined, undefined), { maxBytesPerPartition: 1_048_576, maxBytes: 10_485_760, minBytes: 1, maxWaitTimeInMs: 5_000 });
  assert.deepEqual(fetchSizes(16 * 1_048_576, { bytes: 1_048_576, waitMs: 1_000 }), {
    maxBytesPerPartition: 16 * 1_048_576,
    maxBytes: 32 * 1_048_576,
    minBytes: 1_048_576,
    maxWaitTimeInMs: 1_000,
  });
});

/** Waits for `cond` (a bound for a hang, not a speed). */
const waitFor = (what: string, cond: () => boolean): Promise<true> => until(what, () => (cond() ? true : undefined), 60_000, 25);

describe('Kafka fetch sizes (real broker)', { skip: unitOnly() && 'unit-only run' }, () => {
  const bus = unitOnly() ? undefined : new KafkaBus({ brokers: kafkaBrokers(), clientId: 'fetch-test', acks: 'all', compression: 'none', replicationFactor: 1 });
  const subs: Subscription[] = [];
  after(async () => {
    await Promise.all(subs.map((s) => s.close()));
    await bus?.close();
  });

  /** Subscribes a new group to `topic` from its start; its batches' sizes, in order. */
  async function sizes(topic: string, opts: Partial<SubscribeOptions> = {}): Promise<number[]> {
    const seen: number[] = [];
    let assigned = false;
    subs.push(
      await (bus as KafkaBus).subscribe({
        groupId: uniqueName('fetch'),
        topics: [topic],
        fromBeginning: true,
        maxBatchSize: 100_000,
        onAssign: () => {
          assigned = true;
        },
        onBatch: (b: IncomingBatch) => {
          seen.push(b.messages.length);
          return Promise.resolve();
        },
        ...opts,
      }),
    );
    await waitFor('the assignment', () => assigned);
    return seen;
  }
  const total = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

  test('a backlog of 3 MiB on one partition: batches of 1 MiB by default, one batch with 16 MiB a partition', async () => {
    const topic = uniqueName('fetch-backlog');
    await (bus as KafkaBus).ensureTopics([{ topic, partitions: 1 }]);
    // 3,000 records of 1 KiB, in sends of 500 (each under the broker's 1 MiB a batch).
    for (let i = 0; i < 3_000; i += 500) {
      await (bus as KafkaBus).publish(topic, Array.from({ length: 500 }, (_, k) => ({ key: 'k', value: Buffer.alloc(1024, i + k) })));
    }
    const small = await sizes(topic);
    const large = await sizes(topic, { fetchBytesPerPartition: 16 * 1_048_576 });
    await waitFor('every record in both groups', () => total(small) === 3_000 && total(large) === 3_000);
    assert.ok(small.length >= 3, `default: ${small.join(', ')}`);
    assert.deepEqual(large, [3_000]);
  });

  test('a trickle: a batch a record by default, a few batches when fetches accumulate', async () => {
    const topic = uniqueName('fetch-trickle');
    await (bus as KafkaBus).ensureTopics([{ topic, partitions: 1 }]);
    const eager = await sizes(topic);
    const patient = await sizes(topic, { accumulate: { bytes: 1_048_576, waitMs: 3_000 } });
    for (let i = 0; i < 10; i++) {
      await (bus as KafkaBus).publish(topic, [{ key: 'k', value: Buffer.from(`r${i}`) }]);
      await sleep(150);
    }
    await waitFor('the ten records in both groups', () => total(eager) === 10 && total(patient) === 10);
    // A fetch that started before the trickle can cut it once more than the wait does.
    assert.ok(patient.length <= 2, `accumulating: ${patient.join(', ')}`);
    assert.ok(eager.length >= 5, `default: ${eager.join(', ')}`);
  });
});
