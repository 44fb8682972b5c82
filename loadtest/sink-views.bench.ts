// Where the embedded engine's time goes when event rows are stored: the CPU
// an insert of event rows costs with every rollup view (migrations 000004-20),
// with none, and with each view dropped in turn, so that each view's share is
// what dropping it saves. The sink's whole rate (sink-insert.bench.ts) is
// bounded by this: on 2 cores, decode and encode on the sink's thread plus the
// engine's CPU per row.
//
//   node dist/loadtest/sink-views.bench.js [--events 300000] [--batch 50000] [--rounds 2]
//
// Each configuration gets a database of its own in one temporary data dir,
// migrated, its views dropped as the configuration says, then the same rows
// inserted as Native blocks of --batch rows (as the sink sends them). CPU is
// the process's (the engine runs in it): user + system over the inserts and
// the merges they start (waited for), per row; it includes building the
// Native blocks, the same in every configuration, so the differences are the
// views'. Rounds alternate the
// configurations; each figure is the median over the rounds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { openClickHouse } from '../shared/clickhouse/client.js';
import { migrate } from '../shared/clickhouse/migrate.js';
import type { SecurityEvent } from '../shared/records.js';
import { intArg } from './args.js';
import { figure } from './report-figures.js';
import { sinkEventWithGeo } from './sink-events.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '300000' },
    batch: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '2' },
  },
});
const N = intArg(values.events, 'events', 10_000);
const BATCH = intArg(values.batch, 'batch', 100);
const ROUNDS = intArg(values.rounds, 'rounds', 1);

const now = Date.now();
const event = (i: number): SecurityEvent => sinkEventWithGeo(i, now, 'views');

const batches: SecurityEvent[][] = [];
for (let s = 0; s < N; s += BATCH) batches.push(Array.from({ length: Math.min(BATCH, N - s) }, (_, j) => event(s + j)));

const dir = mkdtempSync(join(tmpdir(), 'logwarden-sink-views-'));
let databases = 0;

/** Engine CPU µs per row for one configuration: `drop` names the views dropped ('*': every view on events). */
async function measure(drop: string | undefined): Promise<{ cpu: number; rate: number; views: string[] }> {
  const ch = await openClickHouse({ database: `views_${databases++}`, dataDir: dir });
  try {
    await migrate(ch, { retentionDays: 30, requestsTtlDays: 2 });
    const views = (
      await ch.query<{ name: string }>(
        // Every view on events is named events_<rollup>_mv (schemas/clickhouse).
        `SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'MaterializedView' AND startsWith(name, 'events_') ORDER BY name`,
        { db: ch.database },
      )
    ).map((r) => r.name);
    for (const v of views) if (drop === '*' || v === drop) await ch.command(`DROP VIEW ${ch.table(v)}`);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let k = 0;
    for (const b of batches) await ch.insert('events', b, { dedupToken: `views-${k++}` });
    const seconds = (performance.now() - t0) / 1000;
    // The merges these inserts started are theirs too, and must not run into the next configuration's time.
    for (let waited = 0; waited < 60_000; waited += 50) {
      const [m] = await ch.query<{ n: string }>('SELECT count() AS n FROM system.merges WHERE database = {db:String}', { db: ch.database });
      if (Number(m?.n ?? 0) === 0) break;
      await sleep(50);
    }
    const c = process.cpuUsage(c0);
    return { cpu: (c.user + c.system) / N, rate: N / seconds, views };
  } finally {
    await ch.close();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

try {
  const probe = await measure(undefined);
  const configs: Array<string | undefined> = [undefined, '*', ...probe.views];
  const cpu = new Map<string, number[]>();
  const rate = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 ? [...configs].reverse() : configs) {
      const m = await measure(c);
      const key = c ?? 'all';
      cpu.set(key, [...(cpu.get(key) ?? []), m.cpu]);
      rate.set(key, [...(rate.get(key) ?? []), m.rate]);
    }
  }
  const all = median(cpu.get('all') ?? []);
  const none = median(cpu.get('*') ?? []);
  const fmt = (n: number): string => n.toFixed(2);
  console.log(`engine CPU per event row at insert (embedded chdb, ${N.toLocaleString('en')} rows in Native blocks of ${BATCH.toLocaleString('en')}, median of ${ROUNDS} rounds)`);
  console.log(`  every view      ${fmt(all)} µs   ${Math.round(median(rate.get('all') ?? [])).toLocaleString('en')} rows/s`);
  console.log(`  no view         ${fmt(none)} µs   ${Math.round(median(rate.get('*') ?? [])).toLocaleString('en')} rows/s   (the events table, and building the blocks)`);
  console.log(`  the views       ${fmt(all - none)} µs, ${Math.round(((all - none) / all) * 100)}% of the insert; what dropping each saves:`);
  for (const v of probe.views) {
    const saves = all - median(cpu.get(v) ?? []);
    console.log(`    ${v.padEnd(26)} ${fmt(saves)} µs`);
    figure({ bench: 'sink-views', name: `CPU per row, ${v}`, value: saves, unit: 'µs', better: 'lower', note: 'what dropping this view saves' });
  }
  figure({ bench: 'sink-views', name: 'engine CPU per event row, every view', value: all, unit: 'µs', better: 'lower', note: `${fmt(all - none)} µs of it the views'` });
  figure({ bench: 'sink-views', name: 'engine CPU per event row, no view', value: none, unit: 'µs', better: 'lower', note: 'the events table, and building the Native blocks' });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
