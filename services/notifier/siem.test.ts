// The SIEM push on the in-process bus (embedded mode's path) to real loopback
// receivers: a TCP listener (syslog+tcp:// octet-counted, tcp:// lines) and an
// HTTP server. Every record that arrives is checked against the README's ECS
// tables (the export test's checks); a target that is down holds its group's
// offsets, gets what was queued once it is up, and what exceeded queue_max is
// dropped and counted.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { Bus } from '../../shared/bus/types.js';
import { loadConfig, type Config } from '../../shared/config/load.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { checkEcsDocument, documentedFields } from '../../shared/testing/ecs-check.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, topicSpecs, type Topics } from '../../shared/topics.js';
import { ECS_BLOCK_FIELDS, ECS_FIELDS } from '../../shared/ecs.js';
import { startRuntime } from '../runtime.js';
import { startSiem, siemFrame, type SiemPush } from './siem.js';
import { startReceiver } from './testing/receiver.js';
import { tcpReceiver } from './testing/siem-receiver.js';

const NOW = Date.now();
const EVENT_FIELDS = documentedFields('ecs-fields');
const BLOCK_FIELDS = documentedFields('ecs-block-fields');

const event = (id: string, over: Partial<SecurityEvent> = {}): SecurityEvent => ({
  id, ts: NOW, type: 'scan_detected', detector: 'unique_paths', ip: '203.0.113.7', deployment: 'shop', count: 20,
  window_start: NOW - 120_000, window_end: NOW, sample_paths: ['/.env', '/"quoted"\n'], details: { note: 'x' }, country: 'NL', asn: 64500, as_org: 'Example AS', ...over,
});
const decision = (ip: string, over: Partial<BlockDecision> = {}): BlockDecision => ({
  ip, action: 'block', reason: 'auto_block_threshold reached', source: 'auto', created_at: NOW, expires_at: NOW + 3_600_000, deployment: null, escalation_level: 0, ...over,
});

interface Rig {
  bus: Bus;
  topics: Topics;
  config: Config;
  push: SiemPush;
}
const rigs: Rig[] = [];
after(async () => {
  for (const r of rigs) {
    await r.push.stop(500);
    await r.bus.close();
  }
});

