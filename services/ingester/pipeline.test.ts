import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline } from './pipeline.js';

const line = (id: string): Buffer =>
  Buffer.from(`<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"203.0.113.9","method":"GET","host":"h","uri":"/","status":"200","request_id":"${id}"}`);

test('a parsed line that does not encode is dead-lettered and counted, not thrown into the socket handler', async (t) => {
  const bus = new MemoryBus();
  const topics = topicNames('pipe.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
  const pipeline = new IngestPipeline(loadConfig({ text: 'kafka: { linger: 1ms }\nlog_level: silent', env: {} }), bus, topics);
  const encode = accessRecordCodec.encode.bind(accessRecordCodec);
  // Stands for a parser bug: a record the schema refuses.
  t.mock.method(accessRecordCodec, 'encode', (r: Parameters<typeof encode>[0]) => {
    if (r.request_id === 'bad') throw new Error('invalid field');
    return encode(r);
  });
  assert.doesNotThrow(() => pipeline.offer(line('bad'), 'udp'));
  pipeline.offer(line('good'), 'udp');
  await pipeline.close();
  assert.deepEqual(pipeline.stats.rejected, { bad_format: 1 });
  assert.equal(pipeline.stats.parsed, 1);
  assert.equal(pipeline.stats.received, 2);
  const dead = bus.partition(topics.deadLetter, 0).messages;
  assert.equal(dead.length, 1);
  assert.match(String(dead[0]?.headers.detail), /^cannot encode: /);
  assert.equal(bus.partition(topics.access, 0).messages.length, 1);
  await bus.close();
});

test('close() with the bus gone gives up after its grace: what was held is counted as unsent, nothing hangs', async (t) => {
  const bus = new MemoryBus();
  const topics = topicNames('pipe-close.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
  const pipeline = new IngestPipeline(loadConfig({ text: 'kafka: { linger: 1ms }\nlog_level: silent', env: {} }), bus, topics);
  // The broker gone: every publish fails after a while, as kafkajs does once its retries run out.
  let attempts = 0;
  t.mock.method(bus, 'publish', async () => {
    attempts++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    throw new Error('connection refused');
  });
  for (let i = 0; i < 10; i++) pipeline.offer(line(`r${i}`), 'tcp');
  const t0 = Date.now();
  await pipeline.close(400);
  const waited = Date.now() - t0;
  // Node's timers may fire a millisecond before Date.now() says the delay is over (CI saw 399).
  assert.ok(waited >= 390, `close waited its grace (${waited} ms)`);
  assert.ok(attempts >= 2, `the bus was retried during the grace (${attempts} attempts)`);
  // The send in flight ends its backoff, sees the stop and gives up, counted.
  await until('the send in flight to give up', () => (pipeline.stats.dropped.unsent_at_close === 10 ? true : undefined), 10_000, 20);
  const after = attempts;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(attempts, after, 'no retry after giving up');
  assert.equal(pipeline.stats.sent, 0);
  await bus.close();
});

test('every record gets its country and AS from the bundled databases; a country nginx logged wins', async () => {
  const bus = new MemoryBus();
  const topics = topicNames('geo.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
  const pipeline = new IngestPipeline(loadConfig({ text: 'kafka: { linger: 1ms }\nlog_level: silent', env: {} }), bus, topics);
  const geoLine = (ip: string, country: string): Buffer =>
    Buffer.from(`<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"${ip}","method":"GET","host":"h","uri":"/","status":"200","country":"${country}"}`);
  pipeline.offer(geoLine('1.1.1.1', ''), 'udp');
  pipeline.offer(geoLine('1.1.1.1', 'DE'), 'udp');
  pipeline.offer(geoLine('2001:4860:4860::8888', ''), 'udp');
  pipeline.offer(geoLine('127.0.0.1', ''), 'udp');
  await pipeline.close();
  const records = bus.partition(topics.access, 0).messages.map((m) => accessRecordCodec.decode(m.value));
  const geo = records.map((r) => [r.client_ip, r.country, r.asn, r.as_org]);
  assert.deepEqual(geo, [
    ['1.1.1.1', 'AU', 13335, 'Cloudflare, Inc.'],
    ['1.1.1.1', 'DE', 13335, 'Cloudflare, Inc.'],
    ['2001:4860:4860::8888', 'US', 15169, 'Google LLC'],
    ['127.0.0.1', null, null, null],
  ]);
  await bus.close();
});
