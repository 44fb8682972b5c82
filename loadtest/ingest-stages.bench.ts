// Where a datagram's microseconds go in the ingester, stage by stage, each as
// CPU time of this process per line (so a busy machine stretches the wall
// clock, not the figures):
//   receive   a dgram socket's 'message' callback doing nothing (the kernel
//             copy, libuv and the Buffer per datagram), the lines sent by a
//             child process over loopback
//   decode    syslog header + parse into an AccessRecord (shared/access-log)
//   geo       country and AS lookup (GeoMemo)
//   encode    Avro with the Confluent frame (accessRecordCodec)
//   offer     IngestPipeline.offer as a whole (decode + geo + encode + key,
//             counters, batching) into a bus that takes every send at once
//   publish   the bus publishing the encoded records to a real broker,
//             acks=all, in sends of the pipeline's size: kafkajs, and
//             librdkafka (kafka.producer_client) when it is installed
//
//   node dist/loadtest/ingest-stages.bench.js [--lines 100000] [--seconds 20]
//
// The lines come from the traffic generator (syslog-json, seed 7).
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { accessRecordCodec } from '../shared/avro/codec.js';
import { LineDecoder } from '../shared/access-log/decode.js';
import { loadConfig } from '../shared/config/load.js';
import { GeoMemo, geoFor } from '../shared/geo/index.js';
import { KafkaBus } from '../shared/bus/kafka.js';
import type { Bus, OutgoingMessage } from '../shared/bus/types.js';
import { topicNames } from '../shared/topics.js';
import { IngestPipeline } from '../services/ingester/index.js';
import type { AccessRecord } from '../shared/records.js';
import { figure } from './report-figures.js';
import { rdkafkaInstalled } from '../shared/bus/rdkafka-producer.js';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '100000' }, seconds: { type: 'string', default: '20' }, 'no-kafka': { type: 'boolean', default: false } } });
const n = Math.min(Math.max(1000, Number(values.lines)), 1_000_000);
const root = fileURLToPath(new URL('../..', import.meta.url));
const gen = join(root, 'dist/loadtest/generator/main.js');
const dir = mkdtempSync(join(tmpdir(), 'ingest-stages-'));
const file = join(dir, 'lines.log');
execFileSync(process.execPath, [gen, 'write', '--lines', String(n), '--seed', '7', '--format', 'syslog-json', '--out', file], { stdio: 'ignore' });
const raws = readFileSync(file, 'latin1')
  .split('\n')
  .filter((l) => l.length > 0)
  .map((l) => Buffer.from(l, 'latin1'));

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
/** CPU µs per line of `run`, best of 3 rounds (the first warms the JIT). */
function perLine(run: () => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = cpuUs();
    run();
    best = Math.min(best, (cpuUs() - t0) / raws.length);
  }
  return best;
}

const config = loadConfig({ env: {} });
const decoder = new LineDecoder(config);
const db = geoFor(config);
const geo = db === null ? null : GeoMemo.of(db);
const now = Date.now();
const records: AccessRecord[] = [];
const rows: Array<{ stage: string; us: number }> = [];

rows.push({
  stage: 'decode (syslog header + parse)',
  us: perLine(() => {
    records.length = 0;
    for (const raw of raws) {
      const r = decoder.decode(raw, 'udp', now);
      if (r.ok) records.push(r.record);
    }
  }),
});
rows.push({ stage: 'geo (country + AS)', us: perLine(() => records.forEach((r) => geo?.annotate(r))) });
let values0: Buffer[] = [];
rows.push({ stage: 'encode (Avro, Confluent frame)', us: perLine(() => (values0 = records.map((r) => accessRecordCodec.encode(r)))) });

/** Takes every send at once: the pipeline's own cost, without a bus. */
const nullBus: Bus = {
  kind: 'memory',
  ensureTopics: () => Promise.resolve(),
  publish: () => Promise.resolve(),
  subscribe: () => Promise.reject(new Error('not here')),
  committedOffsets: () => Promise.resolve([]),
  endOffsets: () => Promise.resolve([]),
  offsetsForTimestamp: () => Promise.resolve([]),
  close: () => Promise.resolve(),
};
const pipeline = new IngestPipeline(config, nullBus, topicNames('stages.'));
let offerUs = Infinity;
for (let round = 0; round < 3; round++) {
  const t0 = cpuUs();
  for (const raw of raws) pipeline.offer(raw, 'udp', now);
  await pipeline.flush();
  offerUs = Math.min(offerUs, (cpuUs() - t0) / raws.length);
}
rows.push({ stage: 'offer (the pipeline as a whole, null bus)', us: offerUs });

