import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { BusMessage } from '../../shared/bus/types.js';
import { loadConfig } from '../../shared/config/load.js';
import { topicNames } from '../../shared/topics.js';
import { FrameSplitter, startTcpInput } from './tcp.js';
import { IngestPipeline } from './pipeline.js';

function split(chunks: Array<string | Buffer>, max = 100): { frames: string[]; errors: string[] } {
  const frames: string[] = [];
  const errors: string[] = [];
  const s = new FrameSplitter(max, (f) => frames.push(f.toString()), (reason, n) => errors.push(`${reason}:${n}`));
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
  s.end();
  return { frames, errors };
}

describe('TCP framing (RFC 6587)', () => {
  test('newline framing, CRLF, empty lines, a last line without LF', () => {
    assert.deepEqual(split(['<1>a\n<1>b\r\n\n<1>c']).frames, ['<1>a', '<1>b', '<1>c']);
  });

  test('frames split across chunks at every byte', () => {
    const text = '<13>first line\n<13>second\n';
    for (let cut = 1; cut < text.length; cut++) {
      assert.deepEqual(split([text.slice(0, cut), text.slice(cut)]).frames, ['<13>first line', '<13>second'], `cut ${cut}`);
    }
    const octet = '9 <13>hello7 <13>abc';
    for (let cut = 1; cut < octet.length; cut++) {
      assert.deepEqual(split([octet.slice(0, cut), octet.slice(cut)]).frames, ['<13>hello', '<13>abc'], `octet cut ${cut}`);
    }
  });

  test('octet counting keeps newlines inside a frame and tolerates a trailing LF', () => {
    const multi = '<13>a\nb\nc';
    assert.deepEqual(split([`${Buffer.byteLength(multi)} ${multi}\n3 <1>`]).frames, [multi, '<1>']);
  });

  test('oversize frames are skipped without being buffered, and counted', () => {
    const big = 'x'.repeat(500);
    const r = split([`<1>ok\n<1>${big}`, `${big}\n<1>after\n`], 100);
    assert.deepEqual(r.frames, ['<1>ok', '<1>after']);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0] ?? '', /^too_long:/);
    const o = split([`1000 ${'y'.repeat(400)}`, `${'y'.repeat(600)}5 <1>zz`], 100);
    assert.deepEqual(o.frames, ['<1>zz']);
    assert.deepEqual(o.errors, ['too_long:1000']);
  });

  test('regression: an LF after the last octet frame, alone in its chunk, is no lost frame', () => {
    const r = split(['5 <1>ab', '\n']);
    assert.deepEqual(r.frames, ['<1>ab']);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(split(['5 <1>ab\r', '\n5 <1>cd']), { frames: ['<1>ab', '<1>cd'], errors: [] });
  });

  test('regression: a count is digits only (RFC 6587 MSG-LEN), not whatever Number() reads as one', () => {
    for (const count of ['0x3', '3e0', '+3', '03', ' 3', '3.0']) {
      const r = split([`5 <1>ab${count} <1>`]);
      assert.deepEqual(r.errors.map((e) => e.split(':')[0]), ['bad_octet_count'], count);
      assert.deepEqual(r.frames, ['<1>ab', `${count} <1>`], `${count}: the rest is read as a line`);
    }
  });

  test('regression: a frame cut short by the peer is reported as truncated, not too_long', () => {
    assert.deepEqual(split(['10 <1>ab']).errors, ['truncated:8']);
    assert.deepEqual(split(['12']).errors, ['truncated:2']);
  });

  test('regression: a frame dribbled in 1-byte chunks is joined once, not once per chunk', (t) => {
    const frame = `<1>${'z'.repeat(20_000)}`;
    const wire = Buffer.from(`${frame.length} ${frame}${frame}\n`);
    const frames: string[] = [];
    const s = new FrameSplitter(30_000, (f) => frames.push(f.toString()), () => undefined);
    const concat = t.mock.method(Buffer, 'concat');
    for (let i = 0; i < wire.length; i++) {
      s.push(wire.subarray(i, i + 1));
      assert.ok(s.bufferedBytes <= 30_000);
    }
    s.end();
    const joins = concat.mock.callCount();
    concat.mock.restore();
    assert.deepEqual(frames, [frame, frame]);
    // One join per completed frame, plus the few of the count: quadratic copying would show tens of thousands.
    assert.ok(joins < 20, `${joins} joins`);
  });

  test('a bad octet count falls back to line framing instead of stalling', () => {
    const r = split(['12345678901234 junk\n<1>next\n']);
    assert.deepEqual(r.frames, ['12345678901234 junk', '<1>next']);
    assert.equal(r.errors.length, 1);
  });
});

const line = (i: number): string =>
  `<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.${String(i % 1000).padStart(3, '0')}","client_ip":"198.51.100.${i % 250}","method":"GET","host":"h","uri":"/p/${i}","status":"200","request_id":"r${i}"}`;

