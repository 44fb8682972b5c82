// Results the bus refuses for themselves: dead-lettered with the reason and
// counted, while every other result is published and the batch committed.
// Held instead, a refused result came back at every redelivery and stopped
// the detector: no block decision reached nginx again. The refusal is
// provoked for real on the broker (events over the events topic's
// max.message.bytes); the in-process bus's own refusal (a topic never
// created) is the unit part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { accessRecordCodec, blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { Bus, BusMessage } from '../../shared/bus/types.js';
import { loadConfig } from '../../shared/config/load.js';
import { registry } from '../../shared/metrics.js';
import type { AccessRecord, BlockDecision, SecurityEvent } from '../../shared/records.js';
import { probe } from '../../shared/testing/bus-probe.js';
import { kafkaBrokers, testProducerClient, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, type Topics } from '../../shared/topics.js';
import { DetectorService } from './service.js';

/** Its sample paths (700 bytes each, five in an event flushed after the first firing) make its events larger than the events topic takes. */
const LONG = '198.51.100.77';
const SHORT = '198.51.100.78';
const BENIGN = '192.0.2.10';
/** The events topic's max.message.bytes in the broker test. */
const LIMIT = 2048;

const rec = (ip: string, ts: number, path: string, status = 404): AccessRecord => ({
  ts, node: 'e', deployment: '', client_ip: ip, method: 'GET', host: 'h', path, query: '', status, bytes: 0,
  request_time: 0, upstream_time: null, user_agent: 'x', referer: '', country: null, auth_user: null, request_id: '', blocked_by: null, filter_alert: null, extra: {},
});

const refusedMetric = async (topic: string, reason: string): Promise<number> => {
  const m = await registry.getSingleMetric('logwarden_detector_refused_total')?.get();
  return m?.values.find((v) => v.labels.topic === topic && v.labels.reason === reason)?.value ?? 0;
};

const committed = async (bus: Bus, group: string, topic: string): Promise<number> =>
  (await bus.committedOffsets(group, topic)).reduce((n, o) => n + Number(o.offset), 0);

interface Outcome {
  events: SecurityEvent[];
  decisions: BlockDecision[];
  dead: BusMessage[];
}

/**
 * A detector on `bus` (topics made by the caller); once it reads the access
 * topic, 40 distinct 404s from each attacker in one publish. Resolves when both
 * are blocked, the batch is committed and `settled` holds of what arrived.
 * `readEvents` false: the events topic does not exist, nothing is read from it.
 */
async function attack(bus: Bus, topics: Topics, o: { kafka: boolean; readEvents: boolean; settled: (x: Outcome) => boolean }): Promise<Outcome> {
  const config = loadConfig({ text: 'security: { scan_interval: 1s }\ndetection: { shards: 1 }\nlog_level: silent', env: {} });
  const group = uniqueName('det-refused');
  const events = o.readEvents ? await probe(bus, topics.events, (m) => securityEventCodec.decode(m.value)) : undefined;
  const decisions = await probe(bus, topics.decisions, (m) => blockDecisionCodec.decode(m.value));
  const dead = await probe(bus, topics.deadLetter);
  const outcome = (): Outcome => ({ events: events?.items ?? [], decisions: decisions.items, dead: dead.items });
  const detector = new DetectorService({ config, bus, topics, groupId: group });
  await detector.start();
  try {
    // The group reads from the newest offset: a benign request at a time until it has taken one.
    let sent = 0;
    await until('the detector reading the access topic', async () => {
      await bus.publish(topics.access, [{ key: BENIGN, value: accessRecordCodec.encode(rec(BENIGN, Date.now(), '/', 200)) }]);
      sent++;
      if ((await committed(bus, group, topics.access)) > 0) return true;
      await sleep(o.kafka ? 500 : 20);
      return undefined;
    }, 90_000, 0);
    const t0 = Date.now() - 5_000;
    const records = [LONG, SHORT].flatMap((ip) =>
      Array.from({ length: 40 }, (_, i) => {
        const path = ip === LONG ? `/${String(i).padStart(3, '0')}/${'x'.repeat(700)}` : `/p${i}`;
        return { key: ip, value: accessRecordCodec.encode(rec(ip, t0 + i * 100, path)), timestamp: t0 + i * 100 };
      }),
    );
    await bus.publish(topics.access, records);
    sent += records.length;
    await until('both attackers blocked', () => (new Set(decisions.items.filter((d) => d.action === 'block').map((d) => d.ip)).size === 2 ? true : undefined), 60_000, 50);
    await until('the attack committed', async () => ((await committed(bus, group, topics.access)) >= sent ? true : undefined), 60_000, 50);
    await until('the results settled', () => (o.settled(outcome()) ? true : undefined), 60_000, 50);
  } finally {
    await detector.close();
    await Promise.all([events?.close(), decisions.close(), dead.close()]);
  }
  return outcome();
}

