// UDP → ingester → Kafka, against rsyslog (imudp → omkafka) on the same
// generated traffic, the same broker, the same run. For each: the lines sent
// at the target rate for a bounded time, the records that reached the topic,
// the loss, and the rate achieved; then the ratio.
//   node dist/loadtest/ingest-udp.bench.js [--rates 25000,50000,100000] [--seconds 6] [--workers 1]
// One worker by default: on this 2-core machine, shared with the broker and
// the sender, two workers (two producers) cost more CPU a line and lost more
// (70 against 51 µs a line at 10k lines/s, 35% lost at 25k against none).
// Each rate is run for both; the headline is the highest rate each sustains
// with loss under 0.1%.
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
import { cpuMicros, waitForOutput } from './procstat.js';
import { ensureRsyslog, startRsyslog } from './rsyslog-peer.js';
import { rdkafkaInstalled } from '../shared/bus/rdkafka-producer.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '25000,50000,100000' },
    seconds: { type: 'string', default: '6' },
    workers: { type: 'string', default: '1' },
    procs: { type: 'string', default: '1' },
  },
});
const rates = values.rates.split(',').map(Number).filter((r) => r > 0).sort((a, b) => a - b);
const seconds = Math.min(Number(values.seconds), 60);
let rate = rates[rates.length - 1] as number;
const workers = Number(values.workers);
const root = fileURLToPath(new URL('../..', import.meta.url));
const node = process.execPath;
const cli = join(root, 'dist/services/cli/main.js');
const gen = join(root, 'dist/loadtest/generator/main.js');

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const brokerLine = sh('bash', ['infra/kafka/kafka.sh', 'start']).split(/\s+/);
const brokers = [brokerLine[0] as string];
const kafkaVersion = brokerLine[1] as string;
try {
  // The kernel's UDP receive buffer cap decides burst loss for both contestants alike.
  execFileSync('sysctl', ['-qw', 'net.core.rmem_max=67108864'], { stdio: 'ignore' });
} catch {
  /* not root: keep the machine's limit, printed below */
}
const dir = mkdtempSync(join(tmpdir(), 'ingest-bench-'));
const file = join(dir, 'traffic.log');
const lines = Math.ceil(rate * seconds * 1.05);
sh(node, [gen, 'write', '--lines', String(lines), '--seed', '7', '--format', 'syslog-json', '--out', file]);
const bus = new KafkaBus({ brokers, clientId: 'ingest-bench', acks: 'all', compression: 'none', replicationFactor: 1 });

async function total(topic: string): Promise<number> {
  try {
    return (await bus.endOffsets(topic)).reduce((n, o) => n + Number(o.offset), 0);
  } catch {
    return 0;
  }
}

/** Waits until the topic stops growing for 2 s; returns the count. */
async function settle(topic: string): Promise<number> {
  let last = -1;
  let stableSince = Date.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const n = await total(topic);
    if (n !== last) {
      last = n;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 2000) break;
    await sleep(250);
  }
  return last;
}

interface Run {
  name: string;
  sent: number;
  stored: number;
  seconds: number;
  /** CPU seconds (user + system) of the receiver and its child processes (the ingester's workers) during the run. */
  cpu: number;
}

function blastAt(port: number): { sent: number; seconds: number } {
  const out = sh(node, [gen, 'blast', '--udp', `127.0.0.1:${port}`, '--rate', String(rate), '--seconds', String(seconds), '--from', file, '--procs', String(values.procs)]);
  const stats = JSON.parse(out.split('\n').pop() as string) as { sent: number; seconds: number };
  return stats;
}

