// The ingester's disk buffer (services/ingester/disk-buffer.ts) on its hot
// paths: lines/s through the pipeline while it spills (the bus unavailable,
// the memory bound reached: every record appended to segment files), for each
// fsync policy, and while it drains (the bus back: records read from disk,
// checked, published, acknowledged, segments deleted). Beside them, the same
// lines through memory alone (no disk), the fast path the buffer stands behind.
//
//   node dist/loadtest/disk-buffer.bench.js [--lines N]    (default 200000; bounded: at most 2,000,000)
//
// The bus is the in-process one, its publish failing as an unavailable
// broker's while "down": the figures are the ingester's own ceiling (parse,
// encode, disk), not Kafka's. Files go to a temporary directory, removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { OutgoingMessage } from '../shared/bus/types.js';
import type { DiskBuffer as DiskBufferT, IngestPipeline as IngestPipelineT } from '../services/ingester/index.js';
import { intArg } from './args.js';
import { figure } from './report-figures.js';

// The retries' warnings (the bus is down on purpose) would bury the figures; the logger reads this when first imported.
process.env.LOGWARDEN_LOG_LEVEL ??= 'error';
const { BusUnavailableError } = await import('../shared/bus/errors.js');
const { MemoryBus } = await import('../shared/bus/memory.js');
const { loadConfig } = await import('../shared/config/load.js');
const { topicNames } = await import('../shared/topics.js');
const { DiskBuffer, IngestPipeline } = await import('../services/ingester/index.js');
type DiskBuffer = DiskBufferT;
type IngestPipeline = IngestPipelineT;
type MemoryBus = InstanceType<typeof MemoryBus>;

const { values } = parseArgs({ options: { lines: { type: 'string', default: '200000' } } });
const N = Math.min(intArg(values.lines, 'lines', 1000), 2_000_000);
const AIM = 25_000; // the ingest rate: an outage at 25k lines/s must be absorbed, and drained faster than it comes
const dir = mkdtempSync(join(tmpdir(), 'lw-bench-diskbuf-'));

const lines = Array.from({ length: 4096 }, (_, i) =>
  Buffer.from(`<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.${i % 1000}","client_ip":"100.64.${(i >> 8) & 255}.${i & 255}","method":"GET","host":"shop.example.com","uri":"/api/v1/orders/${i * 7919}?ref=home","status":"200","bytes":"${1000 + i}","request_time":"0.012","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0","request_id":"r-${i}"}`),
);
const config = loadConfig({ text: 'ingest: { buffer_max_bytes: 1048576 }\nkafka: { linger: 5ms }\nlog_level: silent', env: {} });

interface Run {
  pipeline: IngestPipeline;
  bus: MemoryBus;
  state: { down: boolean; firstAck: number; published: number };
}

async function setup(name: string, disk: DiskBuffer | undefined, down: boolean): Promise<Run> {
  const bus = new MemoryBus();
  const topics = topicNames(`${name}.`);
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
  const state = { down, firstAck: 0, published: 0 };
  const publish = bus.publish.bind(bus);
  // The bus "down": publish fails as an unavailable broker's does.
  bus.publish = async (topic: string, ms: OutgoingMessage[]): Promise<void> => {
    if (state.down) throw new BusUnavailableError('broker down (bench)');
    await publish(topic, ms);
    if (state.firstAck === 0) state.firstAck = performance.now();
    state.published += ms.length;
  };
  return { pipeline: new IngestPipeline(config, bus, topics, {}, disk), bus, state };
}

/** Offers N lines as sockets deliver them (a turn of the event loop every 500), timed to the last written. */
async function offerAll(p: IngestPipeline): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    p.offer(lines[i & 4095] as Buffer, 'udp');
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  return performance.now() - t0;
}

const rate = (ms: number): number => Math.round(N / (ms / 1000));
const rows: Array<[string, number]> = [];

// Memory alone: the bus up, no disk buffer.
{
  const r = await setup('mem', undefined, false);
  const t0 = performance.now();
  await offerAll(r.pipeline);
  await r.pipeline.flush();
  const total = performance.now() - t0;
  rows.push(['memory only (no disk), bus up', rate(total)]);
  figure({ bench: 'disk-buffer', name: 'memory only, bus up', value: rate(total), unit: 'lines/s', better: 'higher', note: 'parse+encode+publish to the in-process bus' });
  await r.pipeline.close();
}

for (const fsync of ['interval', 'always', 'never'] as const) {
  const disk = DiskBuffer.open(join(dir, fsync), { maxBytes: 4 * 1024 * 1024 * 1024, segmentBytes: 16 * 1024 * 1024, fsync, fsyncIntervalMs: 1000 });
  const r = await setup(fsync, disk, true);
  const spillMs = await offerAll(r.pipeline);
  const spilled = disk.bytes;
  rows.push([`spilling (bus down), fsync ${fsync}`, rate(spillMs)]);
  figure({ bench: 'disk-buffer', name: `spilling, fsync ${fsync}`, value: rate(spillMs), unit: 'lines/s', better: 'higher', aim: AIM, note: `${(spilled / N).toFixed(0)} bytes a record on disk` });
  if (fsync === 'interval') {
    // Drain: timed from the first acknowledgement (the retry's backoff is not the disk's).
    r.state.down = false;
    await r.pipeline.flush();
    const drainMs = performance.now() - r.state.firstAck;
    if (r.state.published < N) throw new Error(`drained ${r.state.published} of ${N}`);
    rows.push(['draining (bus back), fsync interval', rate(drainMs)]);
    figure({ bench: 'disk-buffer', name: 'draining', value: rate(drainMs), unit: 'lines/s', better: 'higher', aim: AIM, note: 'read, checked, published to the in-process bus, acknowledged' });
    if (disk.bytes > 16 * 1024 * 1024 + 65_536) throw new Error(`${disk.bytes} bytes left on disk after the drain`);
  }
  // What is left on disk stays there (the directory is removed below).
  await r.pipeline.close(100);
}
rmSync(dir, { recursive: true, force: true });

console.log(`disk buffer, ${N} lines of ~${lines[0]?.length} bytes each:`);
for (const [name, v] of rows) console.log(`  ${name.padEnd(40)} ${v.toLocaleString('en-US').padStart(12)} lines/s`);
process.exit(0);
