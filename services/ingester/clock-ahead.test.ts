// A node whose clock runs ahead: on the real broker (Kafka 4 refuses records
// more than an hour ahead of it), its lines are published with their arrival
// time, keep how far ahead they were, and are counted per node; the lines of
// a node on time are left as they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { loadConfig } from '../../shared/config/load.js';
import { kafkaBrokers, testProducerClient, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { probe } from '../../shared/testing/bus-probe.js';
import { topicNames } from '../../shared/topics.js';
import { nodeTally } from './node-tally.js';
import { IngestPipeline } from './pipeline.js';

const AHEAD_MS = 2 * 3_600_000;

const line = (id: string, node: string, tsMs: number): Buffer =>
  Buffer.from(
    `<190>Dec  7 06:00:44 ${node} nginx: {"ts":"${(tsMs / 1000).toFixed(3)}","client_ip":"203.0.113.9","method":"GET","host":"h","uri":"/","status":"200","request_id":"${id}","http_user_agent":"curl/8"}`,
  );

test('lines from a clock two hours ahead reach Kafka with their arrival time, none refused; a node on time keeps its own', { skip: unitOnly() && 'unit-only run', timeout: 180_000 }, async () => {
  const topics = topicNames(`${uniqueName('ahead')}.`);
  const bus = new KafkaBus({ brokers: kafkaBrokers(), clientId: uniqueName('ahead'), acks: 'all', compression: 'none', replicationFactor: 1, producerClient: testProducerClient() });
  const fast = uniqueName('fast-clock');
  try {
    await bus.ensureTopics([{ topic: topics.access, partitions: 3 }, { topic: topics.deadLetter, partitions: 1 }]);
    const pipeline = new IngestPipeline(loadConfig({ text: 'kafka: { linger: 1ms }\nlog_level: silent', env: {} }), bus, topics);
    const start = Date.now();
    for (let i = 0; i < 20; i++) {
      const receivedAt = start + i;
      pipeline.offer(line(`a${i}`, fast, receivedAt + AHEAD_MS), 'udp', receivedAt);
      pipeline.offer(line(`o${i}`, 'on-time', receivedAt - 300), 'udp', receivedAt);
    }
    await pipeline.close();
    assert.deepEqual(pipeline.stats.refused, {}, 'nothing refused');
    assert.equal(pipeline.stats.sent, 40);
    const reader = await probe(bus, topics.access);
    // A new group's first join can take long on a loaded machine: a bound for a hang, not a speed.
    const got = await reader.atLeast(40, 90_000).finally(() => reader.close());
    assert.equal(got.length, 40);
    for (const m of got) {
      const r = accessRecordCodec.decode(m.value);
      const i = Number(r.request_id.slice(1));
      if (r.request_id.startsWith('a')) {
        assert.equal(r.ts, start + i, `${r.request_id}: its arrival time`);
        assert.equal(r.extra.clock_ahead_ms, String(AHEAD_MS), `${r.request_id}: how far ahead it was`);
      } else {
        assert.equal(r.ts, start + i - 300, `${r.request_id}: its own time`);
        assert.equal(r.extra.clock_ahead_ms, undefined);
      }
      assert.equal(m.timestamp, r.ts, 'the Kafka timestamp is the record\'s time');
    }
    assert.deepEqual(got.map((m) => accessRecordCodec.decode(m.value).request_id).sort(), [...Array.from({ length: 20 }, (_, i) => `a${i}`), ...Array.from({ length: 20 }, (_, i) => `o${i}`)].sort());
    const tally = nodeTally();
    assert.deepEqual([tally[fast]?.lines, tally[fast]?.clock_ahead], [20, 20]);
    assert.equal(tally['on-time']?.clock_ahead, 0);
  } finally {
    await bus.close();
  }
});
