// The cost of knowing every client's country and AS: loading the bundled
// databases (time, bytes of range tables, heap after a full GC), one lookup
// (ns, IPv4 and IPv6 clients drawn from the tables' own ranges), and the
// ingester's per-line path (IngestPipeline.offer: parse, annotate, encode,
// batch onto an in-process bus) with geo.enabled false and true in the same
// run, alternating rounds, so the throughput cost is measured, not guessed.
// Ingest rates are per CPU second of the process (as parse.bench.ts: a busy
// machine stretches the wall clock, not the figure); lookups are wall-clock
// ns, best of the rounds.
//
//   node --expose-gc dist/loadtest/geo-lookup.bench.js [LOOKUPS] [LINES]
//        (defaults 1000000 lookups a round, 200000 ingest lines a round; lookups: best of 7 rounds;
//         ingest: 9 rounds of off and on, each in a process of its own, the loss as the median
//         of the rounds' ratios)
//
// No peer is installed on this machine (no maxmind/mmdb reader, no geoip-lite
// among the dependencies), so the comparison printed is a NAIVE BASELINE, not
// a peer: a linear scan over the same IPv4 ranges, as code without an index
// would do it — it shows what the binary search buys, nothing more.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryBus } from '../shared/bus/memory.js';
import { loadConfig } from '../shared/config/load.js';
import { geoDatabase } from '../shared/geo/database.js';
import { topicNames } from '../shared/topics.js';
import { IngestPipeline } from '../services/ingester/pipeline.js';
import { Rng } from './generator/prng.js';
import { figure } from './report-figures.js';

// A child (ingestRate below) is called with --ingest-child on|off LINES.
const CHILD = process.argv[2] === '--ingest-child';
const LOOKUPS = CHILD ? 1 : Number.parseInt(process.argv[2] ?? '1000000', 10);
const LINES = Number.parseInt((CHILD ? process.argv[4] : process.argv[3]) ?? '200000', 10);
if (!(LOOKUPS > 0) || !(LINES > 0)) {
  console.error('usage: node --expose-gc dist/loadtest/geo-lookup.bench.js [LOOKUPS] [LINES]');
  process.exit(2);
}
const ROUNDS = 7;
/**
 * Ingest rounds (pairs of off and on); odd, so the median is one round's. Seven rounds of 100k lines
 * gave 6.7–12.6 % from run to run; nine of 200k narrow that (the spread is in the README).
 */
const INGEST_ROUNDS = 9;
const gc = (globalThis as { gc?: () => void }).gc;
/** V8's heap and the ArrayBuffers outside it, after a full GC. */
const heap = (): { heap: number; buffers: number } => {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
};

const POOL = 8192;

/** Clients: 80 % IPv4 drawn uniformly from 1.0.0.0–223.255.255.255, 20 % IPv6 inside 2000::/4 (the same in every process: a fixed seed). */
function clients(): string[] {
  const rng = new Rng(0x67656f);
  const ips: string[] = [];
  for (let i = 0; i < POOL; i++) {
    if (rng.float() < 0.8) {
      const a = 1 + Math.floor(rng.float() * 223);
      ips.push(`${a}.${Math.floor(rng.float() * 256)}.${Math.floor(rng.float() * 256)}.${Math.floor(rng.float() * 256)}`);
    } else {
      const g = (): string => Math.floor(rng.float() * 65536).toString(16);
      ips.push(`2${Math.floor(rng.float() * 16).toString(16)}${Math.floor(rng.float() * 256).toString(16).padStart(2, '0')}:${g()}:${g()}::${g()}`);
    }
  }
  return ips;
}

const INGEST_CHILD = '--ingest-child';

/**
 * One process's ingest rate (lines per CPU second) with geo on or off: the ingester's per-line path
 * (IngestPipeline.offer: parse, annotate through its memo of recent clients, encode, batch onto an
 * in-process bus), after a warm-up of a quarter of the lines. The 8192 clients cycle, so the memo
 * answers repeated clients, as it does for real traffic.
 */
function ingestRate(geo: boolean): number {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), INGEST_CHILD, geo ? 'on' : 'off', String(LINES)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return Number(/^rate (\d+(\.\d+)?)$/m.exec(out)?.[1] ?? NaN);
}

