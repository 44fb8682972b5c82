// Records the bus refuses: dead-lettered with the reason and counted, the
// rest published; a bus that is unavailable is retried, never dead-lettered.
// The refusal is provoked for real on the broker (records over the access
// topic's max.message.bytes); the in-process bus's own refusal (a topic never
// created) is the unit part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { BusRefusedError, BusUnavailableError, type Bus, type BusMessage } from '../../shared/bus/types.js';
import { loadConfig } from '../../shared/config/load.js';
import { registry } from '../../shared/metrics.js';
import { kafkaBrokers, testProducerClient, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, type Topics } from '../../shared/topics.js';
import { IngestPipeline } from './pipeline.js';

const line = (id: string, agent = 'curl/8'): Buffer =>
  Buffer.from(
    `<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"203.0.113.9","method":"GET","host":"h","uri":"/","status":"200","request_id":"${id}","http_user_agent":"${agent}"}`,
  );

const config = () => loadConfig({ text: 'kafka: { linger: 1ms }\nlog_level: silent', env: {} });

const refusedMetric = async (topic: string, reason: string): Promise<number> => {
  const m = await registry.getSingleMetric('logwarden_ingest_refused_total')?.get();
  return m?.values.find((v) => v.labels.topic === topic && v.labels.reason === reason)?.value ?? 0;
};

async function readAll(bus: Bus, topic: string, count: number): Promise<BusMessage[]> {
  const got: BusMessage[] = [];
  const sub = await bus.subscribe({ groupId: uniqueName('refused-read'), topics: [topic], fromBeginning: true, onBatch: (b) => {
    got.push(...b.messages);
    return Promise.resolve();
  } });
  try {
    // A new group's first join can take long on a loaded machine: a bound for a hang, not a speed.
    await until(`${count} messages on ${topic}`, () => (got.length >= count ? true : undefined), 90_000, 50);
  } finally {
    await sub.close();
  }
  return got;
}

test('the broker refuses records over the topic limit: each is dead-lettered with its reason and counted, the others published once', { skip: unitOnly() && 'unit-only run', timeout: 180_000 }, async () => {
  const brokers = kafkaBrokers();
  const topics: Topics = topicNames(`${uniqueName('refused')}.`);
  const admin = new kafkajs.Kafka({ clientId: uniqueName('refused-admin'), brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  const bus = new KafkaBus({ brokers, clientId: uniqueName('refused'), acks: 'all', compression: 'none', replicationFactor: 1, producerClient: testProducerClient() });
  try {
    await admin.connect();
    // A small limit: a record with a long user agent is over it, and so is a record batch of many small ones.
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: topics.access, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '2048' }] }],
    });
    await bus.ensureTopics([{ topic: topics.deadLetter, partitions: 1 }]);
    const before = await refusedMetric(topics.access, 'message_too_large');
    const pipeline = new IngestPipeline(config(), bus, topics);
    for (let i = 0; i < 40; i++) pipeline.offer(line(`r${i}`, i === 7 || i === 31 ? 'A'.repeat(3000) : 'curl/8'), 'tcp');
    await pipeline.close();
    assert.deepEqual(pipeline.stats.refused, { message_too_large: 2 });
    assert.equal(pipeline.stats.sent, 38);
    assert.equal((await refusedMetric(topics.access, 'message_too_large')) - before, 2, 'counted by topic and reason');
    const [end] = await bus.endOffsets(topics.access);
    assert.equal(Number(end?.offset), 38, 'the other records published, once');
    const dead = await readAll(bus, topics.deadLetter, 2);
    assert.equal(dead.length, 2);
    for (const m of dead) {
      assert.equal(m.headers.reason, 'message_too_large');
      assert.equal(m.headers.topic, topics.access);
      assert.match(m.headers.detail ?? '', /larger than the max message size|Message size too large/);
      assert.match(accessRecordCodec.decode(m.value).request_id, /^r(7|31)$/, 'the record itself is kept');
    }
  } finally {
    await admin.deleteTopics({ topics: [topics.access, topics.deadLetter] }).catch(() => undefined);
    await admin.disconnect();
    await bus.close();
  }
});

test('a flood of long lines from one client (one partition) over Kafka\'s default max.message.bytes: every line stored once, none refused', { skip: unitOnly() && 'unit-only run', timeout: 180_000 }, async () => {
  const topics: Topics = topicNames(`${uniqueName('flood')}.`);
  const bus = new KafkaBus({ brokers: kafkaBrokers(), clientId: uniqueName('flood'), acks: 'all', compression: 'none', replicationFactor: 1, producerClient: testProducerClient() });
  try {
    // The topics as logwarden creates them (the broker's default limit, 1 MiB a record batch).
    await bus.ensureTopics([{ topic: topics.access, partitions: 12 }, { topic: topics.deadLetter, partitions: 1 }]);
    const pipeline = new IngestPipeline(config(), bus, topics);
    // sqlmap's error-based probes: 1.3 kB lines, three in four from one address; 4,000 records are 5 MB,
    // the attacker's partition nearly 4 MB of them in one publish.
    const probe = 'id=1%27%20AND%20(SELECT%208851%20FROM(SELECT%20COUNT(*),CONCAT(0x7176,(SELECT%20(ELT(8851=8851,1))),0x71,FLOOR(RAND(0)*2))x%20FROM%20INFORMATION_SCHEMA.PLUGINS%20GROUP%20BY%20x)a)--%20'.repeat(4);
    const now = Date.now();
    for (let i = 0; i < 4000; i++) {
      const ip = i % 4 === 0 ? `198.51.100.${i % 200}` : '203.0.113.66';
      const text = `<190>Dec  7 09:00:00 edge nginx: {"ts":"${((now + i) / 1000).toFixed(3)}","client_ip":"${ip}","method":"GET","host":"h","uri":"/item.php?${probe}&n=${i}","status":"500","request_id":"f${i}","http_user_agent":"sqlmap/1.7.2#stable (https://sqlmap.org)"}`;
      pipeline.offer(Buffer.from(text), 'tcp', now + i);
    }
    await pipeline.close();
    assert.deepEqual(pipeline.stats.refused, {});
    assert.equal(pipeline.stats.sent, 4000);
    const ends = await bus.endOffsets(topics.access);
    assert.equal(ends.reduce((n, e) => n + Number(e.offset), 0), 4000, 'each line once: none sent again after a refusal');
  } finally {
    await bus.close();
  }
});

