// A send the broker refuses for one partition: Kafka stores the request's
// other partitions, kafkajs throws for the whole send and takes back the
// batch numbers of every partition in it. What the bus stored must be neither
// stored again nor shadow the next records (real broker, kafkajs; librdkafka
// names what it stored from its delivery reports: test:librdkafka).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { KafkaBus } from './kafka.js';
import { publishIsolating } from './refusals.js';
import type { BusMessage, OutgoingMessage } from './types.js';
import { kafkaBrokers, testProducerClient, unitOnly, uniqueName } from '../testing/kafka.js';
import { until } from '../testing/wait.js';

const LIMIT = 2048;

test('one partition of a send refused: every other record stored once, and the records after it stored too', { skip: unitOnly() && 'unit-only run', timeout: 120_000 }, async () => {
  const brokers = kafkaBrokers();
  const topic = uniqueName('bus-refused');
  const admin = new kafkajs.Kafka({ clientId: uniqueName('bus-refused-admin'), brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  const bus = new KafkaBus({ brokers, clientId: uniqueName('bus-refused'), acks: 'all', compression: 'none', replicationFactor: 1, producerClient: testProducerClient() });
  try {
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: String(LIMIT) }] }] });
    // Small records on every partition, and one over the limit: its partition's batch is refused, the others' stored.
    const first: OutgoingMessage[] = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`a${i}`) }));
    first.splice(5, 0, { key: 'big', value: Buffer.alloc(LIMIT + 500, 0x62) });
    const refused = await publishIsolating(bus, topic, first, new Set());
    assert.deepEqual(refused.map((r) => r.message.key), ['big']);
    // The same keys again: their partitions' next batches must be stored, not taken for the ones before.
    const second: OutgoingMessage[] = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`b${i}`) }));
    assert.deepEqual(await publishIsolating(bus, topic, second, new Set()), []);

    const got: BusMessage[] = [];
    const sub = await bus.subscribe({ groupId: uniqueName('bus-refused-read'), topics: [topic], fromBeginning: true, onBatch: (b) => {
      got.push(...b.messages);
      return Promise.resolve();
    } });
    try {
      await until('what the topic holds', async () => {
        const end = (await bus.endOffsets(topic)).reduce((n, o) => n + Number(o.offset), 0);
        return got.length >= end && end > 0 ? true : undefined;
      }, 60_000, 100);
    } finally {
      await sub.close();
    }
    const values = got.map((m) => m.value.toString()).sort();
    const want = [...first.filter((m) => m.key !== 'big'), ...second].map((m) => m.value.toString()).sort();
    assert.deepEqual(values, want, 'each record once');
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await bus.close();
  }
});
