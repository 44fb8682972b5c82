// Kafka → decision latency: AccessRecords are published to the real broker at
// a steady rate (default 50k lines/s) for a bounded time; among them, every
// 20 ms a new client sends one request with an attack tool's user agent
// (blocked at once). Latency = the moment its block decision is read back
// from the decisions topic − the moment its record was published.
//   node dist/loadtest/detector-latency.bench.js [--rate 50000] [--seconds 10]
import { execFileSync, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { accessRecordCodec, blockDecisionCodec } from '../shared/avro/codec.js';
import { KafkaBus } from '../shared/bus/kafka.js';
import { loadConfig } from '../shared/config/load.js';
import type { AccessRecord } from '../shared/records.js';
import { topicNames } from '../shared/topics.js';
import { DetectorService } from '../services/detector/service.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '50000' }, seconds: { type: 'string', default: '10' }, produce: { type: 'string' } },
});
const rate = Number(values.rate);
const seconds = Math.min(Number(values.seconds), 60);
const root = fileURLToPath(new URL('../..', import.meta.url));
const brokers = [execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).split(/\s+/)[0] as string];

const base: AccessRecord = {
  ts: 0, node: 'edge-1', deployment: 'shop', client_ip: '', method: 'GET', host: 'shop.example', path: '/', query: '', status: 200, bytes: 900,
  request_time: 0.004, upstream_time: 0.003, user_agent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0', referer: '', country: null,
  auth_user: null, request_id: '', blocked_by: null, filter_alert: null, extra: {},
};

/** The producer: a process of its own, as an ingester is. Reports each attacker's send time to the parent. */
async function produce(prefix: string): Promise<void> {
  const topics = topicNames(prefix);
  const bus = new KafkaBus({ brokers, clientId: 'latency-producer', acks: 'all', compression: 'none', replicationFactor: 1 });
  const TICK_MS = 10;
  const perTick = Math.round((rate * TICK_MS) / 1000);
  let sent = 0;
  let attackers = 0;
  const start = Date.now();
  let next = start;
  let inflight: Promise<void>[] = [];
  while (Date.now() - start < seconds * 1000) {
    const now = Date.now();
    const msgs = [];
    for (let i = 0; i < perTick; i++) {
      const n = sent + i;
      const r = { ...base, ts: now, client_ip: `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 0xfe}`, path: `/p/${n % 50}` };
      msgs.push({ key: r.client_ip, value: accessRecordCodec.encode(r), timestamp: now });
    }
    if (now - start >= attackers * 20) {
      const ip = `203.0.${(attackers >>> 8) & 255}.${attackers & 255}`;
      attackers++;
      msgs.push({ key: ip, value: accessRecordCodec.encode({ ...base, ts: now, client_ip: ip, user_agent: 'sqlmap/1.7.2#stable (https://sqlmap.org)' }), timestamp: now });
      process.send?.({ ip, at: performance.timeOrigin + performance.now() });
    }
    sent += perTick;
    inflight.push(bus.publish(topics.access, msgs));
    if (inflight.length >= 8) {
      await Promise.all(inflight);
      inflight = [];
    }
    next += TICK_MS;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(inflight);
  process.send?.({ done: true, sent, attackers, seconds: (Date.now() - start) / 1000 });
  await bus.close();
}

if (values.produce !== undefined) {
  await produce(values.produce);
  process.exit(0);
}

const prefix = `lat${Date.now().toString(36)}.`;
const config = loadConfig({ text: `kafka: { brokers: ${JSON.stringify(brokers)}, topic_prefix: "${prefix}", partitions: 6 }\ndetection: { shards: 2 }\nlog_level: warn`, env: {} });
const topics = topicNames(prefix);
const bus = new KafkaBus({ brokers, clientId: 'latency-bench', acks: 'all', compression: 'none', replicationFactor: 1 });
await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 6 })));
const detector = new DetectorService({ config, bus, topics, groupId: `${prefix}det` });
await detector.start();

const sentAt = new Map<string, number>();
const latencies: number[] = [];
await bus.subscribe({
  groupId: `${prefix}probe`,
  topics: [topics.decisions],
  fromBeginning: true,
  onBatch: (b) => {
    const now = performance.timeOrigin + performance.now();
    for (const m of b.messages) {
      const d = blockDecisionCodec.decode(m.value);
      const t = sentAt.get(d.ip);
      if (d.action === 'block' && t !== undefined) latencies.push(now - t);
    }
    return Promise.resolve();
  },
});
await sleep(3000); // both groups joined

const child = fork(fileURLToPath(import.meta.url), ['--produce', prefix, '--rate', String(rate), '--seconds', String(seconds)]);
const summary = await new Promise<{ sent: number; attackers: number; seconds: number }>((resolve, reject) => {
  child.on('message', (m: { ip?: string; at?: number; done?: boolean; sent?: number; attackers?: number; seconds?: number }) => {
    if (m.ip !== undefined && m.at !== undefined) sentAt.set(m.ip, m.at);
    if (m.done) resolve({ sent: m.sent ?? 0, attackers: m.attackers ?? 0, seconds: m.seconds ?? 0 });
  });
  child.on('exit', (code) => code !== 0 && reject(new Error(`producer exited with ${code}`)));
});
const { sent, attackers } = summary;
const elapsed = summary.seconds;
const deadline = Date.now() + 30_000;
while (latencies.length < attackers && Date.now() < deadline) await sleep(100);
await detector.close();
await bus.close();

latencies.sort((a, b) => a - b);
const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
console.log(`Kafka → decision latency (Apache Kafka ${execFileSync('bash', ['infra/kafka/kafka.sh', 'version'], { cwd: root, encoding: 'utf8' }).trim()} on this machine, detector with ${config.detection.shards} shards, producer in its own process)`);
console.log(`  input        ${Math.round(sent / elapsed).toLocaleString('en')} records/s for ${elapsed.toFixed(1)} s (target ${rate.toLocaleString('en')})`);
console.log(`  decisions    ${latencies.length} of ${attackers} attackers blocked`);
console.log(`  latency      p50 ${q(0.5).toFixed(1)} ms   p99 ${q(0.99).toFixed(1)} ms   max ${(latencies[latencies.length - 1] ?? NaN).toFixed(1)} ms`);
console.log('  peer         CrowdSec\'s OpenResty bouncer polls its decisions every 10 s by default (up to 10 000 ms before a ban applies)');
const bouncer = { name: "CrowdSec bouncer's 10 s poll (documented worst case)", value: 10_000 };
const note = `${Math.round(sent / elapsed)} records/s input; ${latencies.length} of ${attackers} attackers blocked`;
figure({ bench: 'detector-latency', name: 'Kafka → block decision p50', value: q(0.5), unit: 'ms', peer: bouncer, better: 'lower', note });
figure({ bench: 'detector-latency', name: 'Kafka → block decision p99', value: q(0.99), unit: 'ms', peer: bouncer, better: 'lower', note });
figure({ bench: 'detector-latency', name: 'attackers blocked', value: attackers > 0 ? latencies.length / attackers : NaN, unit: 'share', better: 'higher', aim: 1 });
process.exit(0);
