// Fuzzing TCP framing (RFC 6587): octet-counted and newline-framed streams cut
// into random chunks, with oversize frames, huge and bogus counts and garbage.
// Properties: the frames and errors do not depend on where the chunks split;
// memory held per connection stays under the frame limit plus one chunk; and
// over real sockets every frame is counted once by the pipeline (published or
// dead-lettered), the real lines all published.
// Seed per run, printed; replay with LOGWARDEN_FUZZ_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import { topicNames } from '../../shared/topics.js';
import { Rng } from '../../loadtest/generator/prng.js';
import { IngestPipeline } from './pipeline.js';
import { FrameSplitter, startTcpInput } from './tcp.js';
import { garbageLine, randomBytes } from './testing/garbage.js';

const SEED = Number(process.env.LOGWARDEN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MAX = 512;

interface Outcome {
  frames: string[];
  errors: string[];
  maxBuffered: number;
}

/** Runs a stream through a splitter in the given chunk sizes (0: one push). */
function run(stream: Buffer, chunkOf: () => number, end: 'end' | 'abort' = 'end'): Outcome {
  const frames: string[] = [];
  const errors: string[] = [];
  const s = new FrameSplitter(MAX, (f) => frames.push(f.toString('base64')), (reason) => errors.push(reason));
  let maxBuffered = 0;
  for (let p = 0; p < stream.length; ) {
    const n = Math.max(1, chunkOf());
    s.push(stream.subarray(p, p + n));
    maxBuffered = Math.max(maxBuffered, s.bufferedBytes);
    p += n;
  }
  if (end === 'end') s.end();
  else s.abort();
  return { frames, errors, maxBuffered };
}

const whole = (): number => Number.MAX_SAFE_INTEGER;

/** A frame body of random bytes, never an LF (it ends line frames) nor a CR (stripped before one). */
function body(rng: Rng, n: number): Buffer {
  const b = randomBytes(rng, n);
  for (let i = 0; i < b.length; i++) if (b[i] === 10 || b[i] === 13) b[i] = 32;
  return b;
}

/** An octet-counted stream of known frames: valid ones, oversize ones (skipped), trailers tolerated. */
function octetStream(rng: Rng): { stream: Buffer; frames: string[]; errors: string[] } {
  const parts: Buffer[] = [];
  const frames: string[] = [];
  const errors: string[] = [];
  for (let k = rng.int(1, 40); k > 0; k--) {
    const b = body(rng, rng.chance(0.1) ? rng.int(MAX + 1, 4 * MAX) : rng.int(1, MAX));
    if (rng.chance(0.5)) b.write('\n', rng.int(0, b.length - 1)); // LF inside a counted frame is content
    parts.push(Buffer.from(`${b.length} `), b);
    if (b.length > MAX) errors.push('too_long');
    else frames.push(b.toString('base64'));
    if (rng.chance(0.2)) parts.push(Buffer.from(rng.pick(['\n', '\r\n'])));
  }
  if (rng.chance(0.3)) {
    // A count far past the limit at the end, with only part of its body before the peer closes: one error.
    const count = rng.int(MAX + 1, 9_999_999_999);
    parts.push(Buffer.from(`${count} `), body(rng, rng.int(0, Math.min(count - 1, 3 * MAX))));
    errors.push('too_long');
  }
  return { stream: Buffer.concat(parts), frames, errors };
}

/** A newline-framed stream of known lines: empty, CRLF, oversize, and a last line without LF. */
function lineStream(rng: Rng): { stream: Buffer; frames: string[]; errors: string[] } {
  const parts: Buffer[] = [Buffer.from('<')]; // the first byte decides the framing: not a digit
  const frames: string[] = [];
  const errors: string[] = [];
  let first = true;
  for (let k = rng.int(1, 40); k > 0; k--) {
    const content = rng.chance(0.05) ? Buffer.alloc(0) : body(rng, rng.chance(0.1) ? rng.int(MAX + 1, 4 * MAX) : rng.int(1, MAX - 1));
    const line = first ? Buffer.concat([Buffer.from('<'), content]) : content;
    first = false;
    const crlf = rng.chance(0.3);
    parts.push(content, Buffer.from(crlf ? '\r\n' : '\n'));
    const onWire = line.length + (crlf ? 1 : 0); // the CR is part of the frame until it is stripped
    if (onWire > MAX) errors.push('too_long');
    else if (onWire > 0) frames.push(line.toString('base64'));
  }
  if (rng.chance(0.5)) {
    const last = body(rng, rng.int(1, MAX));
    parts.push(last);
    frames.push(last.toString('base64'));
  }
  return { stream: Buffer.concat(parts), frames, errors };
}

test(`fuzz: TCP framing, known streams in random chunks give exactly their frames (seed ${SEED})`, (t) => {
  t.diagnostic(`seed ${SEED}`);
  const rng = new Rng(SEED, 11);
  for (let k = 0; k < 1500; k++) {
    const octet = rng.chance(0.5);
    const { stream, frames, errors } = octet ? octetStream(rng) : lineStream(rng);
    const maxChunk = rng.pick([1, 3, 17, 200, 5000]);
    const got = run(stream, () => rng.int(1, maxChunk));
    const what = `seed ${SEED}, case ${k}, ${octet ? 'octet' : 'line'} framing, chunks ≤ ${maxChunk}`;
    assert.deepEqual(got.frames, frames, what);
    assert.deepEqual(got.errors, errors, what);
    assert.ok(got.maxBuffered <= MAX + 16 + maxChunk, `${what}: ${got.maxBuffered} bytes held`);
  }
});

test(`fuzz: TCP framing of garbage: same answer however it is chunked, bounded memory (seed ${SEED})`, (t) => {
  t.diagnostic(`seed ${SEED}`);
  const rng = new Rng(SEED, 12);
  const real = [Buffer.from('<190>Nov 21 06:00:44 edge nginx: {"client_ip":"198.51.100.7","status":"200"}')];
  const bogus = ['0 ', '00012 ', '-5 ', '+5 ', '1e3 ', '0x10 ', ' 5 ', '1.5 ', '99999999999 ', '12345678901234 ', '5\t', '5x', '\r\n\r\n'];
  for (let k = 0; k < 1500; k++) {
    const parts: Buffer[] = [];
    for (let j = rng.int(1, 25); j > 0; j--) {
      const r = rng.float();
      if (r < 0.3) {
        const b = garbageLine(rng, real, MAX);
        parts.push(Buffer.from(`${b.length} `), b);
      } else if (r < 0.45) parts.push(Buffer.from(rng.pick(bogus)));
      else if (r < 0.6) parts.push(Buffer.from(`${rng.int(1, 9_999_999_999)} `));
      else if (r < 0.8) parts.push(garbageLine(rng, real, MAX), Buffer.from('\n'));
      else parts.push(randomBytes(rng, rng.int(0, 3 * MAX)));
    }
    const stream = Buffer.concat(parts);
    const reference = run(stream, whole);
    for (const end of ['end', 'abort'] as const) {
      const maxChunk = rng.pick([1, 7, 64, 1000]);
      const got = run(stream, () => rng.int(1, maxChunk), end);
      const what = `seed ${SEED}, case ${k}, chunks ≤ ${maxChunk}, ${end}`;
      const ref = end === 'end' ? reference : run(stream, whole, 'abort');
      assert.deepEqual(got.frames, ref.frames, what);
      assert.deepEqual(got.errors, ref.errors, what);
      assert.ok(got.maxBuffered <= MAX + 16 + maxChunk, `${what}: ${got.maxBuffered} bytes held`);
      for (const f of got.frames) assert.ok(Buffer.from(f, 'base64').length <= MAX, `${what}: a frame over the limit`);
    }
  }
});

test(`fuzz: TCP input over real sockets, garbage and real frames in random chunks: every frame counted once (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const rng = new Rng(SEED, 13);
  const bus = new MemoryBus();
  const topics = topicNames('tcpfuzz.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 2 })));
  const config = loadConfig({ text: `ingest: { max_line_bytes: 1024 }\nkafka: { linger: 1ms }`, env: {} });
  const pipeline = new IngestPipeline(config, bus, topics);
  const input = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: MAX });
  const line = (id: string, i: number): Buffer =>
    Buffer.from(`<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.${String(i % 1000).padStart(3, '0')}","client_ip":"198.51.100.${i % 250}","method":"GET","host":"h","uri":"/p/${i}","status":"200","request_id":"${id}"}`);
  const realLine = (c: number, i: number): Buffer => line(`real-${c}-${i}`, i);
  // Garbage is made from other lines: no mutation of theirs can be taken for a real line.
  const donors = [line('donor', 7), Buffer.from('<190>Nov 21 06:00:44 edge nginx: {"client_ip":"2001:db8::1","status":"404","uri":"/x"}')];
  let expectedCounted = 0;
  const realIds = new Set<string>();
  const streams: Buffer[] = [];
  for (let c = 0; c < 8; c++) {
    const octet = c % 2 === 1;
    const parts: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const r = rng.float();
      let frame: Buffer;
      if (r < 0.5) {
        frame = realLine(c, i);
        realIds.add(`real-${c}-${i}`);
      } else frame = garbageLine(rng, donors, MAX);
      // A count of 0 is no octet counting (RFC 6587: a nonzero digit first): the rest would be read as lines.
      if (octet && frame.length === 0) frame = Buffer.from('x');
      if (octet) parts.push(Buffer.from(`${frame.length} `), frame);
      else parts.push(frame, Buffer.from('\n'));
    }
    if (rng.chance(0.5)) parts.push(Buffer.from(octet ? `${rng.int(10 * MAX, 9_999_999)} ` : ''), randomBytes(rng, rng.int(0, 4 * MAX))); // a cut tail
    const stream = Buffer.concat(parts);
    // What the pipeline must count: every frame, and every frame lost (a bad count is not a lost frame: its bytes are framed as lines).
    const ref = run(stream, whole);
    expectedCounted += ref.frames.length + ref.errors.filter((e) => e !== 'bad_octet_count').length;
    streams.push(stream);
  }
  await Promise.all(
    streams.map(
      (stream, c) =>
        new Promise<void>((resolve, reject) => {
          const chunkRng = new Rng(SEED, 100 + c);
          const sock = net.connect(input.port, '127.0.0.1', () => {
            void (async () => {
              for (let p = 0; p < stream.length; ) {
                const n = chunkRng.int(1, 3000);
                if (!sock.write(stream.subarray(p, p + n))) await new Promise((r) => sock.once('drain', r));
                p += n;
                if (chunkRng.chance(0.05)) await sleep(1); // let the server read a short chunk
              }
              sock.end();
            })();
          });
          sock.on('close', () => resolve());
          sock.on('error', reject);
        }),
    ),
  );
  const deadline = Date.now() + 20_000;
  while (pipeline.stats.received < expectedCounted && Date.now() < deadline) await sleep(20);
  await input.close();
  await pipeline.close();
  const s = pipeline.stats;
  const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
  assert.equal(s.received, expectedCounted, `every frame and every lost frame counted once (seed ${SEED}): ${JSON.stringify(s)}`);
  assert.equal(s.parsed + rejected, s.received, `seed ${SEED}`);
  const published = new Map<string, number>();
  for (const p of await bus.endOffsets(topics.access)) {
    for (const m of bus.partition(topics.access, p.partition).messages) {
      const id = accessRecordCodec.decode(m.value).request_id;
      if (id.startsWith('real-')) published.set(id, (published.get(id) ?? 0) + 1);
    }
  }
  assert.equal(published.size, realIds.size, `every real line published (seed ${SEED})`);
  assert.ok([...published.values()].every((n) => n === 1), `no real line twice (seed ${SEED})`);
  await bus.close();
});