test('in-process bus: a refusal is dead-lettered with its reason; an unavailable bus is retried until it answers, nothing dead-lettered', async (t) => {
  const bus = new MemoryBus();
  const topics = topicNames('pipe-refused.');
  // The access topic is never created: the in-process bus refuses it.
  await bus.ensureTopics([{ topic: topics.deadLetter, partitions: 1 }]);
  const refusing = new IngestPipeline(config(), bus, topics);
  for (let i = 0; i < 3; i++) refusing.offer(line(`r${i}`), 'udp');
  await refusing.close();
  assert.deepEqual(refusing.stats.refused, { unknown_topic: 3 });
  assert.deepEqual(bus.partition(topics.deadLetter, 0).messages.map((m) => m.headers.reason), ['unknown_topic', 'unknown_topic', 'unknown_topic']);

  await bus.ensureTopics([{ topic: topics.access, partitions: 1 }]);
  const publish = bus.publish.bind(bus);
  let failures = 0;
  t.mock.method(bus, 'publish', async (...args: Parameters<Bus['publish']>) => {
    if (failures++ < 3) throw new BusUnavailableError('broker away (test)');
    return publish(...args);
  });
  const retrying = new IngestPipeline(config(), bus, topics);
  for (let i = 0; i < 5; i++) retrying.offer(line(`u${i}`), 'udp');
  await retrying.close();
  assert.ok(failures > 3, 'retried');
  assert.deepEqual(retrying.stats.refused, {});
  assert.equal(retrying.stats.sent, 5);
  assert.equal(bus.partition(topics.access, 0).messages.length, 5);
  assert.equal(bus.partition(topics.deadLetter, 0).messages.length, 3, 'nothing more dead-lettered');
  await bus.close();
});

test('a bus that went away after storing part of the batch: only the rest is sent again', async (t) => {
  const bus = new MemoryBus();
  const topics = topicNames('pipe-away.');
  await bus.ensureTopics([{ topic: topics.access, partitions: 1 }, { topic: topics.deadLetter, partitions: 1 }]);
  const publish = bus.publish.bind(bus);
  let away = 1;
  // A stand-in for the client: the first requests of the publish are stored, then the broker goes away once.
  t.mock.method(bus, 'publish', async (topic: string, messages: Parameters<Bus['publish']>[1]) => {
    if (topic !== topics.access || away-- <= 0) return publish(topic, messages);
    await publish(topic, messages.slice(0, 5));
    throw new BusUnavailableError('broker away (test)', { stored: new Set([0, 1, 2, 3, 4]) });
  });
  const pipeline = new IngestPipeline(config(), bus, topics);
  for (let i = 0; i < 12; i++) pipeline.offer(line(`w${i}`), 'tcp');
  await pipeline.close();
  const ids = bus.partition(topics.access, 0).messages.map((m) => accessRecordCodec.decode(m.value).request_id);
  assert.deepEqual(ids, Array.from({ length: 12 }, (_, i) => `w${i}`), 'each once, in order');
  assert.equal(pipeline.stats.sent, 12);
  await bus.close();
});

test('a refusal that stored part of the batch (librdkafka sends one publish as several requests): what was stored is not sent again', async (t) => {
  const bus = new MemoryBus();
  const topics = topicNames('pipe-partly.');
  await bus.ensureTopics([{ topic: topics.access, partitions: 1 }, { topic: topics.deadLetter, partitions: 1 }]);
  const publish = bus.publish.bind(bus);
  // A stand-in for the client: records before a large one go out in a request of their own and
  // are stored; the request holding the large one is refused whole.
  t.mock.method(bus, 'publish', async (topic: string, messages: Parameters<Bus['publish']>[1]) => {
    const big = messages.findIndex((m) => m.value.length > 1000);
    if (topic !== topics.access || big < 0) return publish(topic, messages);
    await publish(topic, messages.slice(0, big));
    throw new BusRefusedError('over the limit (test)', 'message_too_large', { stored: new Set(Array.from({ length: big }, (_, i) => i)) });
  });
  const pipeline = new IngestPipeline(config(), bus, topics);
  for (let i = 0; i < 12; i++) pipeline.offer(line(`p${i}`, i === 4 || i === 9 ? 'A'.repeat(3000) : 'curl/8'), 'tcp');
  await pipeline.close();
  const ids = bus.partition(topics.access, 0).messages.map((m) => accessRecordCodec.decode(m.value).request_id);
  assert.deepEqual([...ids].sort(), ['p0', 'p1', 'p10', 'p11', 'p2', 'p3', 'p5', 'p6', 'p7', 'p8'], 'each record not refused, once');
  assert.equal(pipeline.stats.sent, 10);
  assert.deepEqual(pipeline.stats.refused, { message_too_large: 2 });
  assert.deepEqual(bus.partition(topics.deadLetter, 0).messages.map((m) => accessRecordCodec.decode(m.value).request_id).sort(), ['p4', 'p9']);
  await bus.close();
});
