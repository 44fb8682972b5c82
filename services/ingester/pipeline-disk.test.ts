// The pipeline with its disk buffer (real files), around a bus that goes away:
// nothing dropped while the disk has room, per-client order kept through
// memory → disk → bus, what a stop leaves on disk sent by the next start, and
// a full disk counted, not thrown. The bus is the in-memory one with its
// publish failing as an unavailable broker's does (the fault tests stop a real one).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { BusUnavailableError } from '../../shared/bus/errors.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { OutgoingMessage } from '../../shared/bus/types.js';
import { loadConfig } from '../../shared/config/load.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames } from '../../shared/topics.js';
import { DiskBuffer, readSlot } from './disk-buffer.js';
import { IngestPipeline } from './pipeline.js';

const root = mkdtempSync(join(tmpdir(), 'lw-pipe-disk-'));
after(() => rmSync(root, { recursive: true, force: true }));

const CLIENTS = 5;
const line = (i: number): Buffer =>
  Buffer.from(`<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"203.0.113.${i % CLIENTS}","method":"GET","host":"h","uri":"/p/${'x'.repeat(200)}","status":"200","request_id":"r-${i}"}`);
// 64 KiB of memory: a few hundred lines.
const config = loadConfig({ text: 'ingest: { buffer_max_bytes: 65536 }\nkafka: { linger: 1ms }\nlog_level: silent', env: {} });
const diskOpts = { maxBytes: 64 * 1024 * 1024, segmentBytes: 262_144, fsync: 'never' as const, fsyncIntervalMs: 1000 };

/** A memory bus whose publish fails as an unavailable broker's while `down`. */
async function flakyBus(t: { mock: { method: (o: object, m: string, f: (topic: string, ms: OutgoingMessage[]) => Promise<void>) => unknown } }): Promise<{ bus: MemoryBus; topics: ReturnType<typeof topicNames>; state: { down: boolean } }> {
  const bus = new MemoryBus();
  const topics = topicNames(`pd${Math.random().toString(36).slice(2, 8)}.`);
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
  const state = { down: true };
  const publish = bus.publish.bind(bus);
  t.mock.method(bus, 'publish', (topic: string, ms: OutgoingMessage[]) => (state.down ? Promise.reject(new BusUnavailableError('broker down')) : publish(topic, ms)));
  return { bus, topics, state };
}

/** request ids on the access topic, per client, in partition order. */
function delivered(bus: MemoryBus, topic: string): { all: number[]; perClient: Map<string, number[]> } {
  const all: number[] = [];
  const perClient = new Map<string, number[]>();
  for (let p = 0; p < 3; p++) {
    for (const m of bus.partition(topic, p).messages) {
      const r = accessRecordCodec.decode(m.value);
      const id = Number(r.request_id?.slice(2));
      all.push(id);
      perClient.set(r.client_ip, [...(perClient.get(r.client_ip) ?? []), id]);
    }
  }
  return { all, perClient };
}

test('bus down with memory full: UDP lines spill to disk instead of being dropped; per-client order holds once the bus is back', async (t) => {
  const { bus, topics, state } = await flakyBus(t);
  const disk = DiskBuffer.open(join(root, 'a'), diskOpts);
  const pipeline = new IngestPipeline(config, bus, topics, {}, disk);
  const N = 3000;
  for (let i = 0; i < N; i++) {
    assert.equal(pipeline.offer(line(i), 'udp'), true, 'a reader is never told to pause while the disk has room');
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(pipeline.stats.dropped, {}, 'nothing dropped');
  assert.ok(disk.bytes > 65536 * 4, `spilled past the memory bound (${disk.bytes} bytes on disk)`);
  state.down = false;
  await until('every line on the bus', () => (delivered(bus, topics.access).all.length >= N ? true : undefined), 30_000, 50);
  await pipeline.close();
  const { all, perClient } = delivered(bus, topics.access);
  assert.equal(all.length, N, 'each line once');
  assert.equal(new Set(all).size, N);
  for (const [client, ids] of perClient) assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `${client}: in the order received`);
  await bus.close();
});

test('a stop with the bus down keeps what it holds on disk; the next start sends it, each record once', async (t) => {
  const { bus, topics, state } = await flakyBus(t);
  const dir = join(root, 'b');
  const first = new IngestPipeline(config, bus, topics, {}, DiskBuffer.open(dir, diskOpts));
  const N = 1000;
  for (let i = 0; i < N; i++) first.offer(line(i), 'tcp');
  await first.close(300);
  assert.equal(first.stats.dropped.unsent_at_close ?? 0, 0, 'nothing given up: memory went to disk');
  assert.equal(readSlot(join(dir, '0')).length, N, 'all on disk');
  state.down = false;
  // The next start sends what is on disk without waiting for new input.
  const second = new IngestPipeline(config, bus, topics, {}, DiskBuffer.open(dir, diskOpts));
  await until('the disk sent', () => (delivered(bus, topics.access).all.length >= N ? true : undefined), 30_000, 50);
  second.offer(line(N), 'tcp');
  await second.flush();
  await second.close();
  const { all, perClient } = delivered(bus, topics.access);
  assert.equal(all.length, N + 1);
  assert.equal(new Set(all).size, N + 1, 'nothing twice');
  for (const [client, ids] of perClient) assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `${client}: in order`);
  assert.deepEqual(readSlot(join(dir, '0')), [], 'acknowledged records left the disk');
  await bus.close();
});

test('the disk bound reached: UDP drops are counted as disk_buffer_full, TCP readers are paused, nothing throws', async (t) => {
  const { bus, topics, state } = await flakyBus(t);
  const disk = DiskBuffer.open(join(root, 'c'), { ...diskOpts, maxBytes: 131_072 });
  const pipeline = new IngestPipeline(config, bus, topics, {}, disk);
  let paused = 0;
  for (let i = 0; i < 3000; i++) {
    assert.doesNotThrow(() => {
      if (!pipeline.offer(line(i), i % 2 ? 'udp' : 'tcp')) paused++;
    });
  }
  const dropped = pipeline.stats.dropped.disk_buffer_full ?? 0;
  assert.ok(dropped > 0, 'UDP drops counted');
  assert.ok(paused > 0, 'readers told to pause');
  assert.ok(disk.bytes <= 131_072, `disk within its bound (${disk.bytes})`);
  state.down = false;
  const expected = pipeline.stats.received - dropped;
  assert.equal(pipeline.stats.parsed, expected);
  await until('what was taken on the bus', () => (delivered(bus, topics.access).all.length >= expected ? true : undefined), 30_000, 50);
  await pipeline.close();
  assert.equal(delivered(bus, topics.access).all.length, expected, 'received − counted drops = sent');
  await bus.close();
});
