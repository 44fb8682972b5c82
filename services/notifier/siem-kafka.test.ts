// The SIEM push in distributed mode, on the real Kafka broker: security events
// and block decisions published on the bus reach a loopback TCP SIEM
// (syslog+tcp://, octet-counted) as ECS documents, through the target's own
// consumer group. While the SIEM is down (longer than the group's session
// timeout: the waiting handler heartbeats) the group commits nothing; once it
// is back, what was published meanwhile arrives once, and the group commits it.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { createBus } from '../../shared/bus/index.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import type { Bus } from '../../shared/bus/types.js';
import { ControlState } from '../../shared/control/state.js';
import { decisionId } from '../../shared/ecs.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { checkEcsDocument, documentedFields } from '../../shared/testing/ecs-check.js';
import { kafkaBrokers, unitOnly } from '../../shared/testing/kafka.js';
import { testConfig } from '../../shared/testing/config.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, topicSpecs } from '../../shared/topics.js';
import { startSiemPush, type SiemPush } from './index.js';
import { tcpReceiver, type TcpReceiver } from './testing/siem-receiver.js';

const PARTITIONS = 3;
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-siem-kafka-'));
const SYSLOG = /^<\d+>1 \S+ \S+ logwarden - (event|block) - (\{.*\})$/s;

describe('SIEM push on the real Kafka broker', { skip: unitOnly() ? 'needs Kafka (run without --unit)' : false }, () => {
  let bus: Bus | undefined;
  let push: SiemPush | undefined;
  let rx: TcpReceiver | undefined;
  after(async () => {
    await push?.stop(1000);
    await bus?.close();
    await rx?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('events and blocks published on the bus reach the TCP target in ECS; a SIEM that was down gets the backlog, committed only then', async (t) => {
    rx = await tcpReceiver('octet');
    const config = testConfig('siem-kafka', {
      dataDir,
      brokers: kafkaBrokers(),
      sections: {
        kafka: { partitions: PARTITIONS, session_timeout: '6s' },
        // Retries 0.5 to 1 s apart: 14 failed attempts span more than the 6 s session.
        siem: { targets: [{ name: 'soc', url: `syslog+tcp://127.0.0.1:${rx.port}`, flush_interval: '50ms', retry_initial: '1s', retry_max: '1s' }] },
      },
    });
    const topics = topicNames(config.kafka.topic_prefix);
    bus = createBus(config);
    await bus.ensureTopics(topicSpecs(config, topics));
    push = await startSiemPush({ config, bus, topics, control: new ControlState(), ch: undefined, store: undefined });
    assert.ok(push);
    const group = push.groups.soc as string;
    const received = (): Map<string, { kind: string; doc: Record<string, unknown> }> => new Map((rx?.messages ?? []).map((m) => {
      const [, kind, json] = SYSLOG.exec(m) ?? assert.fail(`not an RFC 5424 message: ${m.slice(0, 100)}`);
      const doc = JSON.parse(json as string) as Record<string, unknown> & { event: { id: string } };
      return [doc.event.id, { kind: kind as string, doc }];
    }));

    let n = 0;
    const event = (): SecurityEvent => {
      n++;
      return { id: `kafka-e${n}`, ts: Date.now(), type: 'scan_detected', detector: 'unique_paths', ip: `198.51.100.${n % 250}`, deployment: 'shop', count: 20, window_start: Date.now() - 120_000, window_end: Date.now(), sample_paths: ['/.git/config'], details: {} };
    };
    const decision = (): BlockDecision => {
      n++;
      return { ip: `192.0.2.${n % 250}`, action: 'block', reason: 'kafka siem test', source: 'auto', created_at: Date.now() + n, expires_at: Date.now() + 3_600_000, deployment: null, escalation_level: 0 };
    };
    const publish = async (es: SecurityEvent[], ds: BlockDecision[]): Promise<void> => {
      const b = bus as Bus;
      await b.publish(topics.events, es.map((e) => ({ key: e.ip, value: securityEventCodec.encode(e) })));
      await b.publish(topics.decisions, ds.map((d) => ({ key: d.ip, value: blockDecisionCodec.encode(d) })));
    };

    // A new group starts at the end of each partition: first, records until every
    // partition of both topics delivered one, so the group has settled where it reads.
    const warm = new Set<string>();
    await until('every partition read', async () => {
      const es = Array.from({ length: 6 }, event).filter((e) => !warm.has(`e${partitionForKey(e.ip, PARTITIONS)}`));
      const ds = Array.from({ length: 6 }, decision).filter((d) => !warm.has(`d${partitionForKey(d.ip, PARTITIONS)}`));
      await publish(es, ds);
      await until('those pushed', () => (es.every((e) => received().has(e.id)) && ds.every((d) => received().has(decisionId(d))) ? true : undefined), 5_000).catch(() => undefined);
      for (const e of es) if (received().has(e.id)) warm.add(`e${partitionForKey(e.ip, PARTITIONS)}`);
      for (const d of ds) if (received().has(decisionId(d))) warm.add(`d${partitionForKey(d.ip, PARTITIONS)}`);
      return warm.size === 2 * PARTITIONS ? true : undefined;
    }, 90_000);

    const es1 = Array.from({ length: 30 }, event);
    const ds1 = Array.from({ length: 10 }, decision);
    await publish(es1, ds1);
    await until('the first records pushed', () => (es1.every((e) => received().has(e.id)) && ds1.every((d) => received().has(decisionId(d))) ? true : undefined), 60_000);

    // The SIEM goes down: records published meanwhile stay on the bus, uncommitted.
    await rx.stop();
    const es2 = Array.from({ length: 20 }, event);
    await publish(es2, []);
    const target = push.targets[0] ?? assert.fail('a target');
    await until('the target down longer than the session timeout', () => (target.stats.failedAttempts >= 14 ? true : undefined), 60_000);
    const lagging = async (): Promise<boolean> => {
      const committed = new Map((await (bus as Bus).committedOffsets(group, topics.events)).map((p) => [p.partition, BigInt(p.offset)]));
      return (await (bus as Bus).endOffsets(topics.events)).some((e) => (committed.get(e.partition) ?? -1n) < BigInt(e.offset));
    };
    assert.equal(await lagging(), true, 'the group does not commit what the target has not taken');
    await rx.start();
    await until('the backlog pushed', () => (es2.every((e) => received().has(e.id)) ? true : undefined), 60_000);
    await until('the backlog committed', async () => ((await lagging()) ? undefined : true), 60_000);

    const events = documentedFields('ecs-fields');
    const blocks = documentedFields('ecs-block-fields');
    for (const { kind, doc } of received().values()) checkEcsDocument(doc, kind === 'event' ? events : blocks);
    assert.equal(target.stats.dropped.queue_full + target.stats.dropped.failed, 0, 'nothing dropped');
    assert.equal(rx.messages.length, received().size, 'no record twice: the member stayed in its group, its commit was taken');
    assert.ok(push.assignment().soc?.length === 2 * PARTITIONS, 'this member still owns every partition');
    t.diagnostic(`${received().size} records pushed through group ${group}; ${target.stats.batches} batches, ${target.stats.failedAttempts} failed attempts while down`);
  });
});
