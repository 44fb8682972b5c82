// Compressed Kafka against the real broker: records a producer wrote with gzip,
// lz4 or zstd are read back whole by a consumer configured with no compression
// at all (every client reads every codec), and consumer lag reaches zero.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { registry } from '../metrics.js';
import { probe } from '../testing/bus-probe.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../testing/kafka.js';
import type { Compression } from './codecs.js';
import { KafkaBus } from './kafka.js';

const make = (compression: Compression): KafkaBus => new KafkaBus({ brokers: kafkaBrokers(), clientId: 'compression-test', acks: 'all', compression, replicationFactor: 1 });

describe('compressed Kafka', { skip: unitOnly() && 'unit-only run' }, () => {
  const reader = unitOnly() ? undefined : make('none');
  after(async () => reader?.close());

  for (const codec of ['gzip', 'lz4', 'zstd'] as const) {
    test(`${codec}: 500 records written compressed are read back whole by a client without that setting`, { timeout: 90_000 }, async () => {
      const writer = make(codec);
      const topic = uniqueName(`compress-${codec}`);
      const group = uniqueName('compress-reader');
      try {
        await writer.ensureTopics([{ topic, partitions: 2 }]);
        // Repetitive values, as access records are: something for the codec to compress.
        const sent = Array.from({ length: 500 }, (_, i) => ({ key: Buffer.from(`k${i % 7}`), value: Buffer.from(`{"ip":"198.51.100.${i % 250}","path":"/products/${i}","ua":"Mozilla/5.0 (X11; Linux x86_64)","n":${i}}`) }));
        await writer.publish(topic, sent);
        const p = await probe(reader as KafkaBus, topic, (m) => m, group);
        const got = [...(await p.atLeast(sent.length))];
        await p.close();
        assert.deepEqual(got.map((m) => m.value.toString()).sort(), sent.map((m) => m.value.toString()).sort());
        const lag = (await registry.getSingleMetric('logwarden_bus_consumer_lag')?.get())?.values.filter((v) => v.labels.group === group) ?? [];
        assert.ok(lag.length > 0 && lag.every((v) => v.value === 0), `lag reaches 0 (${JSON.stringify(lag.map((v) => v.value))})`);
      } finally {
        await writer.close();
      }
    });
  }
});
