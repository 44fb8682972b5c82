// The sink against the real ClickHouse engine (embedded, or CLICKHOUSE_URL).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { BusMessage, IncomingBatch } from '../../shared/bus/types.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir } from '../../shared/clickhouse/testing.js';
import type { SecurityEvent } from '../../shared/records.js';
import { SPLITS_TABLE, TableSink, cutBatch } from './table-sink.js';

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

const eventMessages = (topic: string, from: number, to: number): BusMessage[] =>
  Array.from({ length: to - from }, (_, i) => ({
    topic, partition: 0, offset: String(from + i), key: null, headers: {}, timestamp: 0, value: securityEventCodec.encode(event(from + i)),
  }));

/** The records of [from, to) as consecutive batches ending at each of `ends` (the last one at `to`). */
function batches(all: BusMessage[], from: number, ends: number[]): IncomingBatch[] {
  const out: IncomingBatch[] = [];
  let start = from;
  for (const end of ends) {
    const messages = all.filter((m) => Number(m.offset) >= start && Number(m.offset) < end);
    out.push({ topic: 'ev', partition: 0, messages, nextOffset: String(end) });
    start = end;
  }
  return out;
}

test('cutBatch: inserts never straddle a block boundary or a known cut, whatever the batch', () => {
  const all = eventMessages('ev', 90, 300);
  const [b] = batches(all, 95, [260]);
  const blocks = cutBatch(b as IncomingBatch, 64n, [100n, 140n, 500n]);
  assert.deepEqual(blocks.map((x) => [Number(x.first), Number(x.end), x.messages.length]), [
    [95, 100, 5], [100, 128, 28], [128, 140, 12], [140, 192, 52], [192, 256, 64], [256, 260, 4],
  ]);
  // Offsets with gaps (compaction, transaction markers): a block is named by its first message and its cut.
  const gappy = all.filter((m) => Number(m.offset) % 3 !== 0);
  const [g] = batches(gappy, 126, [200]);
  const gb = cutBatch(g as IncomingBatch, 64n, []);
  assert.deepEqual(gb.map((x) => [Number(x.first), Number(x.end)]), [[127, 128], [128, 192], [193, 200]]);
});

