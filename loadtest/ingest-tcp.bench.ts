// TCP relay input → Kafka, against rsyslog (imtcp → omkafka) on the same
// generated lines, the same broker, the same run. TCP loses nothing (the
// relay waits on backpressure), so the figure is throughput: the generator
// sends N lines as fast as the receiver takes them, and the clock stops when
// the last record is on the topic. Per core: the receiver's own CPU time
// (utime + stime from /proc/<pid>/stat), so the figure holds on a shared
// machine where the wall clock does not.
//   node dist/loadtest/ingest-tcp.bench.js [--lines 200000] [--framing octet,newline]
// rsyslog forwards the raw line; logwarden parses it, normalises it and
// encodes Avro: the ratio prices that work.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { KafkaBus } from '../shared/bus/kafka.js';
import { freePort } from '../shared/testing/nginx.js';
import { figure } from './report-figures.js';
import { ensureRsyslog, startRsyslog } from './rsyslog-peer.js';
import { cpuMicros, threadCpuMicros, waitForOutput, type ThreadCpu } from './procstat.js';
import { rdkafkaInstalled } from '../shared/bus/rdkafka-producer.js';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '200000' }, framing: { type: 'string', default: 'octet,newline' } } });
const lines = Math.min(Math.max(10_000, Number(values.lines)), 2_000_000);
const framings = values.framing.split(',').filter((f): f is 'octet' | 'newline' => f === 'octet' || f === 'newline');
const root = fileURLToPath(new URL('../..', import.meta.url));
const node = process.execPath;
const cli = join(root, 'dist/services/cli/main.js');
const gen = join(root, 'dist/loadtest/generator/main.js');
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

const brokerLine = sh('bash', ['infra/kafka/kafka.sh', 'start']).split(/\s+/);
const brokers = [brokerLine[0] as string];
const kafkaVersion = brokerLine[1] as string;
const dir = mkdtempSync(join(tmpdir(), 'ingest-tcp-bench-'));
const file = join(dir, 'traffic.log');
sh(node, [gen, 'write', '--lines', String(lines), '--seed', '7', '--format', 'syslog-json', '--out', file]);
const bus = new KafkaBus({ brokers, clientId: 'ingest-tcp-bench', acks: 'all', compression: 'none', replicationFactor: 1 });

async function total(topic: string): Promise<number> {
  try {
    return (await bus.endOffsets(topic)).reduce((n, o) => n + Number(o.offset), 0);
  } catch {
    return 0;
  }
}

interface Run {
  name: string;
  framing: string;
  stored: number;
  seconds: number;
  cpu: number;
  /** The receiver's CPU by thread over the run, µs. */
  threads: ThreadCpu;
}

/** Sends every line once over TCP, then waits until `want` records are on the topics (or 120 s). */
async function drive(pid: number, port: number, framing: string, topics: string[], want: number): Promise<Omit<Run, 'name' | 'framing'>> {
  const cpu0 = cpuMicros(pid) / 1e6;
  const threads0 = threadCpuMicros(pid);
  const t0 = performance.now();
  const blaster = spawn(node, [gen, 'blast', '--tcp', `127.0.0.1:${port}`, '--framing', framing, '--rate', '2000000', '--seconds', '120', '--max-lines', String(want), '--from', file], { stdio: 'ignore' });
  let stored = 0;
  let last = performance.now();
  const deadline = t0 + 120_000;
  while (performance.now() < deadline) {
    await sleep(100);
    let n = 0;
    for (const t of topics) n += await total(t);
    if (n !== stored) {
      stored = n;
      last = performance.now();
    }
    if (stored >= want) break;
  }
  blaster.kill();
  const t = threadCpuMicros(pid);
  const threads = { main: t.main - threads0.main, rdkafka: t.rdkafka - threads0.rdkafka, other: t.other - threads0.other };
  return { stored, seconds: (last - t0) / 1000, cpu: cpuMicros(pid) / 1e6 - cpu0, threads };
}

