// Fault: the bus refuses the detector's publishes for a while (Kafka down or
// failing over). What the engine drained for a failed publish — the block
// decision of a batch, the events an idle tick flushed — must reach the bus
// once it is back, and once: the same traffic through a bus that never
// failed is the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec, blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { BusUnavailableError, type Bus, type SubscribeOptions } from '../../shared/bus/types.js';
import { loadConfig } from '../../shared/config/load.js';
import type { AccessRecord, BlockDecision, SecurityEvent } from '../../shared/records.js';
import { topicNames } from '../../shared/topics.js';
import { DetectorService } from './service.js';

const ATTACKER = '198.51.100.23';

/**
 * The in-process bus, except that publishes to the topics in `down` fail as
 * Kafka's do when the broker is away, and that the first `commitFailures`
 * batches of group `det` fail after their handler succeeded — as when the
 * offset commit is what the broker's absence breaks: the batch comes again.
 */
function flakyBus(commitFailures = 0): { bus: Bus; down: Set<string>; refused: () => number } {
  const real = new MemoryBus();
  const down = new Set<string>();
  let refused = 0;
  let commitsLeft = commitFailures;
  const bus = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'subscribe') {
        return (opts: SubscribeOptions) => target.subscribe(opts.groupId !== 'det' ? opts : {
          ...opts,
          onBatch: async (batch) => {
            await opts.onBatch(batch);
            if (commitsLeft > 0 && batch.messages.length > 0) {
              commitsLeft--;
              refused++;
              throw new BusUnavailableError('committing offsets: Connection error: connect ECONNREFUSED (test)');
            }
          },
        });
      }
      if (prop === 'publish') {
        return async (topic: string, messages: Parameters<Bus['publish']>[1]) => {
          if (down.has(topic)) {
            refused++;
            throw new BusUnavailableError(`publishing to ${topic}: Connection error: connect ECONNREFUSED (test)`);
          }
          return target.publish(topic, messages);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Bus;
  return { bus, down, refused: () => refused };
}

const rec = (ts: number, path: string): AccessRecord => ({
  ts, node: 'e', deployment: '', client_ip: ATTACKER, method: 'GET', host: 'h', path, query: '', status: 404, bytes: 0,
  request_time: 0, upstream_time: null, user_agent: 'x', referer: '', country: null, auth_user: null, request_id: '', blocked_by: null, filter_alert: null, extra: {},
});

interface Outcome {
  events: SecurityEvent[];
  decisions: BlockDecision[];
  refused: number;
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * 40 distinct 404s from one attacker in one batch (a first firing, more offending
 * requests pending, a block), then idle time (ticks flush the pending events).
 * `publish`: the events and decisions topics refuse publishes for a while from the first batch on.
 * `commit`: the batch is redelivered three times after its results were published.
 */
async function run(fail: 'none' | 'publish' | 'commit'): Promise<Outcome> {
  // A short scan_interval so idle ticks flush pending events within the test.
  const config = loadConfig({ text: 'security: { scan_interval: 1s }\ndetection: { shards: 1 }\nlog_level: silent', env: {} });
  const { bus, down, refused } = flakyBus(fail === 'commit' ? 3 : 0);
  const topics = topicNames('detfault.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
  const events: SecurityEvent[] = [];
  const decisions: BlockDecision[] = [];
  await bus.subscribe({ groupId: 'probe-e', topics: [topics.events], fromBeginning: true, onBatch: (b) => {
    for (const m of b.messages) events.push(securityEventCodec.decode(m.value));
    return Promise.resolve();
  } });
  await bus.subscribe({ groupId: 'probe-d', topics: [topics.decisions], fromBeginning: true, onBatch: (b) => {
    for (const m of b.messages) decisions.push(blockDecisionCodec.decode(m.value));
    return Promise.resolve();
  } });
  const detector = new DetectorService({ config, bus, topics, groupId: 'det' });
  await detector.start();
  try {
    if (fail === 'publish') {
      down.add(topics.events);
      down.add(topics.decisions);
    }
    const t0 = Date.now() - 5_000;
    await bus.publish(topics.access, Array.from({ length: 40 }, (_, i) => ({ key: ATTACKER, value: accessRecordCodec.encode(rec(t0 + i * 100, `/p${i}`)), timestamp: t0 + i * 100 })));
    if (fail === 'publish') {
      // Down long enough for the batch's publish and the idle ticks' (every 250 ms, flushing every 1 s of event time) to fail.
      await until('the batch publish refused', () => refused() >= 1);
      await sleep(2_500);
      down.clear();
    }
    await until('the batch committed', async () => (await bus.committedOffsets('det', topics.access)).reduce((n, o) => n + Number(o.offset), 0) === 40);
    await until('a block decision', () => decisions.length > 0);
    // Idle ticks flush what is pending; give them time to run out of anything to flush.
    let last = -1;
    await until('events to settle', () => {
      const n = events.reduce((s, e) => s + e.count, 0);
      const settled = n === last;
      last = n;
      return settled;
    }, 30_000).catch(() => undefined);
    await sleep(2_500);
  } finally {
    await detector.close();
    await bus.close();
  }
  return { events, decisions, refused: refused() };
}

/** Offending requests counted per detector (the sum of the events' counts). */
function counted(events: SecurityEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[e.detector] = (out[e.detector] ?? 0) + e.count;
  return out;
}

test('publishes refused for a while: no decision and no event is lost or doubled', { timeout: 120_000 }, async (t) => {
  const reference = await run('none');
  const faulty = await run('publish');
  t.diagnostic(`reference: ${JSON.stringify(counted(reference.events))}, ${reference.decisions.length} decision(s); with ${faulty.refused} refused publishes: ${JSON.stringify(counted(faulty.events))}, ${faulty.decisions.length} decision(s)`);
  assert.ok(faulty.refused >= 2, 'publishes were refused, a batch\'s and a tick\'s');
  assert.deepEqual(reference.decisions.map((d) => [d.ip, d.action]), [[ATTACKER, 'block']], 'reference: one block');
  assert.deepEqual(faulty.decisions.map((d) => [d.ip, d.action]), [[ATTACKER, 'block']], 'the block decided while the bus refused is published, once');
  assert.deepEqual(counted(faulty.events), counted(reference.events), 'every offending request is in an event, once');
  assert.equal(new Set(faulty.events.map((e) => e.id)).size, faulty.events.length, 'no event published twice');
});

test('offset commits failing after the results were published: the redelivered batch is not run again', { timeout: 120_000 }, async (t) => {
  const reference = await run('none');
  const faulty = await run('commit');
  t.diagnostic(`reference: ${JSON.stringify(counted(reference.events))}; with ${faulty.refused} failed commits: ${JSON.stringify(counted(faulty.events))}, ${faulty.decisions.length} decision(s)`);
  assert.equal(faulty.refused, 3, 'three commits failed');
  assert.deepEqual(faulty.decisions.map((d) => [d.ip, d.action]), [[ATTACKER, 'block']], 'one block');
  assert.deepEqual(counted(faulty.events), counted(reference.events), 'offending requests counted once');
  assert.equal(new Set(faulty.events.map((e) => e.id)).size, faulty.events.length, 'no event published twice');
});
