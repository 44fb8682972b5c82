// The notifier's path per record, and delivery to a webhook on loopback.
//
//   node dist/loadtest/notify.bench.js [--items N] [--singles K]
//
// 1. offer: N security events turned into items and offered (id, dedup, the
//    target's filter, its queue) — the work the notifier does per record it
//    reads; it must keep far ahead of the events topic.
// 2. delivery: the same N items to a loopback receiver with aggregation
//    (1 s window, 500 items a message), until the receiver has them all.
// 3. latency: K single blocks one after the other, window 0: offer → receiver.
// A bound on count and time; loopback only.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../shared/config/load.js';
import type { SecurityEvent } from '../shared/records.js';
import { Notifier } from '../services/notifier/index.js';
import { decisionItem, eventItem } from '../services/notifier/payload.js';
import { intArg } from './args.js';
import { figure } from './report-figures.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: number, min: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? intArg(argv[i + 1] ?? '', name, min) : def;
};
const N = opt('items', 200_000, 1000);
const K = opt('singles', 50, 1);
const SECRET = 'bench-signing-secret-0123456789abc';

let receivedItems = 0;
let receivedMessages = 0;
let onMessage: (() => void) | undefined;
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    receivedItems += (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { count: number }).count;
    receivedMessages++;
    res.writeHead(200).end();
    onMessage?.();
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

function target(over: Record<string, unknown>) {
  const doc = { notifications: { targets: [{ name: 'bench', url, secret_env: 'S', kinds: ['block', 'event'], rate_limit: '1000/1s', ...over }] } };
  return loadConfig({ text: JSON.stringify(doc), env: { S: SECRET } }).notifications.targets;
}

const events: SecurityEvent[] = Array.from({ length: N }, (_, i) => ({
  id: `bench-${i}`, ts: 1_780_000_000_000 + i, type: 'scan_detected', detector: 'unique_paths', ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  deployment: 'shop', count: 20, window_start: 0, window_end: 0, sample_paths: ['/a', '/b'], details: {},
}));

// 1 + 2: offer all, then wait for the receiver to hold them.
const bulk = new Notifier(target({ aggregate_window: '1s', max_items: 500, queue_max: N }));
const t0 = process.hrtime.bigint();
for (const e of events) bulk.offer(eventItem(e));
const offerS = Number(process.hrtime.bigint() - t0) / 1e9;
await new Promise<void>((resolve) => {
  onMessage = () => receivedItems >= N && resolve();
  onMessage();
});
const deliverS = Number(process.hrtime.bigint() - t0) / 1e9;
const bulkStats = bulk.stats().bench;
await bulk.close(1000);

// 3: one block at a time, window 0.
const single = new Notifier(target({ aggregate_window: '0s', max_items: 1 }));
const latencies: number[] = [];
for (let i = 0; i < K; i++) {
  const arrived = new Promise<void>((resolve) => (onMessage = resolve));
  const t = process.hrtime.bigint();
  single.offer(decisionItem({ ip: `192.0.2.${i % 250}`, action: 'block', reason: 'bench', source: 'auto', created_at: Date.now() + i, expires_at: null, deployment: null, escalation_level: 0 }));
  await arrived;
  latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
}
await single.close(1000);
server.close();
latencies.sort((a, b) => a - b);
const p50 = latencies[Math.floor(K * 0.5)] ?? NaN;
const p99 = latencies[Math.min(K - 1, Math.floor(K * 0.99))] ?? NaN;

const offerRate = N / offerS;
const deliverRate = N / deliverS;
console.log(`notify bench: ${N} events, ${K} single blocks, loopback receiver`);
console.log(`  offer (item, dedup, filter, queue)   ${Math.round(offerRate).toLocaleString('en')} items/s`);
console.log(`  delivered with aggregation           ${Math.round(deliverRate).toLocaleString('en')} items/s in ${receivedMessages - K} messages (${bulkStats?.retries ?? 0} retries, ${bulkStats?.dropped.queue_full ?? 0} dropped)`);
console.log(`  single block offer → receiver        p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
figure({ bench: 'notify', name: 'notifier offer (per record read)', value: offerRate, unit: 'items/s', better: 'higher', aim: 20_000, note: 'item, dedup, filter, queue; one target (events arrive aggregated: thousands a second at most)' });
figure({ bench: 'notify', name: 'notifications delivered, aggregated', value: deliverRate, unit: 'items/s', better: 'higher', note: `1 s window, 500 items a message, signed, loopback receiver` });
figure({ bench: 'notify', name: 'single block to webhook, p50', value: p50, unit: 'ms', better: 'lower', aim: 50, note: 'aggregate_window 0s, loopback receiver' });
process.exit(0);