// Receive: a child sends every line once as a datagram; this process counts them.
const receiveUs = await new Promise<{ us: number; got: number }>((resolve, reject) => {
  const sock = dgram.createSocket('udp4');
  let got = 0;
  let t0 = 0;
  let seen = -1;
  // Done once nothing arrived for 500 ms (checked by an interval: a timer per datagram would be counted as receiving).
  const check = setInterval(() => {
    if (got === 0 || got !== seen) {
      seen = got;
      return;
    }
    clearInterval(check);
    const us = (cpuUs() - t0) / Math.max(1, got);
    sock.close();
    resolve({ us, got });
  }, 500);
  sock.on('message', () => {
    if (got++ === 0) t0 = cpuUs();
  });
  sock.bind(0, '127.0.0.1', () => {
    sock.setRecvBufferSize(64 * 1024 * 1024);
    const port = (sock.address() as { port: number }).port;
    const child = spawn(process.execPath, [gen, 'blast', '--udp', `127.0.0.1:${port}`, '--rate', '50000', '--seconds', '30', '--max-lines', String(raws.length), '--from', file], { stdio: 'ignore' });
    child.on('error', reject);
  });
});
rows.push({ stage: `receive (dgram callback; ${receiveUs.got} of ${raws.length} at 50k/s)`, us: receiveUs.us });

if (!values['no-kafka']) {
  const brokerLine = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8' }).trim().split(/\s+/);
  const msgs: OutgoingMessage[] = values0.map((value, i) => ({ key: records[i]?.client_ip ?? null, value, timestamp: records[i]?.ts ?? now }));
  /** One pass of every record through a bus on `client` (kafka.producer_client), as the ingester sends: CPU µs a record (librdkafka's threads included), records/s. */
  const publishPass = async (client: 'kafkajs' | 'librdkafka'): Promise<{ us: number; rate: number }> => {
    const bus = new KafkaBus({ brokers: [brokerLine[0] as string], clientId: 'ingest-stages', acks: 'all', compression: 'none', replicationFactor: 1, producerClient: client });
    const topic = `stages${Date.now().toString(36)}`;
    await bus.ensureTopics([{ topic, partitions: 6 }]);
    await bus.publish(topic, msgs.slice(0, 1000));
    const t0 = cpuUs();
    const w0 = process.hrtime.bigint();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < msgs.length; i += 4000) {
      inFlight.push(bus.publish(topic, msgs.slice(i, i + 4000)));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const us = (cpuUs() - t0) / msgs.length;
    const rate = msgs.length / (Number(process.hrtime.bigint() - w0) / 1e9);
    await bus.close();
    return { us, rate };
  };
  // librdkafka (opt-in: infra/kafka/install-librdkafka.sh) beside kafkajs when installed, passes alternating, the best of each.
  const rdkafka = await rdkafkaInstalled();
  const clients = rdkafka ? (['kafkajs', 'librdkafka'] as const) : (['kafkajs'] as const);
  const best = new Map<string, { us: number; rate: number }>();
  for (let pass = 0; pass < 2; pass++) {
    for (const client of clients) {
      const r = await publishPass(client);
      if (r.us < (best.get(client)?.us ?? Infinity)) best.set(client, r);
    }
  }
  for (const [client, r] of best) {
    const stage = client === 'kafkajs' ? 'publish' : 'publish-librdkafka';
    rows.push({ stage: `${stage} (${client}, acks=all; ${Math.round(r.rate).toLocaleString('en')} records/s wall)`, us: r.us });
  }
  if (!rdkafka) console.log('  (publish-librdkafka not measured: @confluentinc/kafka-javascript not installed; infra/kafka/install-librdkafka.sh)');
}
rmSync(dir, { recursive: true, force: true });

console.log(`Ingester stages, CPU µs per line (${raws.length.toLocaleString('en')} syslog-json lines, avg ${Math.round(raws.reduce((s, r) => s + r.length, 0) / raws.length)} bytes); load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const r of rows) {
  console.log(`  ${r.stage.padEnd(72)} ${r.us.toFixed(2).padStart(7)} µs  (${Math.round(1e6 / r.us).toLocaleString('en').padStart(10)} lines/s per core)`);
  figure({ bench: 'ingest-stages', name: r.stage.replace(/ \(.*$/, ''), value: r.us, unit: 'CPU µs/line', better: 'lower' });
}