/** Every dead letter on the topic, the detector's final flush included (a probe may have closed before it). */
const deadTotal = async (bus: Bus, topics: Topics): Promise<number> => (await bus.endOffsets(topics.deadLetter)).reduce((n, o) => n + Number(o.offset), 0);

const blocked = (decisions: BlockDecision[]): string[] => [...new Set(decisions.filter((d) => d.action === 'block').map((d) => d.ip))].sort();
const deadIps = (dead: BusMessage[]): Set<string> => new Set(dead.map((m) => securityEventCodec.decode(m.value).ip));

test('the broker refuses events over the topic limit: each is dead-lettered with its reason and counted; every other result is published and the batch committed', { skip: unitOnly() && 'unit-only run', timeout: 240_000 }, async () => {
  const brokers = kafkaBrokers();
  const topics = topicNames(`${uniqueName('det-refused')}.`);
  const admin = new kafkajs.Kafka({ clientId: uniqueName('det-refused-admin'), brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  const bus = new KafkaBus({ brokers, clientId: uniqueName('det-refused'), acks: 'all', compression: 'none', replicationFactor: 1, producerClient: testProducerClient() });
  try {
    await admin.connect();
    // A limit below LONG's events and above SHORT's alone (a record batch of several of SHORT's may be over it: those pass by halves).
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: topics.events, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: String(LIMIT) }] }],
    });
    await bus.ensureTopics(Object.values(topics).filter((t) => t !== topics.events).map((topic) => ({ topic, partitions: 1 })));
    const before = await refusedMetric(topics.events, 'message_too_large');
    const { events, decisions, dead } = await attack(bus, topics, {
      kafka: true,
      readEvents: true,
      settled: (x) => x.events.some((e) => e.ip === SHORT) && deadIps(x.dead).has(LONG),
    });

    assert.deepEqual(blocked(decisions), [LONG, SHORT], 'both attackers blocked: the refusal stopped nothing');
    // LONG's first events carry one sample path and fit; those flushed later carry five and do not.
    assert.ok(events.every((e) => securityEventCodec.encode(e).length < LIMIT), 'every event on the topic is within its limit');
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, "SHORT's events published, each once");
    for (const m of dead) {
      assert.equal(m.headers.reason, 'message_too_large');
      assert.equal(m.headers.topic, topics.events);
      assert.match(m.headers.detail ?? '', /larger than the max message size|Message size too large/);
      const e = securityEventCodec.decode(m.value);
      assert.equal(e.ip, LONG, 'only what is over the limit is dead-lettered, the event itself kept');
      assert.ok(m.value.length > LIMIT && e.sample_paths.length === 5);
    }
    assert.ok(dead.length >= 1);
    assert.equal((await refusedMetric(topics.events, 'message_too_large')) - before, await deadTotal(bus, topics), 'counted by topic and reason');
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect();
    await bus.close();
  }
});

test('the in-process bus refuses every event (its topic was never created): all dead-lettered with the reason, the decisions published, the batch committed', { timeout: 60_000 }, async () => {
  const bus = new MemoryBus();
  const topics = topicNames('det-refused-mem.');
  try {
    await bus.ensureTopics(Object.values(topics).filter((t) => t !== topics.events).map((topic) => ({ topic, partitions: 1 })));
    const before = await refusedMetric(topics.events, 'unknown_topic');
    const { decisions, dead } = await attack(bus, topics, { kafka: false, readEvents: false, settled: (x) => deadIps(x.dead).size === 2 });
    assert.deepEqual(blocked(decisions), [LONG, SHORT]);
    assert.deepEqual([...deadIps(dead)].sort(), [LONG, SHORT], "both attackers' events dead-lettered");
    for (const m of dead) {
      assert.equal(m.headers.reason, 'unknown_topic');
      assert.equal(m.headers.topic, topics.events);
    }
    assert.equal((await refusedMetric(topics.events, 'unknown_topic')) - before, await deadTotal(bus, topics), 'counted by topic and reason');
  } finally {
    await bus.close();
  }
});