describe('TCP input end to end (in-process bus)', () => {
  const bus = new MemoryBus();
  const topics = topicNames('tcptest.');
  after(() => bus.close());

  test('many connections, both framings, nothing lost; backpressure pauses readers instead of buffering', async () => {
    // A tiny memory bound forces the pipeline to push back on TCP readers.
    const config = loadConfig({ text: 'ingest: { buffer_max_bytes: 65536 }\nkafka: { linger: 1ms }', env: {} });
    await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 2 })));
    const pipeline = new IngestPipeline(config, bus, topics);
    const input = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: 4096 });
    const got: BusMessage[] = [];
    const sub = await bus.subscribe({
      groupId: 'probe',
      topics: [topics.access],
      fromBeginning: true,
      // A slow consumer does not slow the producer here; the bound is on what the ingester holds.
      onBatch: (b) => {
        got.push(...b.messages);
        return Promise.resolve();
      },
    });
    const PER_CONN = 3000;
    const CONNS = 6;
    await Promise.all(
      Array.from({ length: CONNS }, (_, c) =>
        new Promise<void>((resolve, reject) => {
          const sock = net.connect(input.port, '127.0.0.1', () => {
            const parts: string[] = [];
            for (let i = 0; i < PER_CONN; i++) {
              const l = line(c * PER_CONN + i);
              parts.push(c % 2 === 0 ? `${l}\n` : `${Buffer.byteLength(l)} ${l}`);
            }
            sock.end(parts.join(''));
          });
          sock.on('close', () => resolve());
          sock.on('error', reject);
        }),
      ),
    );
    const deadline = Date.now() + 30_000;
    while (got.length < PER_CONN * CONNS && Date.now() < deadline) await sleep(20);
    await sub.close();
    await input.close();
    await pipeline.close();
    const ids = new Set(got.map((m) => accessRecordCodec.decode(m.value).request_id));
    assert.equal(ids.size, PER_CONN * CONNS, 'every line arrived once');
    assert.equal(pipeline.stats.parsed, PER_CONN * CONNS);
    assert.deepEqual(pipeline.stats.dropped, {}, 'TCP never drops');
  });

  test('regression: a bad octet count is counted once, by the line its bytes then make', async () => {
    const config = loadConfig({ text: 'kafka: { linger: 1ms }', env: {} });
    const pipeline = new IngestPipeline(config, bus, topics);
    const input = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: 4096 });
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(input.port, '127.0.0.1', () => sock.end(`12345678901234 junk\n${line(3)}\n`));
      sock.on('close', () => resolve());
      sock.on('error', reject);
    });
    const deadline = Date.now() + 5000;
    while (pipeline.stats.received < 2 && Date.now() < deadline) await sleep(10);
    await sleep(50);
    await input.close();
    await pipeline.close();
    assert.equal(pipeline.stats.received, 2, 'two lines on the wire, two counted');
    assert.equal(pipeline.stats.parsed, 1);
    assert.deepEqual(pipeline.stats.rejected, { bad_syslog_header: 1 });
  });

  test('regression: a peer cut while an oversize frame is being skipped is counted once (too_long), not twice', async () => {
    const config = loadConfig({ text: 'kafka: { linger: 1ms }', env: {} });
    const pipeline = new IngestPipeline(config, bus, topics);
    const input = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: 4096, idleTimeoutMs: 300 });
    await new Promise<void>((resolve) => {
      const sock = net.connect(input.port, '127.0.0.1', () => sock.write(`${Buffer.byteLength(line(1))} ${line(1)}9999999 ${'x'.repeat(5000)}`));
      sock.on('close', () => resolve());
      sock.on('error', () => undefined);
    });
    const deadline = Date.now() + 5000;
    while (pipeline.stats.received < 2 && Date.now() < deadline) await sleep(10);
    await sleep(100); // a second count, if there were one, would come with the server's close
    await input.close();
    await pipeline.close();
    assert.equal(pipeline.stats.parsed, 1);
    assert.deepEqual(pipeline.stats.rejected, { too_long: 1 });
    assert.equal(pipeline.stats.received, 2);
  });

  test('a stalled peer is cut after the idle timeout; its half frame is counted, complete ones kept', async () => {
    const config = loadConfig({ text: 'kafka: { linger: 1ms }', env: {} });
    const pipeline = new IngestPipeline(config, bus, topics);
    const input = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: 4096, idleTimeoutMs: 300 });
    const closedByServer = await new Promise<boolean>((resolve) => {
      const sock = net.connect(input.port, '127.0.0.1', () => sock.write(`${line(1)}\n${line(2).slice(0, 40)}`));
      sock.on('close', () => resolve(true));
      sock.on('error', () => undefined);
    });
    assert.ok(closedByServer);
    // The server's own close event may trail the client's.
    const deadline = Date.now() + 5000;
    while (pipeline.stats.rejected.bad_format === undefined && Date.now() < deadline) await sleep(10);
    await pipeline.close();
    await input.close();
    assert.equal(pipeline.stats.parsed, 1);
    assert.equal(pipeline.stats.rejected.bad_format, 1, 'the half frame is counted, not silently lost');
  });
});
