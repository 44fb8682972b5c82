// kafka.producer_client librdkafka against a broker of this test's own, stopped while
// the producer is connected: the publish then fails as unavailable (the ingester holds
// its records and publishes again), and once the broker is back the same bus publishes
// again. Only when the run asks for the librdkafka producer
// (LOGWARDEN_TEST_PRODUCER_CLIENT=librdkafka; the package is opt-in); asked for and
// not installed, it fails under CI=true, naming what is missing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrivateBroker, testProducerClient, unitOnly, uniqueName } from '../testing/kafka.js';
import { requireTool } from '../testing/require-tool.js';
import { KafkaBus } from './kafka.js';
import { rdkafkaInstalled } from './rdkafka-producer.js';
import { isBusUnavailable, type OutgoingMessage } from './types.js';

const installed = await rdkafkaInstalled();
const skip = unitOnly()
  ? 'unit-only run'
  : testProducerClient() !== 'librdkafka'
    ? 'LOGWARDEN_TEST_PRODUCER_CLIENT=librdkafka not set'
    : requireTool('@confluentinc/kafka-javascript (infra/kafka/install-librdkafka.sh installs it)', installed);

const broker = new PrivateBroker();
const opened: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of opened.reverse()) await close().catch(() => undefined);
  broker.dispose();
});

const records = (from: number, n: number): OutgoingMessage[] =>
  Array.from({ length: n }, (_, i) => ({ key: `10.0.0.${(from + i) % 50}`, value: Buffer.from(`record ${from + i}`), timestamp: 1_795_240_800_000 + from + i }));

test('librdkafka producer: the broker lost while connected fails a publish as unavailable; back, the same bus publishes again', { skip, timeout: 240_000 }, async () => {
  const brokers = await broker.start();
  const bus = new KafkaBus({ brokers, clientId: 'rdkafka-outage', acks: 'all', compression: 'none', replicationFactor: 1, producerClient: 'librdkafka' });
  opened.push(() => bus.close());
  const topic = uniqueName('rdkafka');
  await bus.ensureTopics([{ topic, partitions: 3 }]);
  const total = async (): Promise<number> => (await bus.endOffsets(topic)).reduce((n, o) => n + Number(o.offset), 0);

  await bus.publish(topic, records(0, 100));
  assert.equal(await total(), 100, 'every record acknowledged is on the topic');

  broker.stop();
  const failed = await bus.publish(topic, records(100, 10)).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(failed instanceof Error, 'a publish with the broker gone fails');
  assert.equal(isBusUnavailable(failed), true, `unavailable, so retried: ${String(failed)}`);

  await broker.start();
  // As the ingester does: the same records again until the bus takes them.
  let published = false;
  for (let attempt = 0; attempt < 20 && !published; attempt++) {
    published = await bus.publish(topic, records(100, 10)).then(
      () => true,
      async (err: unknown) => {
        assert.equal(isBusUnavailable(err), true, `unavailable, so retried: ${String(err)}`);
        await sleep(1_000);
        return false;
      },
    );
  }
  assert.ok(published, 'the same bus publishes once the broker is back');
  const after = await total();
  // The failed attempt's records may have reached the broker before it stopped (at least once, as any retry).
  assert.ok(after >= 110 && after <= 120, `110 to 120 records on the topic, found ${after}`);
});
