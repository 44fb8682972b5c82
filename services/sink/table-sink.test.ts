// The sink against the real ClickHouse engine (embedded, or CLICKHOUSE_URL).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { IncomingBatch } from '../../shared/bus/types.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir } from '../../shared/clickhouse/testing.js';
import type { SecurityEvent } from '../../shared/records.js';
import { TableSink } from './table-sink.js';

after(() => removeTestDataDir());

const event = (i: number): SecurityEvent => ({
  id: `ev-${i}`, ts: 1_795_240_800_000 + i, type: 'suspicious', detector: 'not_found', ip: `198.51.100.${i % 200}`, deployment: 'shop',
  count: 10 + i, window_start: 1_795_240_700_000, window_end: 1_795_240_800_000 + i, sample_paths: ['/a'], details: { k: 'v' },
});

test('a batch delivered twice is stored once; an undecodable record is dead-lettered, the rest stored', async () => {
  const t = await openTestClickHouse('sink');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bus = new MemoryBus();
    await bus.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const sink = new TableSink<SecurityEvent>({ bus, ch: t.ch, topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e) => e });
    const messages = Array.from({ length: 50 }, (_, i) => ({
      topic: 'ev', partition: 0, offset: String(100 + i), key: null, headers: {}, timestamp: 0,
      value: i === 7 ? Buffer.from('not avro') : securityEventCodec.encode(event(i)),
    }));
    const batch: IncomingBatch = { topic: 'ev', partition: 0, messages, nextOffset: '150' };
    await sink.handle(batch);
    await sink.handle(batch); // a retry after a lost acknowledgement, or a replay
    const rows = await t.ch.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(id) AS ids FROM ${t.ch.table('events')}`);
    assert.equal(Number(rows[0]?.n), 49, 'no doubled rows');
    assert.equal(Number(rows[0]?.ids), 49);
    const dead = (await bus.endOffsets('dlq')).reduce((n, o) => n + Number(o.offset), 0);
    assert.ok(dead >= 1, 'the undecodable record went to the dead-letter topic');
    await bus.close();
  } finally {
    await t.dispose();
  }
});

test('a sink that dies mid-batch (insert failed, nothing committed) loses nothing: its successor stores every record once', async () => {
  const t = await openTestClickHouse('sink-restart');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bus = new MemoryBus();
    await bus.ensureTopics([{ topic: 'ev2', partitions: 2 }, { topic: 'dlq2', partitions: 1 }]);
    await bus.publish('ev2', Array.from({ length: 300 }, (_, i) => ({ key: `k${i % 7}`, value: securityEventCodec.encode(event(i)) })));
    // The first sink's connection dies after its first insert: later inserts fail, nothing more is committed.
    let inserts = 0;
    const dying = new Proxy(t.ch, {
      get(target, prop, receiver) {
        if (prop === 'insert') {
          return async (...args: Parameters<typeof target.insert>) => {
            if (inserts++ >= 1) throw new Error('connection lost (test)');
            return target.insert(...args);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const opts = { bus, topic: 'ev2', deadLetterTopic: 'dlq2', groupId: 'sink', table: 'events', codec: securityEventCodec, toRow: (e: SecurityEvent) => e, maxBatchSize: 50 };
    const first = new TableSink<SecurityEvent>({ ...opts, ch: dying });
    await first.start();
    const deadline = Date.now() + 10_000;
    while (inserts < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await first.close();
    const second = new TableSink<SecurityEvent>({ ...opts, ch: t.ch });
    await second.start();
    let n = 0;
    const deadline2 = Date.now() + 20_000;
    while (n < 300 && Date.now() < deadline2) {
      n = Number((await t.ch.query<{ n: string }>(`SELECT count() AS n FROM ${t.ch.table('events')}`))[0]?.n);
      await new Promise((r) => setTimeout(r, 50));
    }
    await second.close();
    await bus.close();
    const rows = await t.ch.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(id) AS ids FROM ${t.ch.table('events')}`);
    assert.equal(Number(rows[0]?.ids), 300, 'every record stored');
    assert.equal(Number(rows[0]?.n), 300, 'none twice');
  } finally {
    await t.dispose();
  }
});