async function rig(target: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<Rig> {
  const config = loadConfig({ text: JSON.stringify({ siem: { targets: [{ name: 'soc', flush_interval: '20ms', retry_initial: '50ms', retry_max: '200ms', ...target }] }, log_level: 'silent' }), env });
  const topics = topicNames(config.kafka.topic_prefix);
  const bus = new MemoryBus();
  await bus.ensureTopics(topicSpecs(config, topics));
  const push = await startSiem({ bus, topics, kafka: config.kafka, targets: config.siem.targets });
  const r = { bus, topics, config, push };
  rigs.push(r);
  return r;
}

const publishEvents = (r: Rig, es: SecurityEvent[], key: string | null = null): Promise<void> => r.bus.publish(r.topics.events, es.map((e) => ({ key: key ?? e.ip, value: securityEventCodec.encode(e) })));
const publishDecisions = (r: Rig, ds: BlockDecision[]): Promise<void> => r.bus.publish(r.topics.decisions, ds.map((d) => ({ key: d.ip, value: blockDecisionCodec.encode(d) })));

/** Whether the target's group committed every record of `topic`. */
async function allCommitted(r: Rig, topic: string): Promise<boolean> {
  const committed = new Map((await r.bus.committedOffsets(r.push.groups.soc as string, topic)).map((p) => [p.partition, BigInt(p.offset)]));
  return (await r.bus.endOffsets(topic)).every((e) => BigInt(e.offset) === 0n || (committed.get(e.partition) ?? -1n) === BigInt(e.offset));
}

const SYSLOG = /^<(\d+)>1 (\S+) (\S+) logwarden - (event|block) - (\{.*\})$/s;

test('the README documents exactly the fields the code maps, for events and for blocks', () => {
  assert.deepEqual([...EVENT_FIELDS.keys()], ECS_FIELDS.map((f) => f.field));
  assert.deepEqual([...BLOCK_FIELDS.keys()], ECS_BLOCK_FIELDS.map((f) => f.field));
  assert.deepEqual([...BLOCK_FIELDS].filter(([, f]) => f.optional).map(([k]) => k), ECS_BLOCK_FIELDS.filter((f) => f.optional).map((f) => f.field));
});

describe('SIEM push (in-process bus, loopback receivers)', () => {
  test('syslog+tcp: each event and block is an RFC 5424 message whose MSG is an ECS document of the README\'s tables; below min_severity is skipped, and committed', async () => {
    const rx = await tcpReceiver('octet');
    const r = await rig({ url: `syslog+tcp://127.0.0.1:${rx.port}`, min_severity: 'medium' });
    await publishEvents(r, [event('e-scan'), event('e-low', { type: 'suspicious', detector: 'repeated_hits' }), event('e-block', { type: 'blocked_ip', detector: 'blocklist', ip: '2001:db8::1', country: null, asn: null, as_org: null })]);
    await publishDecisions(r, [
      decision('198.51.100.7'),
      decision('192.0.2.0/24', { source: 'manual', expires_at: null, deployment: 'api', actor: 'api:ops', escalation_level: 2 }),
      decision('198.51.100.8', { action: 'unblock', reason: 'expired', expires_at: null }),
      decision('198.51.100.9', { action: 'challenge', reason: 'challenge_threshold reached' }),
    ]);
    await until('the wanted records arrived', () => (rx.messages.length >= 5 ? true : undefined));
    await until('every record committed', async () => ((await allCommitted(r, r.topics.events)) && (await allCommitted(r, r.topics.decisions)) ? true : undefined));
    const docs = rx.messages.map((m) => {
      const parts = SYSLOG.exec(m);
      assert.ok(parts, `an RFC 5424 message with the ECS JSON as MSG: ${m.slice(0, 120)}`);
      const [, pri, timestamp, , kind, json] = parts as unknown as [string, string, string, string, 'event' | 'block', string];
      const doc = JSON.parse(json) as Record<string, unknown> & { event: { id: string; severity: number } };
      checkEcsDocument(doc, kind === 'event' ? EVENT_FIELDS : BLOCK_FIELDS);
      assert.equal(timestamp, doc['@timestamp']);
      assert.equal(Number(pri), 4 * 8 + (doc.event.severity >= 73 ? 4 : 5), 'facility auth, severity from event.severity');
      return doc;
    });
    const byId = new Map(docs.map((d) => [d.event.id, d]));
    assert.equal(docs.length, 5, 'nothing twice, nothing below medium');
    assert.ok(byId.has('e-scan') && byId.has('e-block') && !byId.has('e-low'));
    const scan = byId.get('e-scan') as unknown as { source: { ip: string; geo: { country_iso_code: string }; as: { number: number } }; rule: { name: string } };
    assert.deepEqual([scan.source.ip, scan.source.geo.country_iso_code, scan.source.as.number, scan.rule.name], ['203.0.113.7', 'NL', 64500, 'unique_paths']);
    const blocks = docs.filter((d) => d.event.id.startsWith('decision:')) as unknown as Array<{ event: { action: string }; source: { ip?: string; address: string }; user?: { name: string } }>;
    assert.deepEqual(blocks.map((b) => b.event.action).sort(), ['block', 'block', 'challenge']);
    const range = blocks.find((b) => b.source.address === '192.0.2.0/24');
    assert.ok(range && range.source.ip === undefined && range.user?.name === 'api:ops', 'a CIDR has source.address only, and who decided');
    assert.equal(r.push.stats().soc?.sent, 5);
    await rx.stop();
  });

  test('http: NDJSON batches POSTed with the auth header read from the environment; 503s are retried and nothing is lost', async () => {
    const rx = await startReceiver('/siem');
    rx.answer = (_req, n) => (n < 2 ? 503 : 200);
    const r = await rig({ url: rx.url, header_env: 'SIEM_AUTH', batch_size: 3, records: ['events'] }, { SIEM_AUTH: 'ApiKey siem-test-key-0123456789' });
    const ids = Array.from({ length: 7 }, (_, i) => `h-${i}`);
    await publishEvents(r, ids.map((id) => event(id)), 'one-partition');
    await publishDecisions(r, [decision('198.51.100.7')]);
    const lines = (): string[] => rx.accepted().flatMap((x) => x.body.split('\n').filter((l) => l !== ''));
    await until('every event accepted', () => (lines().length >= ids.length ? true : undefined));
    await until('committed', async () => ((await allCommitted(r, r.topics.events)) ? true : undefined));
    for (const req of rx.received) {
      assert.equal(req.headers.authorization, 'ApiKey siem-test-key-0123456789');
      assert.equal(req.headers['content-type'], 'application/x-ndjson');
      assert.ok(req.body.split('\n').filter((l) => l !== '').length <= 3, 'at most batch_size records a POST');
    }
    const docs = lines().map((l) => JSON.parse(l) as Record<string, unknown> & { event: { id: string } });
    for (const d of docs) checkEcsDocument(d, EVENT_FIELDS);
    assert.deepEqual(docs.map((d) => d.event.id), ids, 'in order, once each; blocks were not asked for');
    const stats = r.push.stats().soc;
    assert.ok(stats && stats.retries >= 2 && stats.failedAttempts === 2, JSON.stringify(stats));
    await rx.close();
  });

  test('a target down for a while: offsets wait, what was queued arrives once it is up, what exceeded queue_max is dropped and counted; a restarted receiver gets a new connection', async () => {
    const rx = await tcpReceiver('line');
    await rx.stop();
    const r = await rig({ url: `tcp://127.0.0.1:${rx.port}`, queue_max: '4KiB' });
    const t = r.config.siem.targets[0] as Config['siem']['targets'][number];
    const es = Array.from({ length: 20 }, (_, i) => event(`down-${String(i).padStart(2, '0')}`, { ts: NOW + i }));
    // What fits in 4 KiB, in order: the rest of the batch is dropped at once (queue_full).
    let fit = 0;
    for (let bytes = 0; fit < es.length; fit++) {
      bytes += (siemFrame(t, 'event', securityEventCodec.encode(es[fit] as SecurityEvent)) as Buffer).length;
      if (bytes > 4096) break;
    }
    assert.ok(fit > 1 && fit < es.length, `the bound holds some of the batch: ${fit}`);
    await publishEvents(r, es, 'one-partition');
    const target = r.push.targets[0];
    assert.ok(target);
    await until('retried while down', () => (target.stats.failedAttempts >= 2 ? true : undefined));
    assert.equal(target.stats.dropped.queue_full, es.length - fit);
    assert.equal(await allCommitted(r, r.topics.events), false, 'nothing committed while the target is down');
    await rx.start();
    await until('the queued records arrived', () => (rx.messages.length >= fit ? true : undefined));
    await until('committed once delivered', async () => ((await allCommitted(r, r.topics.events)) ? true : undefined));
    assert.deepEqual(rx.messages.map((m) => (JSON.parse(m) as { event: { id: string } }).event.id), es.slice(0, fit).map((e) => e.id), 'each queued record once, in order');
    assert.equal(target.stats.sent, fit);

    // The receiver restarts: the target notices the closed connection and opens a new one.
    await until('connected', () => (target.connected() ? true : undefined));
    await rx.stop();
    await until('the closed connection noticed', () => (target.connected() ? undefined : true));
    await rx.start();
    await publishEvents(r, [event('after-restart')]);
    await until('the record after the restart arrived', () => (rx.messages.some((m) => m.includes('"after-restart"')) ? true : undefined));
    await rx.stop();
  });

  test('give_up_after: once the target has been down that long, each batch gets one attempt, is dropped and counted (failed) and committed; the first success closes the breaker', async () => {
    const rx = await tcpReceiver('line');
    await rx.stop();
    const r = await rig({ url: `tcp://127.0.0.1:${rx.port}`, give_up_after: '300ms' });
    const target = r.push.targets[0];
    assert.ok(target);
    await publishEvents(r, [event('gu-1'), event('gu-2')], 'one-partition');
    await until('the first batch given up', () => (target.stats.dropped.failed === 2 ? true : undefined));
    assert.ok(target.stats.failedAttempts >= 2, 'retried before giving up');
    await until('committed once dropped and counted', async () => ((await allCommitted(r, r.topics.events)) ? true : undefined));
    const attempts = target.stats.failedAttempts;
    await publishEvents(r, [event('gu-3')], 'one-partition');
    await until('the next batch dropped', () => (target.stats.dropped.failed === 3 ? true : undefined));
    assert.equal(target.stats.failedAttempts, attempts + 1, 'one attempt while the breaker is open');
    await rx.start();
    await publishEvents(r, [event('gu-4')], 'one-partition');
    await until('delivered once the target is back', () => (rx.messages.length >= 1 ? true : undefined));
    assert.deepEqual(rx.messages.map((m) => (JSON.parse(m) as { event: { id: string } }).event.id), ['gu-4']);
    await rx.stop();
  });

  test('stop: records a target could not deliver are left uncommitted for the next start, counted as shutdown', async () => {
    const rx = await tcpReceiver('line');
    await rx.stop();
    const r = await rig({ url: `tcp://127.0.0.1:${rx.port}` });
    await publishEvents(r, [event('left-1'), event('left-2')], 'one-partition');
    const target = r.push.targets[0];
    assert.ok(target);
    await until('retried while down', () => (target.stats.failedAttempts >= 1 ? true : undefined));
    await r.push.stop(100);
    assert.equal(target.stats.dropped.shutdown, 2);
    assert.equal(await allCommitted(r, r.topics.events), false, 'the batch is not committed');
  });
});

test('embedded mode: the runtime\'s notifier service runs the push on the in-process bus', async () => {
  const rx = await tcpReceiver('line');
  const config = loadConfig({ text: JSON.stringify({ siem: { targets: [{ name: 'soc', url: `tcp://127.0.0.1:${rx.port}`, flush_interval: '20ms' }] }, log_level: 'silent' }), env: {} });
  const rt = await startRuntime(config, new Set(['notifier']));
  try {
    assert.equal(rt.bus.kind, 'memory');
    assert.ok(rt.siem, 'the push started with the notifier service');
    await rt.bus.publish(rt.topics.events, [{ key: '203.0.113.9', value: securityEventCodec.encode(event('embedded-1', { ip: '203.0.113.9' })) }]);
    await until('pushed', () => (rx.messages.length >= 1 ? true : undefined));
    const doc = JSON.parse(rx.messages[0] as string) as Record<string, unknown> & { event: { id: string } };
    checkEcsDocument(doc, EVENT_FIELDS);
    assert.equal(doc.event.id, 'embedded-1');
  } finally {
    await rt.stop();
    await rx.stop();
  }
});
