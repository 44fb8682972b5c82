// Where an event insert's time goes, per body format, in one run: the same
// batches of event rows (the sink-insert bench's) inserted in turn through
//   json    today's fallback path: JSONCompactEachRow text, inline in the statement
//   native  what ClickHouse.insert() sends: one Native block, through file() when embedded
//   rowbinary  (engine side only) a RowBinary file the engine wrote, read by file()
// into three targets: a Null-engine copy of events (encode + parse only), a
// plain copy (+ writing the part) and events itself (+ its rollup views).
// Rounds are interleaved, so every path sees the same machine load; the
// ratios are the figures, absolute rates move with the load (see `uptime`).
//   node dist/loadtest/sink-formats.bench.js [--rounds 6] [--batch 50000]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openClickHouse } from '../shared/clickhouse/client.js';
import { insertSettings } from '../shared/clickhouse/insert-settings.js';
import { insertJson } from '../shared/clickhouse/insert-rows.js';
import { serializeRows } from '../shared/clickhouse/json-rows.js';
import { migrate } from '../shared/clickhouse/migrate.js';
import { encodeNative, parseNativeType, type NativeType } from '../shared/clickhouse/native-format.js';
import { stringLiteral } from '../shared/clickhouse/sql.js';
import type { SecurityEvent } from '../shared/records.js';
import { figure } from './report-figures.js';
import { sinkEvent } from './sink-events.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, batch: { type: 'string', default: '50000' } } });
const ROUNDS = Math.max(2, Math.min(Number(values.rounds), 40));
const BATCH = Math.max(1000, Math.min(Number(values.batch), 200_000));
const now = Date.now();
const event = (i: number): SecurityEvent => sinkEvent(i, now);

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-bench-formats-'));
const ch = await openClickHouse({ database: 'bench', dataDir });
const ms: Record<string, number> = {};
const add = (k: string, t0: number): void => {
  ms[k] = (ms[k] ?? 0) + performance.now() - t0;
};
const load0 = loadavg()[0] ?? NaN;
try {
  await migrate(ch, { retentionDays: 30, requestsTtlDays: 1 });
  await ch.command(`CREATE TABLE ${ch.table('ev_null')} AS ${ch.table('events')} ENGINE = Null`);
  await ch.command(`CREATE TABLE ${ch.table('ev_plain')} AS ${ch.table('events')}`);
  const cols = await ch.query<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = {db:String} AND table = 'events'`, { db: ch.database });
  const types = new Map<string, NativeType>();
  for (const c of cols) {
    const t = parseNativeType(c.type);
    if (t) types.set(c.name, t);
  }
  const rbFile = join(dataDir, 'rows.rowbinary');
  const structure = cols.map((c) => `${c.name} ${c.type}`).join(', ');
  for (let r = 0; r < ROUNDS; r++) {
    const rows = Array.from({ length: BATCH }, (_, i) => event(r * BATCH + i));
    let t0 = performance.now();
    serializeRows(rows);
    add('encode json', t0);
    t0 = performance.now();
    if (!encodeNative(rows, types)) throw new Error('event rows must encode as Native');
    add('encode native', t0);
    for (const table of ['ev_null', 'ev_plain', 'events']) {
      const token = `${table}:${r}`;
      t0 = performance.now();
      await insertJson(ch.client, ch.table(table), rows, insertSettings(`json:${token}`, false));
      add(`json → ${table}`, t0);
      t0 = performance.now();
      await ch.insert(table, rows, { dedupToken: `native:${token}`, optimizeOnInsert: false });
      add(`native → ${table}`, t0);
    }
    // RowBinary: the engine writes this round's rows, then reads them back (no Node encoder: engine side only).
    await ch.command(`SELECT * FROM ${ch.table('ev_plain')} LIMIT ${BATCH} INTO OUTFILE ${stringLiteral(rbFile)} TRUNCATE FORMAT RowBinary`);
    for (const table of ['ev_null', 'events']) {
      const t1 = performance.now();
      await ch.command(
        `INSERT INTO ${ch.table(table)} SETTINGS ${insertSettings(`rb:${table}:${r}`, false).join(', ')} SELECT * FROM file(${stringLiteral(rbFile)}, 'RowBinary', ${stringLiteral(structure)})`,
      );
      add(`rowbinary (engine only) → ${table}`, t1);
    }
  }
  const load1 = loadavg()[0] ?? NaN;
  const per = (k: string): number => (ms[k] ?? NaN) / ROUNDS;
  const rate = (k: string): number => (BATCH * 1000) / per(k);
  console.log(`\nevent insert by body format (embedded chdb, ${ROUNDS} interleaved rounds of ${BATCH.toLocaleString('en')} rows; load average ${load0.toFixed(2)} → ${load1.toFixed(2)})`);
  for (const k of Object.keys(ms)) console.log(`  ${k.padEnd(36)} ${per(k).toFixed(1).padStart(8)} ms/batch ${Math.round(rate(k)).toLocaleString('en').padStart(12)} rows/s`);
  const part = (p: string): string =>
    `${p}: encode ${per(`encode ${p}`).toFixed(0)} ms, engine parse ${(per(`${p} → ev_null`) - per(`encode ${p}`)).toFixed(0)} ms, part write ${(per(`${p} → ev_plain`) - per(`${p} → ev_null`)).toFixed(0)} ms, views ${(per(`${p} → events`) - per(`${p} → ev_plain`)).toFixed(0)} ms`;
  console.log(`  where a batch's time goes\n    ${part('json')}\n    ${part('native')}`);
  const note = `embedded chdb, ${ROUNDS}×${BATCH} event rows interleaved, load avg ${load0.toFixed(1)}–${load1.toFixed(1)}`;
  figure({ bench: 'sink-formats', name: 'event rows/s into events, Native body', value: rate('native → events'), unit: 'rows/s', better: 'higher', peer: { name: 'JSON body (before)', value: rate('json → events') }, aim: 300_000, note });
  figure({ bench: 'sink-formats', name: 'Native ÷ JSON insert rate into events', value: rate('native → events') / rate('json → events'), unit: '×', better: 'higher', note });
} finally {
  await ch.close();
  rmSync(dataDir, { recursive: true, force: true });
}
