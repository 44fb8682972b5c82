// Kafka compression: bytes the broker stores (what crossed the wire, record
// batches as sent) and the producer's CPU per record, for each codec
// (kafka.compression: none, gzip, lz4, zstd), on the same generated access
// records, Avro-encoded as the ingester publishes them, against the real
// broker (infra/kafka). The peer is no compression, from the same run.
//
//   node dist/loadtest/kafka-compression.bench.js [--records 100000] [--batch 2000]
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { accessRecordCodec } from '../shared/avro/codec.js';
import type { Compression } from '../shared/bus/codecs.js';
import { KafkaBus } from '../shared/bus/kafka.js';
import type { AccessRecord } from '../shared/records.js';
import { Rng } from './generator/prng.js';
import { BROWSER_UAS } from '../services/cli/demo-site.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '100000' }, batch: { type: 'string', default: '2000' } } });
const N = Number(values.records);
const BATCH = Number(values.batch);
const root = fileURLToPath(new URL('../..', import.meta.url));
const brokers = [execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).split(/\s+/)[0] as string];
// The broker's data dir, as infra/kafka/kafka.sh places it.
const dataDir = join(process.env.LOGWARDEN_KAFKA_DIR ?? join(root, 'infra/kafka/.run'), 'data');

// Records as a shop's traffic makes them: repeated hosts, agents and path shapes, distinct times and ids.
const rng = new Rng(42);
const t0 = Date.UTC(2026, 11, 1);
const records: Buffer[] = Array.from({ length: N }, (_, i) => {
  const r: AccessRecord = {
    ts: t0 + i * 7, node: `edge-${i % 4}`, deployment: 'shop', client_ip: `198.51.${rng.int(0, 255)}.${rng.int(1, 254)}`, method: rng.pick(['GET', 'GET', 'GET', 'POST']),
    host: 'shop.example', path: rng.pick(['/', '/products/', '/static/app.js', '/img/']) + String(rng.int(1, 500)), query: rng.chance(0.2) ? `q=${rng.int(1, 99)}` : '',
    status: rng.pick([200, 200, 200, 304, 404]), bytes: rng.int(200, 90_000), request_time: rng.int(1, 900) / 1000, upstream_time: null,
    user_agent: rng.pick(BROWSER_UAS), referer: 'https://shop.example/', country: null, auth_user: null, request_id: `${i.toString(16)}-1`,
    blocked_by: null, filter_alert: null, extra: {},
  };
  return accessRecordCodec.encode(r);
});
const rawBytes = records.reduce((n, b) => n + b.length, 0);

/** Bytes of the topic's log segments on the broker's disk. */
function storedBytes(topic: string): number {
  let total = 0;
  for (const d of readdirSync(dataDir)) {
    if (!d.startsWith(`${topic}-`)) continue;
    for (const f of readdirSync(join(dataDir, d))) if (f.endsWith('.log')) total += statSync(join(dataDir, d, f)).size;
  }
  return total;
}

interface Result {
  codec: Compression;
  stored: number;
  cpuUsPerRecord: number;
  recordsPerS: number;
}

async function run(codec: Compression): Promise<Result> {
  const bus = new KafkaBus({ brokers, clientId: `compression-bench-${codec}`, acks: 'all', compression: codec, replicationFactor: 1 });
  const topic = `bench-compression-${codec}-${process.pid}-${Date.now().toString(36)}`;
  try {
    await bus.ensureTopics([{ topic, partitions: 2 }]);
    // One warm-up batch (connections, the codec's first call), on a topic of its own.
    await bus.ensureTopics([{ topic: `${topic}-warm`, partitions: 1 }]);
    await bus.publish(`${topic}-warm`, records.slice(0, BATCH).map((value, i) => ({ key: Buffer.from(String(i % 64)), value })));
    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    for (let i = 0; i < N; i += BATCH) await bus.publish(topic, records.slice(i, i + BATCH).map((value, j) => ({ key: Buffer.from(String((i + j) % 64)), value })));
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    // The broker has written what it acknowledged (acks=all); the segment files hold it.
    return { codec, stored: storedBytes(topic), cpuUsPerRecord: (cpu.user + cpu.system) / N, recordsPerS: N / wall };
  } finally {
    await bus.close();
  }
}

const results: Result[] = [];
for (const codec of ['none', 'gzip', 'lz4', 'zstd'] as const) results.push(await run(codec));
const none = results[0] as Result;
console.log(`kafka compression: ${N.toLocaleString('en')} Avro access records (${(rawBytes / N).toFixed(0)} B each), batches of ${BATCH}, acks=all, real broker`);
console.log('  codec   stored bytes/record   ratio vs none   producer CPU µs/record   records/s');
for (const r of results) {
  console.log(`  ${r.codec.padEnd(6)}  ${(r.stored / N).toFixed(1).padStart(19)}   ${(none.stored / r.stored).toFixed(2).padStart(13)}×   ${r.cpuUsPerRecord.toFixed(2).padStart(22)}   ${Math.round(r.recordsPerS).toLocaleString('en').padStart(9)}`);
  if (r.codec === 'none') continue;
  figure({ bench: 'kafka-compression', name: `${r.codec}: bytes stored per record`, value: r.stored / N, unit: 'B', better: 'lower', peer: { name: 'no compression', value: none.stored / N } });
  figure({ bench: 'kafka-compression', name: `${r.codec}: producer CPU per record`, value: r.cpuUsPerRecord, unit: 'µs', better: 'lower', peer: { name: 'no compression', value: none.cpuUsPerRecord } });
}
process.exit(0);
