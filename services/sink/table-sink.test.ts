// The sink against the real ClickHouse engine (embedded, or CLICKHOUSE_URL).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { BusMessage, IncomingBatch } from '../../shared/bus/types.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { listEvents } from '../../shared/clickhouse/queries.js';
import { epochMs, ipText, isIdentifier } from '../../shared/clickhouse/sql.js';
import { openTestClickHouse, removeTestDataDir } from '../../shared/clickhouse/testing.js';
import type { AccessRecord, SecurityEvent, SecurityEventType } from '../../shared/records.js';
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

// Strings a text insert format must carry intact: quotes, backslashes, tabs,
// newlines, control characters, non-ASCII (accents, CJK, emoji), empty.
const AWKWARD = ['', 'plain', 'q"uote\'s', 'back\\slash\\', 'tab\there', 'line\nbreak\r\n', 'ctrl\u0001\u001f\u007f', 'é ü 中文 🙂 e\u0301', '[1,"x"]', '{"k":"v"}', 'null'];
const now = Date.now() - 3_600_000;

function awkwardEvent(i: number): SecurityEvent {
  const types: SecurityEventType[] = ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected'];
  const ips = ['203.0.113.7', '2001:db8::1', '::', 'fe80::1ff:fe23:4567:890a', '0.0.0.0', '255.255.255.255'];
  const s = (k: number): string => AWKWARD[k % AWKWARD.length] as string;
  return {
    id: `rt-${i}-${s(i)}`, ts: now + i, type: types[i % types.length] as SecurityEventType, detector: `filter:${s(i + 1)}`,
    ip: ips[i % ips.length] as string, deployment: s(i + 2), count: [0, 1, 4_294_967_295][i % 3] as number,
    window_start: now - 60_000 + i, window_end: now + i,
    sample_paths: i % 4 === 0 ? [] : [s(i), s(i + 3), `/p?a=${s(i + 4)}`],
    details: i % 5 === 0 ? {} : { [s(i + 5) || 'k']: s(i + 6), 'user agent': s(i + 7), [`k${i}`]: '' },
    country: i % 3 === 0 ? null : 'BR', asn: [null, 1, 4_294_967_295][i % 3], as_org: i % 2 ? null : s(i + 8),
  };
}

test('every SecurityEvent field type round-trips through the sink: unicode, quotes, tabs and newlines, IPv4 and IPv6, empty arrays and maps', async () => {
  const t = await openTestClickHouse('sink-roundtrip-events');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bus = new MemoryBus();
    await bus.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const sink = new TableSink<SecurityEvent>({
      bus, ch: t.ch, topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e) => e, uniqueKey: (e) => e.id,
    });
    const sent = Array.from({ length: 66 }, (_, i) => awkwardEvent(i));
    const messages = sent.map((e, i): BusMessage => ({ topic: 'ev', partition: 0, offset: String(i), key: null, headers: {}, timestamp: 0, value: securityEventCodec.encode(e) }));
    await sink.handle({ topic: 'ev', partition: 0, messages, nextOffset: String(messages.length) });
    // Read back the way the API reads events.
    const page = await listEvents(t.ch, { limit: 1000 });
    const byId = (a: SecurityEvent, b: SecurityEvent): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    assert.deepEqual([...page.events].sort(byId), [...sent].sort(byId));
    await bus.close();
  } finally {
    await t.dispose();
  }
});

function awkwardRequest(i: number): AccessRecord {
  const s = (k: number): string => AWKWARD[k % AWKWARD.length] as string;
  const maybe = (k: number): string | null => (i % 3 === 0 ? null : s(k));
  return {
    ts: now + i, node: `node-${s(i)}`, deployment: s(i + 1), client_ip: i % 2 ? '198.51.100.1' : '2001:db8::2', method: ['GET', 'POST', 'PROPFIND'][i % 3] as string,
    host: s(i + 2), path: `/${s(i + 3)}`, query: s(i + 4), status: [0, 200, 404, 599][i % 4] as number, bytes: [0, 1, 2 ** 52 + 1][i % 3] as number,
    request_time: [0, 0.001, 0.123, 12.5, 1234.567][i % 5] as number, upstream_time: i % 2 ? null : [0, 0.25, 3.75][i % 3] as number,
    user_agent: s(i + 5), referer: s(i + 6), country: i % 3 === 0 ? null : 'DE', asn: [null, 64_500, 4_294_967_295][i % 3], as_org: maybe(i + 11),
    auth_user: maybe(i + 7), request_id: `r${i}`,
    blocked_by: maybe(i + 8), filter_alert: maybe(i + 9), extra: i % 4 === 0 ? {} : { [s(i + 10) || 'x']: s(i + 1), 'x-forwarded-for': '1.2.3.4, 5.6.7.8' },
  };
}

