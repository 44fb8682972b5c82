// The SIEM push's path per record, and delivery to a SIEM on loopback TCP.
//
//   node dist/loadtest/siem-push.bench.js [--records N] [--concurrency P]
//
// 1. map + frame: N security events as the bus carries them (Avro) decoded,
//    mapped to ECS (shared/ecs.ts), serialized and framed as RFC 5424
//    octet-counted syslog — the work per record read, one core.
// 2. delivered: the same N records, mapped and framed again, through a syslog+tcp:// target
//    (siem-target.ts: queue, batches of 500, one connection) to a loopback
//    TCP receiver, offered the way the consumer does — a bus batch of 1000
//    at a time per partition, each awaited until acknowledged before the next
//    (commit after acknowledgement), P partitions at once — until the
//    receiver holds every byte.
// A bound on count and time; loopback only.
import { securityEventCodec } from '../shared/avro/codec.js';
import { loadConfig } from '../shared/config/load.js';
import type { SiemTarget as SiemTargetConfig } from '../shared/config/types.js';
import type { SecurityEvent } from '../shared/records.js';
import { siemFrame } from '../services/notifier/siem.js';
import { SiemTarget } from '../services/notifier/siem-target.js';
import { tcpReceiver } from '../services/notifier/testing/siem-receiver.js';
import { intArg } from './args.js';
import { figure } from './report-figures.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: number, min: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? intArg(argv[i + 1] ?? '', name, min) : def;
};
const N = Math.min(opt('records', 200_000, 1000), 2_000_000);
const P = Math.min(opt('concurrency', 4, 1), 64);
const BUS_BATCH = 1000;
const deadline = setTimeout(() => {
  console.error('siem-push bench: over 120 s, stopped');
  process.exit(1);
}, 120_000);

const rx = await tcpReceiver('octet', { keep: false });
const [target] = loadConfig({
  text: JSON.stringify({ siem: { targets: [{ name: 'bench', url: `syslog+tcp://127.0.0.1:${rx.port}` }] }, log_level: 'warn' }),
  env: {},
}).siem.targets as [SiemTargetConfig];

const values: Buffer[] = Array.from({ length: N }, (_, i) => securityEventCodec.encode({
  id: `bench-${i}`, ts: 1_780_000_000_000 + i, type: i % 7 === 0 ? 'blocked_ip' : 'scan_detected', detector: 'unique_paths', ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  deployment: 'shop', count: 20, window_start: 1_780_000_000_000 + i - 120_000, window_end: 1_780_000_000_000 + i, sample_paths: ['/.env', '/wp-login.php'], details: { ua: 'curl/8.5' },
  country: 'NL', asn: 64500, as_org: 'Example AS',
} satisfies SecurityEvent));

// 1: map + frame.
const t0 = process.hrtime.bigint();
let bytes = 0;
for (let i = 0; i < N; i++) bytes += (siemFrame(target, 'event', values[i] as Buffer) as Buffer).length;
const mapS = Number(process.hrtime.bigint() - t0) / 1e9;

// 2: through the target to the receiver, P partitions of bus batches.
const siem = new SiemTarget(target);
const t1 = process.hrtime.bigint();
let next = 0;
async function partition(): Promise<void> {
  while (next < N) {
    const from = next;
    next = Math.min(N, next + BUS_BATCH);
    const outcomes = await Promise.all(values.slice(from, next).map((v) => siem.offer(siemFrame(target, 'event', v) as Buffer, 'event')));
    if (outcomes.some((o) => o !== 'sent')) throw new Error(`a record was not sent: ${outcomes.find((o) => o !== 'sent')}`);
  }
}
await Promise.all(Array.from({ length: P }, partition));
while (rx.bytes < bytes) await new Promise((resolve) => setTimeout(resolve, 5));
const deliverS = Number(process.hrtime.bigint() - t1) / 1e9;
const stats = siem.stats;
await siem.close(1000);
await rx.stop();
clearTimeout(deadline);

const mapRate = N / mapS;
const deliverRate = N / deliverS;
console.log(`siem-push bench: ${N} security events, ${(bytes / N).toFixed(0)} bytes a framed record, ${P} partitions of ${BUS_BATCH}-record bus batches`);
console.log(`  decode + ECS map + JSON + RFC 5424 frame   ${Math.round(mapRate).toLocaleString('en')} records/s`);
console.log(`  map + frame + delivered to loopback TCP     ${Math.round(deliverRate).toLocaleString('en')} records/s, ${(bytes / deliverS / 1e6).toFixed(1)} MB/s in ${stats.batches} batches (${stats.retries} retries, ${stats.dropped.queue_full} dropped)`);
figure({ bench: 'siem-push', name: 'SIEM record map + frame', value: mapRate, unit: 'records/s', better: 'higher', aim: 20_000, note: 'Avro decode, ECS mapping, JSON, RFC 5424 octet-counted frame; one core' });
figure({ bench: 'siem-push', name: 'SIEM records mapped and delivered over TCP', value: deliverRate, unit: 'records/s', better: 'higher', aim: 20_000, note: `ECS map + frame, syslog+tcp:// to a loopback receiver, batches of 500, ${P} partitions, each bus batch awaited until acknowledged` });
process.exit(0);
