import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { BusMessage } from '../../shared/bus/types.js';
import { loadConfig } from '../../shared/config/load.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline } from './pipeline.js';
import { forEachLine } from '../../shared/access-log/line-reader.js';
import { replayFiles } from './replay.js';

async function lines(chunks: string[], max = 10): Promise<{ got: string[]; long: string[] }> {
  const got: string[] = [];
  const long: string[] = [];
  await forEachLine(Readable.from(chunks.map((c) => Buffer.from(c))), max, (l) => void got.push(l.toString()), (h, n) => void long.push(`${h.toString()}/${n}`));
  return { got, long };
}

test('lines split on LF across chunks; CRLF, blank lines and a last line without LF', async () => {
  assert.deepEqual((await lines(['ab\ncd', 'e\r\n\nfg'])).got, ['ab', 'cde', 'fg']);
});

test('an oversize line is reported with its head and length, never buffered whole', async () => {
  const r = await lines(['ok\n0123456789ABC', 'DEF\nnext\n', '0123456789XYZ'], 10);
  assert.deepEqual(r.got, ['ok', 'next']);
  assert.deepEqual(r.long, ['0123456789/16', '0123456789/13']);
});

test('replay reads plain and gzip files, with or without syslog headers, into the same records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'replay-'));
  try {
    const json = (i: number): string => JSON.stringify({ ts: `1795240844.${i}`, client_ip: `203.0.113.${i}`, method: 'GET', host: 'h', uri: `/r/${i}`, status: '200', request_id: `id${i}` });
    const plain = [json(1), `<190>Nov 21 06:00:44 edge nginx: ${json(2)}`, 'not a log line', json(3)].join('\n');
    writeFileSync(join(dir, 'a.log'), plain);
    writeFileSync(join(dir, 'b.log.gz'), gzipSync(`${json(4)}\n${json(5)}\n`));
    const config = loadConfig({ text: '', env: {} });
    const bus = new MemoryBus();
    const topics = topicNames('replaytest.');
    await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
    const got: BusMessage[] = [];
    const dead: BusMessage[] = [];
    await bus.subscribe({ groupId: 'p', topics: [topics.access], fromBeginning: true, onBatch: (b) => {
      got.push(...b.messages);
      return Promise.resolve();
    } });
    await bus.subscribe({ groupId: 'd', topics: [topics.deadLetter], fromBeginning: true, onBatch: (b) => {
      dead.push(...b.messages);
      return Promise.resolve();
    } });
    const pipeline = new IngestPipeline(config, bus, topics);
    const r = await replayFiles(pipeline, [join(dir, 'a.log'), join(dir, 'b.log.gz')], 65536);
    assert.equal(r.lines, 6);
    const deadline = Date.now() + 5000;
    while ((got.length < 5 || dead.length < 1) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    await bus.close();
    assert.deepEqual(got.map((m) => accessRecordCodec.decode(m.value).request_id).sort(), ['id1', 'id2', 'id3', 'id4', 'id5']);
    assert.equal(got.find((m) => accessRecordCodec.decode(m.value).request_id === 'id2')?.timestamp, 1795240844200, 'event time from the line');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.headers.reason, 'bad_format');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