async function runLogwarden(producer: 'kafkajs' | 'librdkafka' = 'kafkajs'): Promise<Run> {
  const prefix = `ib${Date.now().toString(36)}.`;
  const port = await freePort();
  const child = spawn(node, [cli, 'ingester', '--workers', String(workers)], {
    cwd: root,
    env: { ...process.env, LOGWARDEN_KAFKA_BROKERS: brokers.join(','), LOGWARDEN_TOPIC_PREFIX: prefix, LOGWARDEN_UDP_PORT: String(port), LOGWARDEN__METRICS__PORT: '0', LOGWARDEN_LOG_LEVEL: 'warn', LOGWARDEN__KAFKA__PARTITIONS: '6', LOGWARDEN__KAFKA__PRODUCER_CLIENT: producer },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await waitForOutput(child, 'syslog (UDP)');
    await sleep(1500); // every worker bound
    const t0 = Date.now();
    const cpu0 = cpuMicros(child.pid as number) / 1e6;
    const b = blastAt(port);
    const stored = await settle(`${prefix}access`);
    const rejected = await total(`${prefix}dead-letter`);
    const cpu = cpuMicros(child.pid as number) / 1e6 - cpu0;
    return { name: `logwarden (${workers} worker${workers > 1 ? 's' : ''}${producer === 'kafkajs' ? '' : `, ${producer} producer`})`, sent: b.sent, stored: stored + rejected, seconds: Math.max(b.seconds, (Date.now() - t0) / 1000 - 2), cpu };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function runRsyslog(): Promise<Run | string> {
  const skipped = ensureRsyslog(root);
  if (skipped) return skipped;
  const port = await freePort();
  const topic = `rs${Date.now().toString(36)}`;
  await bus.ensureTopics([{ topic, partitions: 6 }]);
  const peer = await startRsyslog({ dir, broker: brokers[0] as string, topic, port, input: { kind: 'imudp', threads: workers } });
  if (typeof peer === 'string') return peer;
  try {
    const t0 = Date.now();
    const cpu0 = cpuMicros(peer.child.pid as number) / 1e6;
    const b = blastAt(port);
    const stored = await settle(topic);
    const cpu = cpuMicros(peer.child.pid as number) / 1e6 - cpu0;
    return { name: `rsyslog ${peer.version} imudp→omkafka (${workers} input thread${workers > 1 ? 's' : ''})`, sent: b.sent, stored, seconds: Math.max(b.seconds, (Date.now() - t0) / 1000 - 2), cpu };
  } finally {
    await peer.stop();
  }
}

// The ingester with kafka.producer_client librdkafka too, in the same run, when it is installed (infra/kafka/install-librdkafka.sh).
const rdkafka = await rdkafkaInstalled();
let rsyslogSkipped: string | undefined;
const rows: Array<{ rate: number; ours: Run; rd: Run | undefined; peer: Run | undefined }> = [];
for (const r of rates) {
  rate = r;
  const ours = await runLogwarden();
  const rd = rdkafka ? await runLogwarden('librdkafka') : undefined;
  const peer = rsyslogSkipped ? undefined : await runRsyslog();
  if (typeof peer === 'string') rsyslogSkipped = peer;
  rows.push({ rate: r, ours, rd, peer: typeof peer === 'string' ? undefined : peer });
}
await bus.close();
rmSync(dir, { recursive: true, force: true });

const lossOf = (r: Run): number => 1 - r.stored / Math.max(1, r.sent);
const fmt = (r: Run): string =>
  `    ${r.name.padEnd(48)} sent ${String(r.sent).padStart(9)}  stored ${String(r.stored).padStart(9)}  loss ${(lossOf(r) * 100).toFixed(3).padStart(7)}%  ${Math.round(r.stored / r.seconds).toLocaleString('en').padStart(9)} lines/s stored  ${((r.cpu * 1e6) / Math.max(1, r.stored)).toFixed(1).padStart(5)} CPU µs/line`;
const rmem = (() => {
  try {
    return execFileSync('sysctl', ['-n', 'net.core.rmem_max'], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
})();
console.log(
  `UDP syslog → Kafka ${kafkaVersion} (127.0.0.1, acks=all), ${seconds} s per rate, 2 cores shared by sender, broker and ingester; net.core.rmem_max=${rmem}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const row of rows) {
  console.log(`  target ${row.rate.toLocaleString('en')} lines/s`);
  console.log(fmt(row.ours));
  if (row.rd) console.log(fmt(row.rd));
  if (row.peer) console.log(fmt(row.peer));
}
if (rsyslogSkipped) console.log(`  ${rsyslogSkipped}`);
if (!rdkafka) console.log('  (the librdkafka producer not measured: @confluentinc/kafka-javascript not installed; infra/kafka/install-librdkafka.sh)');
const best = (pick: (row: (typeof rows)[number]) => Run | undefined): number =>
  Math.max(0, ...rows.filter((row) => pick(row) && lossOf(pick(row) as Run) < 0.001).map((row) => row.rate));
const oursBest = best((row) => row.ours);
const peerBest = best((row) => row.peer);
const rdBest = rdkafka ? best((row) => row.rd) : undefined;
console.log(`  highest tested rate with loss < 0.1%: logwarden ${oursBest.toLocaleString('en')} lines/s${rdBest === undefined ? '' : ` (librdkafka producer ${rdBest.toLocaleString('en')})`}, rsyslog ${rsyslogSkipped ? 'n/a' : `${peerBest.toLocaleString('en')} lines/s`}`);
if (!rsyslogSkipped && peerBest > 0) console.log(`  ratio logwarden / rsyslog: ${(oursBest / peerBest).toFixed(2)}`);
figure({
  bench: 'ingest-udp',
  name: `highest tested rate with loss < 0.1% (of ${rates.join(', ')} lines/s)`,
  value: oursBest,
  unit: 'lines/s',
  ...(rsyslogSkipped ? {} : { peer: { name: 'rsyslog imudp → omkafka', value: peerBest } }),
  better: 'higher',
  note: rsyslogSkipped ?? `${seconds} s per rate, ${workers} workers`,
});
if (rdBest !== undefined) {
  figure({
    bench: 'ingest-udp',
    name: `highest tested rate with loss < 0.1% (of ${rates.join(', ')} lines/s), kafka.producer_client librdkafka`,
    value: rdBest,
    unit: 'lines/s',
    ...(rsyslogSkipped ? {} : { peer: { name: 'rsyslog imudp → omkafka', value: peerBest } }),
    better: 'higher',
    note: `${seconds} s per rate, ${workers} workers; kafkajs in the same run ${oursBest}`,
  });
}
const cpuPerLine = (r: Run): number => (r.cpu * 1e6) / Math.max(1, r.stored);
const lossless = rows.filter((row) => lossOf(row.ours) < 0.001 && (!row.peer || lossOf(row.peer) < 0.001)).pop();
if (lossless) {
  if (lossless.peer) console.log(`  CPU per line at ${lossless.rate.toLocaleString('en')} lines/s (both lossless): logwarden ${cpuPerLine(lossless.ours).toFixed(1)} µs, rsyslog ${cpuPerLine(lossless.peer).toFixed(1)} µs`);
  figure({
    bench: 'ingest-udp',
    name: `receiver CPU per line at ${lossless.rate.toLocaleString('en')} lines/s, lossless (workers included)`,
    value: cpuPerLine(lossless.ours),
    unit: 'CPU µs/line',
    ...(lossless.peer ? { peer: { name: 'rsyslog imudp → omkafka', value: cpuPerLine(lossless.peer) } } : {}),
    better: 'lower',
  });
}
for (const row of rows) {
  figure({
    bench: 'ingest-udp',
    name: `stored at ${row.rate.toLocaleString('en')} lines/s target`,
    value: row.ours.stored / row.ours.seconds,
    unit: 'lines/s',
    ...(row.peer ? { peer: { name: 'rsyslog imudp → omkafka', value: row.peer.stored / row.peer.seconds } } : {}),
    better: 'higher',
    note: `loss ${(lossOf(row.ours) * 100).toFixed(3)}%${row.peer ? `, rsyslog ${(lossOf(row.peer) * 100).toFixed(3)}%` : ''}`,
  });
  if (row.rd) {
    figure({
      bench: 'ingest-udp',
      name: `stored at ${row.rate.toLocaleString('en')} lines/s target, kafka.producer_client librdkafka`,
      value: row.rd.stored / row.rd.seconds,
      unit: 'lines/s',
      ...(row.peer ? { peer: { name: 'rsyslog imudp → omkafka', value: row.peer.stored / row.peer.seconds } } : {}),
      better: 'higher',
      note: `loss ${(lossOf(row.rd) * 100).toFixed(3)}%, ${cpuPerLine(row.rd).toFixed(1)} CPU µs/line; kafkajs in the same run ${(row.ours.stored / row.ours.seconds).toFixed(0)} lines/s, ${cpuPerLine(row.ours).toFixed(1)} CPU µs/line`,
    });
  }
}
