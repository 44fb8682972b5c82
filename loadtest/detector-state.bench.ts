// Detector state: bytes per tracked IP with N distinct IPs inside one
// detection window, and the engine's raw throughput on those records.
//   node dist/loadtest/detector-state.bench.js [IPS=1000000]
// Prints the table's own bytes per IP and the process's measured growth
// (heap + array buffers) per IP, which also counts what the table does not.
import { loadConfig } from '../shared/config/load.js';
import type { AccessRecord } from '../shared/records.js';
import { engineConfig } from '../services/detector/config.js';
import { DetectionEngine } from '../services/detector/engine.js';
import { BYTES_PER_SLOT } from '../services/detector/ip-table.js';
import { figure } from './report-figures.js';

const ips = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;

function mem(): number {
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const config = loadConfig({ text: '', env: {} });
const before = mem();
const engine = new DetectionEngine({ ...engineConfig(config), capacity: 1024 });
const t0 = 1_795_240_800_000;
const rec: AccessRecord = {
  ts: t0, node: 'edge', deployment: 'shop', client_ip: '', method: 'GET', host: 'shop.example', path: '/', query: '', status: 200,
  bytes: 512, request_time: 0.01, upstream_time: null, user_agent: 'Mozilla/5.0', referer: '', country: null, auth_user: null,
  request_id: '', blocked_by: null, filter_alert: null, extra: {},
};
const paths = ['/', '/products', '/cart', '/static/app.js', '/img/logo.png', '/search'];
const start = process.hrtime.bigint();
let n = 0;
// Every IP sends 3 requests within 90 s: all of them are inside the 2-minute window at the end.
// Each IPv6 address is in a /64 of its own (a client each: detection.ipv6_client_prefix).
for (let round = 0; round < 3; round++) {
  for (let i = 0; i < ips; i++) {
    rec.client_ip = i % 8 === 0 ? `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1` : `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
    rec.ts = t0 + round * 30_000 + Math.floor((i / ips) * 30_000);
    rec.path = paths[(i + round) % paths.length] as string;
    engine.process(rec);
    n++;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
// Let the collector release the arrays a table growth left behind before measuring.
await new Promise((r) => setTimeout(r, 200));
mem();
await new Promise((r) => setTimeout(r, 200));
const after = mem();
const snap = engine.snapshot();

console.log(`detector state: ${ips.toLocaleString('en')} distinct IPs inside one ${config.security.detection_window_ms / 1000}s window (${(ips / 8).toLocaleString('en')} IPv6)`);
console.log(`  tracked IPs            ${snap.trackedIps.toLocaleString('en')}`);
console.log(`  bytes per slot         ${BYTES_PER_SLOT} (layout)`);
console.log(`  table bytes / IP       ${(snap.tableBytes / snap.trackedIps).toFixed(1)}  (table ${(snap.tableBytes / 2 ** 20).toFixed(1)} MiB, open addressing ≤ 70% full)`);
console.log(`  process growth / IP    ${((after - before) / snap.trackedIps).toFixed(1)}  (heap + array buffers${gc ? ', after gc' : '; run with --expose-gc for a cleaner figure'})`);
console.log(`  aim                    ≤ 256 B per tracked IP`);
console.log(`  engine throughput      ${Math.round(n / seconds).toLocaleString('en')} records/s on one thread (${n.toLocaleString('en')} records in ${seconds.toFixed(2)} s, no parsing)`);
figure({ bench: 'detector-state', name: `table bytes per tracked IP (${ips.toLocaleString('en')} IPs)`, value: snap.tableBytes / snap.trackedIps, unit: 'B', better: 'lower', aim: 256 });
figure({ bench: 'detector-state', name: 'process growth per tracked IP', value: (after - before) / snap.trackedIps, unit: 'B', better: 'lower', aim: 256, note: gc ? 'heap + array buffers after gc' : 'without --expose-gc' });
figure({ bench: 'detector-state', name: 'engine throughput, one thread, no parsing', value: n / seconds, unit: 'records/s', better: 'higher' });