async function runLogwarden(framing: string, producer: 'kafkajs' | 'librdkafka' = 'kafkajs'): Promise<Run> {
  const prefix = `it${Date.now().toString(36)}.`;
  const port = await freePort();
  const child = spawn(node, [cli, 'ingester'], {
    cwd: root,
    env: {
      ...process.env,
      LOGWARDEN_KAFKA_BROKERS: brokers.join(','),
      LOGWARDEN_TOPIC_PREFIX: prefix,
      LOGWARDEN_UDP_PORT: '0',
      LOGWARDEN__INGEST__TCP__ENABLED: 'true',
      LOGWARDEN__INGEST__TCP__PORT: String(port),
      LOGWARDEN__METRICS__PORT: '0',
      LOGWARDEN_LOG_LEVEL: 'warn',
      LOGWARDEN__KAFKA__PARTITIONS: '6',
      LOGWARDEN__KAFKA__PRODUCER_CLIENT: producer,
      LOGWARDEN_DATA_DIR: join(dir, `data-${prefix}`),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await waitForOutput(child, 'syslog (UDP)');
    const r = await drive(child.pid as number, port, framing, [`${prefix}access`, `${prefix}dead-letter`], lines);
    return { name: producer === 'kafkajs' ? 'logwarden (1 process)' : 'logwarden, librdkafka producer', framing, ...r };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function runRsyslog(framing: string): Promise<Run | string> {
  const skipped = ensureRsyslog(root);
  if (skipped) return skipped;
  const port = await freePort();
  const topic = `rt${Date.now().toString(36)}`;
  await bus.ensureTopics([{ topic, partitions: 6 }]);
  const peer = await startRsyslog({ dir, broker: brokers[0] as string, topic, port, input: { kind: 'imtcp' } });
  if (typeof peer === 'string') return peer;
  try {
    const r = await drive(peer.child.pid as number, port, framing, [topic], lines);
    return { name: `rsyslog ${peer.version} imtcp→omkafka`, framing, ...r };
  } finally {
    await peer.stop();
  }
}

const load = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
// The ingester with kafka.producer_client librdkafka too, in the same run, when it is installed (infra/kafka/install-librdkafka.sh).
const rdkafka = await rdkafkaInstalled();
const rows: Array<{ ours: Run; rd: Run | undefined; peer: Run | undefined }> = [];
let skipped: string | undefined;
for (const framing of framings) {
  const ours = await runLogwarden(framing);
  const rd = rdkafka ? await runLogwarden(framing, 'librdkafka') : undefined;
  const peer = skipped ? undefined : await runRsyslog(framing);
  if (typeof peer === 'string') skipped = peer;
  rows.push({ ours, rd, peer: typeof peer === 'string' ? undefined : peer });
}
await bus.close();
rmSync(dir, { recursive: true, force: true });

const perCore = (r: Run): number => r.stored / Math.max(1e-3, r.cpu);
const fmt = (r: Run): string =>
  `    ${r.name.padEnd(34)} stored ${String(r.stored).padStart(8)} of ${lines}  ${Math.round(r.stored / r.seconds).toLocaleString('en').padStart(8)} lines/s wall  ${r.cpu.toFixed(1).padStart(5)} CPU s  ${Math.round(perCore(r)).toLocaleString('en').padStart(9)} lines/s per core (${((r.cpu * 1e6) / Math.max(1, r.stored)).toFixed(1)} CPU µs/line)`;
console.log(`TCP syslog relay → Kafka ${kafkaVersion} (127.0.0.1, acks=all), ${lines.toLocaleString('en')} lines, load average at start ${load}, at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
/** Where the receiver's CPU went, µs a stored line, by thread (the bound of the per-core figure). */
const byThread = (r: Run): string => {
  const per = (us: number): string => (us / Math.max(1, r.stored)).toFixed(1);
  return `main thread ${per(r.threads.main)}${r.threads.rdkafka > 0 ? `, librdkafka threads ${per(r.threads.rdkafka)}` : ''}, other threads ${per(r.threads.other)} CPU µs/line`;
};
for (const row of rows) {
  console.log(`  framing ${row.ours.framing}`);
  console.log(fmt(row.ours));
  console.log(`      by thread: ${byThread(row.ours)}`);
  if (row.rd) console.log(fmt(row.rd));
  if (row.rd) console.log(`      by thread: ${byThread(row.rd)}`);
  if (row.peer) console.log(fmt(row.peer));
  if (row.peer) console.log(`      by thread: ${byThread(row.peer)}`);
  if (row.peer) console.log(`    ratio logwarden / rsyslog, per core: ${(perCore(row.ours) / perCore(row.peer)).toFixed(2)}${row.rd ? `; with the librdkafka producer ${(perCore(row.rd) / perCore(row.peer)).toFixed(2)}` : ''}`);
  if (row.rd) console.log(`    librdkafka producer / kafkajs, per core: ${(perCore(row.rd) / perCore(row.ours)).toFixed(2)}`);
}
if (skipped) console.log(`  ${skipped}`);
if (!rdkafka) console.log('  (the librdkafka producer not measured: @confluentinc/kafka-javascript not installed; infra/kafka/install-librdkafka.sh)');
for (const row of rows) {
  figure({
    bench: 'ingest-tcp',
    name: `TCP (${row.ours.framing} framing) → Kafka, lines/s per core of the receiver`,
    value: perCore(row.ours),
    unit: 'lines/s',
    ...(row.peer ? { peer: { name: 'rsyslog imtcp → omkafka', value: perCore(row.peer) } } : {}),
    better: 'higher',
    aim: 250_000,
    note: `${row.ours.stored} of ${lines} stored, ${Math.round(row.ours.stored / row.ours.seconds)} lines/s wall; ${byThread(row.ours)}; load average ${load}${skipped ? `; ${skipped}` : ''}`,
  });
  if (row.rd) {
    figure({
      bench: 'ingest-tcp',
      name: `TCP (${row.rd.framing} framing) → Kafka with kafka.producer_client librdkafka, lines/s per core of the receiver`,
      value: perCore(row.rd),
      unit: 'lines/s',
      ...(row.peer ? { peer: { name: 'rsyslog imtcp → omkafka', value: perCore(row.peer) } } : {}),
      better: 'higher',
      note: `${row.rd.stored} of ${lines} stored, ${Math.round(row.rd.stored / row.rd.seconds)} lines/s wall; ${byThread(row.rd)}; kafkajs in the same run ${Math.round(perCore(row.ours))}; load average ${load}`,
    });
  }
}