test('every AccessRecord field type round-trips through the sink: nulls, doubles, 64-bit counts, maps, IPv6, awkward strings', async () => {
  const t = await openTestClickHouse('sink-roundtrip-requests');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bus = new MemoryBus();
    await bus.ensureTopics([{ topic: 'acc', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    const sink = new TableSink<AccessRecord>({ bus, ch: t.ch, topic: 'acc', deadLetterTopic: 'dlq', groupId: 'g', table: 'requests', codec: accessRecordCodec, toRow: (r) => r });
    const sent = Array.from({ length: 60 }, (_, i) => awkwardRequest(i));
    const messages = sent.map((r, i): BusMessage => ({ topic: 'acc', partition: 0, offset: String(i), key: null, headers: {}, timestamp: 0, value: accessRecordCodec.encode(r) }));
    await sink.handle({ topic: 'acc', partition: 0, messages, nextOffset: String(messages.length) });
    const got = await t.ch.query<Record<string, unknown>>(
      `SELECT ${epochMs('ts')} AS ts, node, deployment, ${ipText('client_ip')} AS client_ip, method, host, path, query, status, bytes, request_time,
              upstream_time, user_agent, referer, country, asn, as_org, auth_user, request_id, blocked_by, filter_alert, extra
       FROM ${t.ch.table('requests')} ORDER BY request_id`,
    );
    const typed = got.map((r) => ({ ...r, ts: Number(r.ts), bytes: Number(r.bytes), asn: r.asn === null ? null : Number(r.asn) }));
    const sorted = [...sent].sort((a, b) => (a.request_id < b.request_id ? -1 : a.request_id > b.request_id ? 1 : 0));
    assert.deepEqual(typed, sorted);
    await bus.close();
  } finally {
    await t.dispose();
  }
});

test('the views on the sinks\' tables group by their targets\' whole sorting key: skipping optimize_on_insert leaves nothing uncollapsed', async () => {
  const t = await openTestClickHouse('sink-views-collapsed');
  try {
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    const bus = new MemoryBus();
    await bus.ensureTopics([{ topic: 'ev', partitions: 1 }, { topic: 'acc', partitions: 1 }, { topic: 'dlq', partitions: 1 }]);
    // Many records per rollup key: few minutes, addresses, deployments, paths, agents.
    const base = Math.floor(now / 3_600_000) * 3_600_000 + 600_000;
    const events = Array.from({ length: 300 }, (_, i): SecurityEvent => ({
      ...event(i), ts: base + (i % 3) * 60_000 + i, ip: `198.51.100.${i % 4}`, deployment: `d${i % 2}`, detector: ['rate', 'not_found'][i % 2] as string,
      type: (['suspicious', 'rate_limited', 'suspicious'] as const)[i % 3] ?? 'suspicious', sample_paths: ['/a', `/b${i % 3}`],
    }));
    const requests = Array.from({ length: 300 }, (_, i): AccessRecord => ({
      ...awkwardRequest(i), ts: base + (i % 3) * 60_000 + i, deployment: `d${i % 2}`, user_agent: `ua${i % 3}`, country: i % 2 ? 'DE' : null, status: [200, 404][i % 2] as number,
    }));
    const msgs = <T extends object>(topic: string, codec: { encode(v: T): Buffer }, records: T[]): IncomingBatch => ({
      topic, partition: 0, nextOffset: String(records.length),
      messages: records.map((r, i) => ({ topic, partition: 0, offset: String(i), key: null, headers: {}, timestamp: 0, value: codec.encode(r) })),
    });
    // One batch each: one insert, so one part per table and partition, and no merge has run.
    await new TableSink<SecurityEvent>({ bus, ch: t.ch, topic: 'ev', deadLetterTopic: 'dlq', groupId: 'g', table: 'events', codec: securityEventCodec, toRow: (e) => e })
      .handle(msgs('ev', securityEventCodec, events));
    await new TableSink<AccessRecord>({ bus, ch: t.ch, topic: 'acc', deadLetterTopic: 'dlq', groupId: 'g', table: 'requests', codec: accessRecordCodec, toRow: (r) => r })
      .handle(msgs('acc', accessRecordCodec, requests));
    const rollups = await t.ch.query<{ name: string; sorting_key: string }>(
      `SELECT name, sorting_key FROM system.tables WHERE database = {db:String} AND engine IN ('SummingMergeTree', 'AggregatingMergeTree', 'ReplicatedSummingMergeTree', 'ReplicatedAggregatingMergeTree') ORDER BY name`,
      { db: t.ch.database },
    );
    assert.ok(rollups.length >= 8, `the rollups: ${rollups.map((r) => r.name).join(', ')}`);
    for (const { name, sorting_key } of rollups) {
      const key = sorting_key.split(', ');
      assert.ok(isIdentifier(name) && key.every(isIdentifier), `${name}: ${sorting_key}`);
      const [r] = await t.ch.query<{ rows: string; keys: string }>(`SELECT count() AS rows, uniqExact(${key.join(', ')}) AS keys FROM ${t.ch.table(name)}`);
      assert.ok(Number(r?.rows) > 0, `${name} was fed`);
      assert.equal(Number(r?.rows), Number(r?.keys), `${name}: one row per sorting key after one insert`);
    }
    await bus.close();
  } finally {
    await t.dispose();
  }
});
