// Rows ClickHouse refuses, against the real engine (embedded, or CLICKHOUSE_URL):
// an event whose address is not one passes Avro but not the `events` table's
// IPv6 column. The refused rows go to the dead-letter topic with their reason,
// the rest of the batch is stored once, and the batch is committed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { BusMessage, IncomingBatch } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import { ClickHouseUnavailableError } from '../../shared/clickhouse/errors.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir } from '../../shared/clickhouse/testing.js';
import { registry } from '../../shared/metrics.js';
import type { SecurityEvent } from '../../shared/records.js';
import { TableSink } from './table-sink.js';

after(() => removeTestDataDir());

const event = (i: number, ip = `198.51.100.${i % 200}`): SecurityEvent => ({
  id: `ev-${i}`, ts: 1_795_240_800_000 + i, type: 'suspicious', detector: 'not_found', ip, deployment: 'shop',
  count: 1, window_start: 1_795_240_700_000, window_end: 1_795_240_800_000 + i, sample_paths: ['/a'], details: {},
});

const counts = async (ch: ClickHouse, idPrefix = 'ev-'): Promise<{ n: number; ids: number }> => {
  const [r] = await ch.query<{ n: string; ids: string }>(
    `SELECT toString(count()) AS n, toString(uniqExact(id)) AS ids FROM ${ch.table('events')} WHERE startsWith(id, {p:String})`,
    { p: idPrefix },
  );
  return { n: Number(r?.n ?? 0), ids: Number(r?.ids ?? 0) };
};

const deadLettered = async (reason: string): Promise<number> => {
  const metric = await registry.getSingleMetric('logwarden_sink_dead_letters_total')?.get();
  return metric?.values.find((v) => v.labels.table === 'events' && v.labels.reason === reason)?.value ?? 0;
};

test('a row ClickHouse refuses is dead-lettered with its reason and counted; the rest is stored and the batch committed', { timeout: 60_000 }, async () => {
  const t = await openTestClickHouse('sink-refused');
  const bus = new MemoryBus();
  const sink = new TableSink<SecurityEvent>({
    bus, ch: t.ch, topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e) => e, maxBatchSize: 50,
  });
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    await bus.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const bad = new Set([37, 90]);
    const before = await deadLettered('cannot_parse');
    await bus.publish('ev', Array.from({ length: 120 }, (_, i) => ({ key: null, value: securityEventCodec.encode(event(i, bad.has(i) ? 'not-an-ip' : undefined)) })));
    await sink.start();
    const deadline = Date.now() + 20_000;
    let committed = 0;
    while (committed < 120 && Date.now() < deadline) {
      await sleep(50);
      committed = (await bus.committedOffsets('g', 'ev')).reduce((n, o) => n + Number(o.offset), 0);
    }
    assert.equal(committed, 120, 'the batches holding a refused row are committed, not redelivered forever');
    assert.deepEqual(await counts(t.ch), { n: 118, ids: 118 }, 'every other row stored, once');
    const dlq = bus.partition('dlq', 0).messages;
    assert.deepEqual(dlq.map((m) => [m.headers.offset, m.headers.reason, m.headers.table]), [['37', 'cannot_parse', 'events'], ['90', 'cannot_parse', 'events']]);
    assert.match(dlq[0]?.headers.detail ?? '', /IPv6/, 'the dead letter says what ClickHouse refused');
    assert.equal(securityEventCodec.decode(dlq[0]?.value as Buffer).id, 'ev-37', 'the record itself is kept');
    assert.equal((await deadLettered('cannot_parse')) - before, 2, 'counted by reason');
  } finally {
    await sink.close();
    await bus.close();
    await t.dispose();
  }
});

test('a refused batch redelivered after the sink died while isolating its refused rows, cut differently: no row doubled or lost', { timeout: 120_000 }, async () => {
  const t = await openTestClickHouse('sink-refused-redelivery');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bad = new Set([133, 170, 230]);
    // The first delivery dies after `k` calls to ClickHouse: at every stage of the isolation, by k.
    for (const k of [0, 1, 2, 3, 5, 8, 13, 21]) {
      const topic = `ev${k}`;
      const bus = new MemoryBus({ firstOffset: 100 });
      await bus.ensureTopics([{ topic, partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
      const ev = (i: number): SecurityEvent => ({ ...event(i, bad.has(i) ? 'not-an-ip' : undefined), id: `k${k}-${i}` });
      await bus.publish(topic, Array.from({ length: 160 }, (_, i) => ({ key: null, value: securityEventCodec.encode(ev(100 + i)) })));
      const all: BusMessage[] = bus.partition(topic, 0).messages.map((m) => ({ ...m }));
      const batch = (to: number): IncomingBatch => ({ topic, partition: 0, messages: all.filter((m) => Number(m.offset) < to), nextOffset: String(to) });
      let calls = 0;
      const dying = new Proxy(t.ch, {
        get(target, prop, receiver) {
          if (prop === 'insert') {
            return async (...args: Parameters<ClickHouse['insert']>) => {
              if (calls++ >= k) throw new ClickHouseUnavailableError('connection lost (test)');
              return target.insert(...args);
            };
          }
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      const sinkOn = (ch: ClickHouse): TableSink<SecurityEvent> =>
        new TableSink<SecurityEvent>({ bus, ch, topic, deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e) => e, blockSize: 64 });
      // [100, 200) dies; its successor gets [100, 260) (more arrived meanwhile), then again (its acknowledgement lost).
      await assert.rejects(sinkOn(dying).handle(batch(200)), /connection lost/);
      const successor = sinkOn(t.ch);
      await successor.handle(batch(260));
      await sinkOn(t.ch).handle(batch(260));
      assert.deepEqual(await counts(t.ch, `k${k}-`), { n: 157, ids: 157 }, `died after ${k} calls: every accepted row once`);
      const offsets = new Set(bus.partition('dlq', 0).messages.map((m) => m.headers.offset));
      assert.deepEqual([...offsets].sort(), ['133', '170', '230'], `died after ${k} calls: the refused rows dead-lettered`);
      await bus.close();
    }
  } finally {
    await t.dispose();
  }
});