async function ingestChild(geo: boolean): Promise<void> {
  // The shipped JSON log_format (lua/conf/logwarden-http.conf), every field in its place: the ingester's
  // fast path, as nginx's lines take it (a partial object would be measured through the JSON.parse fallback).
  const lines = clients().map((ip, i) => {
    const fields = {
      ts: `1795240844.${String(i % 1000).padStart(3, '0')}`, node: 'edge-1', deployment: '', client_ip: ip, xff: '', method: 'GET', host: 'shop.example.com',
      uri: `/api/v1/orders/${i}`, status: '200', bytes: '5120', request_time: '0.012', upstream_time: '0.010',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0', referer: '', country: '', auth_user: '',
      request_id: (i * 2654435761).toString(16).padStart(32, '0'), blocked_by: '', filter_alert: '', logwarden_challenge: '',
    };
    return Buffer.from(`<190>Nov 21 06:00:44 edge nginx: ${JSON.stringify(fields)}`);
  });
  const bus = new MemoryBus();
  const topics = topicNames('bench.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
  const p = new IngestPipeline(loadConfig({ text: `geo: { enabled: ${geo} }\nkafka: { linger: 1000ms }\nlog_level: silent`, env: {} }), bus, topics);
  const run = async (n: number): Promise<number> => {
    const s = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      p.offer(lines[i & (POOL - 1)] as Buffer, 'file');
      if ((i & 8191) === 8191) await p.flush();
    }
    await p.flush();
    const used = process.cpuUsage(s);
    return n / ((used.user + used.system) / 1e6);
  };
  await run(Math.ceil(LINES / 4));
  console.log(`rate ${(await run(LINES)).toFixed(1)}`);
  await p.close();
  await bus.close();
}