test('the same records delivered in different batch splits, by successive sinks, are stored once', async () => {
  const t = await openTestClickHouse('sink-splits');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    // The records are on the bus too (offsets 1000..1499): the sink checks its history against the log end.
    const bus = new MemoryBus({ firstOffset: 1000 });
    await bus.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const all = eventMessages('ev', 1000, 1500);
    await bus.publish('ev', all.map((m) => ({ key: null, value: m.value })));
    const sinkFor = (table: string): TableSink<SecurityEvent> =>
      new TableSink<SecurityEvent>({ bus, ch: t.ch, topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table, codec: securityEventCodec, toRow: (e) => e, blockSize: 64 });
    // Each delivery is a new sink (a restart: nothing in memory). It resumes
    // at the committed offset, or replays from anywhere below it (offsets
    // reset), batches as it likes, and dies before committing its last batch,
    // which the next delivery then gets again, cut differently, except shorter
    // than the dead sink's (neither bus does that; see the sink's header).
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % n);
    const deliveries: { from: number; ends: number[] }[] = [];
    let committed = 1000;
    let inFlightEnd = 1000;
    for (let k = 0; k < 12; k++) {
      const from = k % 3 === 2 ? 1000 + rand(committed - 999) : committed;
      const target = k === 11 ? 1500 : Math.min(1500, inFlightEnd + 1 + rand(200));
      const ends: number[] = [];
      for (let e = from; e < target; ) {
        e = Math.min(target, e + 1 + rand(120));
        if (e > committed && e < inFlightEnd) e = inFlightEnd;
        ends.push(e);
      }
      deliveries.push({ from, ends });
      committed = ends.length > 1 ? (ends[ends.length - 2] as number) : from;
      inFlightEnd = ends[ends.length - 1] as number;
    }
    for (const d of deliveries) {
      const sink = sinkFor('events');
      for (const b of batches(all, d.from, d.ends)) await sink.handle(b);
    }
    const [row] = await t.ch.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(id) AS ids FROM ${t.ch.table('events')}`);
    assert.equal(Number(row?.ids), 500, 'every record stored');
    assert.equal(Number(row?.n), 500, 'none twice, across every batching');
    const [rollup] = await t.ch.query<{ n: string }>(`SELECT sum(events) AS n FROM ${t.ch.table('events_by_minute')}`);
    assert.equal(Number(rollup?.n), 500, 'the rollup counts each record once too');
    const [splits] = await t.ch.query<{ n: string }>(`SELECT count(DISTINCT split_end) AS n FROM ${t.ch.table(SPLITS_TABLE)} WHERE tbl = 'events'`);
    assert.ok(Number(splits?.n) > 0, 'partial blocks recorded their cuts');

    // Control: the same deliveries with one token per batch (what a sink
    // without aligned cuts sends) do store rows twice, so the test above can fail.
    await t.ch.command(`CREATE TABLE ${t.ch.table('events_control')} AS ${t.ch.table('events')}`);
    for (const d of deliveries) {
      for (const b of batches(all, d.from, d.ends)) {
        const rows = b.messages.map((m) => securityEventCodec.decode(m.value));
        await t.ch.insert('events_control', rows, { dedupToken: `ev:0:${b.messages[0]?.offset}-${b.nextOffset}` });
      }
    }
    const [ctl] = await t.ch.query<{ n: string }>(`SELECT count() AS n FROM ${t.ch.table('events_control')}`);
    assert.ok(Number(ctl?.n) > 500, `per-batch tokens double rows (${ctl?.n} for 500 records)`);
    await bus.close();
  } finally {
    await t.dispose();
  }
});

test('a partition reset (log end below the recorded history) is not mistaken for a replay: new records are stored', async () => {
  const t = await openTestClickHouse('sink-reset');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const opts = { topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e: SecurityEvent) => e, blockSize: 64 };
    const before = new MemoryBus({ firstOffset: 5000 });
    await before.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const old = eventMessages('ev', 5000, 5100);
    await before.publish('ev', old.map((m) => ({ key: null, value: m.value })));
    const first = new TableSink<SecurityEvent>({ ...opts, bus: before, ch: t.ch });
    for (const b of batches(old, 5000, [5050, 5100])) await first.handle(b);
    // The topic is recreated: offsets start again at 0, with other records.
    const after = new MemoryBus();
    await after.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const fresh = eventMessages('ev', 0, 100).map((m, i) => ({ ...m, value: securityEventCodec.encode(event(10_000 + i)) }));
    await after.publish('ev', fresh.map((m) => ({ key: null, value: m.value })));
    const second = new TableSink<SecurityEvent>({ ...opts, bus: after, ch: t.ch });
    for (const b of batches(fresh, 0, [30, 100])) await second.handle(b);
    const [row] = await t.ch.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(id) AS ids FROM ${t.ch.table('events')}`);
    assert.equal(Number(row?.ids), 200, 'the new records are stored, not skipped as a replay');
    assert.equal(Number(row?.n), 200);
    await before.close();
    await after.close();
  } finally {
    await t.dispose();
  }
});

test('uniqueKey: a record the producer wrote twice (another offset) is stored once; a failed insert retried keeps its records', async () => {
  const t = await openTestClickHouse('sink-unique');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bus = new MemoryBus();
    await bus.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    let fail = true;
    const flaky = new Proxy(t.ch, {
      get(target, prop, receiver) {
        if (prop === 'insert') {
          return async (...args: Parameters<typeof target.insert>) => {
            if (fail) {
              fail = false;
              throw new Error('connection lost (test)');
            }
            return target.insert(...args);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const sink = new TableSink<SecurityEvent>({
      bus, ch: flaky, topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e) => e, uniqueKey: (e) => e.id,
    });
    const msg = (offset: number, i: number): BusMessage => ({ topic: 'ev', partition: 0, offset: String(offset), key: null, headers: {}, timestamp: 0, value: securityEventCodec.encode(event(i)) });
    // Offsets 0..9 hold events 0..9; 10..14 repeat events 5..9 (a producer retry); 15..19 are new.
    const first: IncomingBatch = { topic: 'ev', partition: 0, messages: Array.from({ length: 10 }, (_, i) => msg(i, i)), nextOffset: '10' };
    await assert.rejects(sink.handle(first), /connection lost/);
    await sink.handle(first); // the bus redelivers the failed batch: its records are not "duplicates" of themselves
    await sink.handle({ topic: 'ev', partition: 0, messages: [...Array.from({ length: 5 }, (_, i) => msg(10 + i, 5 + i)), ...Array.from({ length: 5 }, (_, i) => msg(15 + i, 10 + i))], nextOffset: '20' });
    const rows = await t.ch.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(id) AS ids FROM ${t.ch.table('events')}`);
    assert.equal(Number(rows[0]?.ids), 15, 'every event stored');
    assert.equal(Number(rows[0]?.n), 15, 'the repeated ones once');
    await bus.close();
  } finally {
    await t.dispose();
  }
});
