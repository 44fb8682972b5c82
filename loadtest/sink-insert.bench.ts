// Sink insert rate and topic → queryable latency, through the real TableSink
// configured as the runtime's events sink (Avro decode, uniqueKey on the event
// id, cuts and sink_splits rows, dedup tokens, inserts through the rollups'
// materialized views) into the embedded engine, with the in-process bus
// (MemoryBus) as the source. The data dir is a temporary dir, removed at the
// end.
//   node dist/loadtest/sink-insert.bench.js [--events 2000000] [--partitions 4] [--batch 50000] [--probes 200]
//   (--batch: the sink's batch and insert block size; 50000 is clickhouse.sink_batch_rows' default)
//
// 1. Throughput: N events published up front, then one sink drains them;
//    rows/s = N / (time until ClickHouse holds all N). Its peer: the same
//    sink, every insert sent as the JSON body (what the sink sent before
//    Native blocks, insert-rows.ts's insertJson). Four drains one after the
//    other, JSON, Native, Native, JSON, each into its own database (the
//    engine runs one statement at a time, so side by side the two would only
//    take turns).
// 2. Latency: with the sink caught up, one event published every 25 ms; a
//    poller counts rows continuously, and an event's latency is the time from
//    its publish to the first count that includes it.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { securityEventCodec } from '../shared/avro/codec.js';
import { MemoryBus } from '../shared/bus/memory.js';
import { openClickHouse, type ClickHouse } from '../shared/clickhouse/client.js';
import { insertSettings } from '../shared/clickhouse/insert-settings.js';
import { insertJson } from '../shared/clickhouse/insert-rows.js';
import { migrate } from '../shared/clickhouse/migrate.js';
import { registry } from '../shared/metrics.js';
import type { SecurityEvent } from '../shared/records.js';
import { TableSink } from '../services/sink/table-sink.js';
import { figure } from './report-figures.js';
import { sinkEvent } from './sink-events.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    partitions: { type: 'string', default: '4' },
    batch: { type: 'string', default: '50000' },
    probes: { type: 'string', default: '200' },
  },
});
const N = Math.max(10_000, Math.min(Number(values.events), 20_000_000));
const PARTITIONS = Math.max(1, Math.min(Number(values.partitions), 64));
const BATCH = Math.max(100, Math.min(Number(values.batch), 100_000));
const PROBES = Math.max(10, Math.min(Number(values.probes), 2000));
const now = Date.now();
const event = (i: number): SecurityEvent => sinkEvent(i, now);

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-bench-sink-'));
// Four drains, in the order JSON, Native, Native, JSON (each into its own
// database, each sink its own consumer group): load drifting on this shared
// machine weighs on both paths alike. The last Native one serves the latency part.
const dbs = ['bench_json_1', 'bench_native_1', 'bench', 'bench_json_2'];
const chs: ClickHouse[] = [];
for (const database of dbs) chs.push(await openClickHouse({ database, dataDir }));
const ch = chs[2] as ClickHouse;
const bus = new MemoryBus({ maxMessagesPerPartition: N + PROBES + 10 });
let sink: TableSink<SecurityEvent> | undefined;
try {
  for (const c of chs) await migrate(c, { retentionDays: 30, requestsTtlDays: 1 });
  await bus.ensureTopics([{ topic: 'events', partitions: PARTITIONS }, { topic: 'dlq', partitions: 1 }]);
  const count = async (): Promise<number> => Number((await ch.query<{ n: string }>(`SELECT count() AS n FROM ${ch.table('events')}`))[0]?.n ?? 0);

  // Encoding is the producer's cost, not the sink's: done before the clock starts.
  const e0 = performance.now();
  for (let i = 0; i < N; i += 50_000) {
    const msgs = [];
    for (let j = i; j < Math.min(N, i + 50_000); j++) msgs.push({ key: `k${j}`, value: securityEventCodec.encode(event(j)) });
    await bus.publish('events', msgs);
  }
  console.log(`published ${N.toLocaleString('en')} events to ${PARTITIONS} partitions in ${((performance.now() - e0) / 1000).toFixed(1)} s (not timed below)`);

  // JSON bodies: the insert path before Native blocks (insert-rows.ts's insertJson), through the same sink.
  const jsonInserts = (c: ClickHouse): ClickHouse =>
    Object.assign(Object.create(c) as ClickHouse, {
      insert: (table: string, rows: readonly object[], opts: { dedupToken?: string; optimizeOnInsert?: boolean } = {}) =>
        insertJson(c.client, c.table(table), rows, insertSettings(opts.dedupToken ?? `once:${Math.random()}`, opts.optimizeOnInsert !== false)).then(() => undefined),
    });
  const countIn = async (c: ClickHouse): Promise<number> => Number((await c.query<{ n: string }>(`SELECT count() AS n FROM ${c.table('events')}`))[0]?.n ?? 0);
  /** Drains the topic into c's events with a new sink; seconds until all N are stored. */
  const drain = async (c: ClickHouse, json: boolean): Promise<number> => {
    await sink?.close();
    const t0 = performance.now();
    sink = new TableSink<SecurityEvent>({
      bus, ch: json ? jsonInserts(c) : c, topic: 'events', deadLetterTopic: 'dlq', groupId: `bench-sink-${c.database}`, table: 'events',
      codec: securityEventCodec, toRow: (e) => e, uniqueKey: (e) => e.id, maxBatchSize: BATCH,
    });
    await sink.start();
    let n = 0;
    while (n < N && performance.now() < t0 + 600_000) {
      await sleep(100);
      n = await countIn(c);
    }
    if (n < N) throw new Error(`${c.database}: ${n} of ${N} rows stored in 600 s`);
    return (performance.now() - t0) / 1000;
  };
  const secs: number[] = [];
  for (let k = 0; k < chs.length; k++) secs.push(await drain(chs[k] as ClickHouse, k === 0 || k === 3));
  const [j1, n1, n2, j2] = secs as [number, number, number, number];
  const stored = N;
  // Latency below: Native, into `bench` again, its group's offsets where its drain left them.
  await sink?.close();
  sink = new TableSink<SecurityEvent>({
    bus, ch, topic: 'events', deadLetterTopic: 'dlq', groupId: `bench-sink-${ch.database}`, table: 'events',
    codec: securityEventCodec, toRow: (e) => e, uniqueKey: (e) => e.id, maxBatchSize: BATCH,
  });
  await sink.start();
  const load = loadavg()[0] ?? NaN;
  const rate = (2 * N) / (n1 + n2);
  const peerRate = (2 * N) / (j1 + j2);
  const [splits] = await ch.query<{ n: string }>(`SELECT count() AS n FROM ${ch.table('sink_splits')}`);

  // Latency: the sink is caught up; publish one event at a time.
  const published: number[] = [];
  const seen: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const n = (await count()) - stored;
      const t = performance.now();
      while (seen.length < n && seen.length < published.length) seen.push(t - (published[seen.length] as number));
      await sleep(2);
    }
  })();
  for (let i = 0; i < PROBES; i++) {
    published.push(performance.now());
    await bus.publish('events', [{ key: `p${i}`, value: securityEventCodec.encode(event(N + i)) }]);
    await sleep(25);
  }
  const latDeadline = performance.now() + 30_000;
  while (seen.length < PROBES && performance.now() < latDeadline) await sleep(20);
  polling = false;
  await poller;

  const sorted = [...seen].sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  console.log(`\nsink insert benchmark (embedded chdb, MemoryBus source, TableSink with batch ${BATCH.toLocaleString('en')}, ${PARTITIONS} partitions)`);
  console.log(`throughput: ${N.toLocaleString('en')} event rows in ${n1.toFixed(1)} s and ${n2.toFixed(1)} s = ${Math.round(rate).toLocaleString('en')} rows/s (aim ≥ 300,000) ${rate >= 300_000 ? 'ok' : 'MISSED'}`);
  console.log(`  peer, same run (drains JSON, Native, Native, JSON): the same sink with JSON bodies, ${j1.toFixed(1)} s and ${j2.toFixed(1)} s = ${Math.round(peerRate).toLocaleString('en')} rows/s; Native ${(rate / peerRate).toFixed(2)}×`);
  console.log(`  (Avro decode + one Native block per insert + 6 event rollups via materialized views; ${splits?.n ?? '?'} sink_splits rows written)`);
  const byFormat = ((await registry.getSingleMetric('logwarden_clickhouse_inserted_rows_total')?.get())?.values ?? [])
    .filter((v) => v.labels.table === 'events')
    .map((v) => `${String(v.labels.format)} ${v.value.toLocaleString('en')}`);
  console.log(`  event rows by insert body format: ${byFormat.join(', ')}`);
  console.log(`topic → queryable: ${seen.length}/${PROBES} events, p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(1)} ms`);
  console.log('  (includes the bus wake-up, one insert per event at this rate, and the 2 ms count poll)');
  console.log(`noise: 2-core machine shared with other test runs; load average ${load.toFixed(2)} at the end of the drain`);
  const note = `embedded chdb, batch ${BATCH}, ${PARTITIONS} partitions, ${N} events, load avg ${load.toFixed(1)}`;
  figure({ bench: 'sink-insert', name: 'event rows inserted per second', value: rate, unit: 'rows/s', better: 'higher', aim: 300_000, peer: { name: 'same sink, JSON bodies', value: peerRate }, note });
  figure({ bench: 'sink-insert', name: 'topic → queryable p50', value: pct(50), unit: 'ms', better: 'lower', note: `one event every 25 ms, ${seen.length}/${PROBES} seen` });
  figure({ bench: 'sink-insert', name: 'topic → queryable p99', value: pct(99), unit: 'ms', better: 'lower', note: `one event every 25 ms, ${seen.length}/${PROBES} seen` });
} finally {
  await sink?.close();
  await bus.close();
  for (const c of chs) await c.close();
  rmSync(dataDir, { recursive: true, force: true });
}