function main(): void {
  const before = heap();
  const t0 = performance.now();
  // The process's one copy, which the ingester below uses too.
  const db = geoDatabase();
  const loadMs = performance.now() - t0;
  const after = heap();
  const heldBytes = after.heap + after.buffers - before.heap - before.buffers;
  const mib = (n: number): string => (n / 1048576).toFixed(1);
  console.log(`load: ${loadMs.toFixed(0)} ms; range tables ${mib(db.tableBytes)} MiB (of which the merged IPv4 country+AS table with its /20 jump table ${mib(db.merged4Bytes)} MiB) + organisation names ${mib(db.orgBytes)} MiB (${db.orgCounts.names} names, UTF-8 in one buffer); after GC +${mib(heldBytes)} MiB: V8 heap +${mib(after.heap - before.heap)}, ArrayBuffers +${mib(after.buffers - before.buffers)}${gc ? '' : ' (run with --expose-gc for these figures)'}`);
  for (const s of db.sources) console.log(`  ${s.name} ${s.version} (${s.date}, ${s.license}): ${s.ranges} ranges, ${(s.bytesOnDisk / 1048576).toFixed(1)} MiB of CSV read`);

  const ips = clients();
  const known = ips.filter((ip) => db.lookup(ip).asn !== null).length;
  console.log(`clients: ${POOL} distinct (${((100 * known) / POOL).toFixed(0)} % with a known AS)`);

  // One lookup without the ingester's memo: annotate a record (parse the address, country + AS).
  const rec = { client_ip: '', country: null as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
  let bestNs = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const s = process.hrtime.bigint();
    for (let i = 0; i < LOOKUPS; i++) {
      rec.client_ip = ips[i & (POOL - 1)] as string;
      rec.country = null;
      rec.asn = null;
      db.annotate(rec);
      if (rec.asn !== null) sink++;
    }
    bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - s) / LOOKUPS);
  }

  // NAIVE BASELINE (not a peer): a linear scan of the IPv4 country ranges.
  const table = db.rawTables.country4;
  const v4 = ips.filter((ip) => !ip.includes(':')).map((ip) => ip.split('.').reduce((n, p) => n * 256 + Number(p), 0));
  const naiveN = Math.max(200, Math.floor(LOOKUPS / 2000));
  let naiveNs = Infinity;
  for (let r = 0; r < 3; r++) {
    const s = process.hrtime.bigint();
    for (let i = 0; i < naiveN; i++) {
      const a = v4[i % v4.length] as number;
      for (let k = 0; k < table.starts.length; k++) {
        if ((table.starts[k] as number) <= a && a <= (table.ends[k] as number)) {
          sink += table.values[k] as number;
          break;
        }
      }
    }
    naiveNs = Math.min(naiveNs, Number(process.hrtime.bigint() - s) / naiveN);
  }
  console.log(`lookup (annotate: parse, country, AS): ${bestNs.toFixed(0)} ns best of ${ROUNDS} × ${LOOKUPS}; naive baseline, linear scan of the IPv4 country ranges: ${(naiveNs / 1000).toFixed(1)} µs (${naiveN} lookups); organisation names made strings: ${db.orgCounts.materialised} of ${db.orgCounts.names}`);

  {
    const best = { off: 0, on: 0 };
    // Each round measures off and on back to back (in alternating order), each in a process of its own (as an
    // ingester runs one setting: a process that ran both would optimise its code for records of both shapes),
    // and the loss is the median of the rounds' own ratios: a neighbour's load moves both halves of a round
    // together, so it cancels in the ratio, where the best of each taken separately would pair a lucky round
    // with an unlucky one.
    const ratios: number[] = [];
    for (let r = 0; r < INGEST_ROUNDS; r++) {
      const first = r % 2 === 0;
      const a = ingestRate(!first);
      const b = ingestRate(first);
      const off = first ? a : b;
      const on = first ? b : a;
      best.off = Math.max(best.off, off);
      best.on = Math.max(best.on, on);
      ratios.push(on / off);
    }
    ratios.sort((x, y) => x - y);
    const median = ratios[Math.floor(ratios.length / 2)] as number;
    const drop = 100 * (1 - median);
    console.log(`ingest (IngestPipeline.offer, JSON lines, in-process bus), per CPU second, best of ${INGEST_ROUNDS} × ${LINES}: geo off ${Math.round(best.off)} lines/s, geo on ${Math.round(best.on)} lines/s; on/off per round: median ${median.toFixed(3)} (${drop.toFixed(1)} % lower), range ${(ratios[0] as number).toFixed(3)}–${(ratios[ratios.length - 1] as number).toFixed(3)}`);
    // The same figures as CPU time per line: what enrichment adds to the cost of one line.
    const offNs = 1e9 / best.off;
    const addedNs = offNs * (1 / median - 1);
    console.log(`  per line: geo off ${offNs.toFixed(0)} ns; enrichment adds ${addedNs.toFixed(0)} ns at the median round`);
    figure({ bench: 'geo-lookup', name: 'lookup (country + AS of one client)', value: Math.round(bestNs), unit: 'ns', peer: { name: 'naive baseline: linear scan (not a peer)', value: Math.round(naiveNs) }, better: 'lower' });
    figure({ bench: 'geo-lookup', name: 'merged IPv4 table (country + AS, /20 jump table)', value: Number((db.merged4Bytes / 1048576).toFixed(1)), unit: 'MiB', better: 'lower' });
    figure({ bench: 'geo-lookup', name: 'databases loaded: range tables', value: Math.round(db.tableBytes / 1048576), unit: 'MiB', better: 'lower' });
    if (gc) figure({ bench: 'geo-lookup', name: 'databases loaded: heap after GC', value: Math.round(heldBytes / 1048576), unit: 'MiB', better: 'lower' });
    figure({ bench: 'geo-lookup', name: 'databases load time', value: Math.round(loadMs), unit: 'ms', better: 'lower' });
    figure({ bench: 'geo-lookup', name: 'ingest with geo, one core', value: Math.round(best.on), unit: 'lines/s', peer: { name: 'the same ingester with geo.enabled false', value: Math.round(best.off) }, better: 'higher' });
    figure({ bench: 'geo-lookup', name: 'ingest throughput lost to geo', value: Number(drop.toFixed(1)), unit: '%', better: 'lower', aim: 10 });
    if (sink < 0) console.log(sink);
  }
}

if (CHILD) void ingestChild(process.argv[3] === 'on');
else main();
