// The live detection path: syslog lines → ingester → bus → detector shards
// (piscina worker threads) → events and decisions on their topics, on the
// in-process bus and on the real Kafka broker.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { loadConfig } from '../../shared/config/load.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { probe } from '../../shared/testing/bus-probe.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { startRuntime, type Runtime } from '../runtime.js';

const line = (ts: number, ip: string, uri: string, status: number, ua = 'Mozilla/5.0'): string =>
  `<190>Nov 21 06:00:44 edge nginx: ${JSON.stringify({ ts: (ts / 1000).toFixed(3), client_ip: ip, method: 'GET', host: 'shop.example', uri, status: String(status), user_agent: ua, request_id: '' })}`;

for (const kafka of [false, true]) {
  describe(`detector service on the ${kafka ? 'Kafka' : 'in-process'} bus`, { skip: kafka && unitOnly() && 'unit-only run' }, () => {
    let rt: Runtime | undefined;
    after(async () => rt?.stop());

    test('attackers sent as syslog become events and block decisions; a benign client does not', async () => {
      const yaml = [
        `kafka: { brokers: ${JSON.stringify(kafka ? kafkaBrokers() : [])}, topic_prefix: "${uniqueName('det')}.", partitions: 3, linger: 2ms }`,
        'ingest: { udp: { port: 0 } }',
        'detection: { shards: 2 }',
        'log_level: warn',
      ].join('\n');
      rt = await startRuntime(loadConfig({ text: yaml, env: {} }), new Set(['ingester', 'detector'] as const));
      const events: SecurityEvent[] = (await probe(rt.bus, rt.topics.events, (m) => securityEventCodec.decode(m.value))).items;
      const decisions: BlockDecision[] = (await probe(rt.bus, rt.topics.decisions, (m) => blockDecisionCodec.decode(m.value))).items;
      // The detector group joins before traffic (it reads from the newest offset).
      await sleep(kafka ? 4000 : 200);
      const t0 = Date.now() - 60_000;
      const lines: string[] = [];
      for (let i = 0; i < 30; i++) lines.push(line(t0 + i * 1000, '2001:db8::66', `/scan-${i}.php`, 404));
      lines.push(line(t0 + 100, '203.0.113.9', '/', 200, 'sqlmap/1.7'));
      for (let i = 0; i < 10; i++) lines.push(line(t0 + i * 3000, '192.0.2.10', '/products', 200));
      const sock = dgram.createSocket('udp4');
      for (const l of lines) await new Promise<void>((res) => sock.send(l, rt?.udpPort as number, '127.0.0.1', () => res()));
      sock.close();
      const deadline = Date.now() + 60_000;
      while (decisions.filter((d) => d.action === 'block').length < 2 && Date.now() < deadline) await sleep(50);
      const blocked = decisions.filter((d) => d.action === 'block').map((d) => d.ip).sort();
      // An IPv6 client is its /64 (detection.ipv6_client_prefix): blocked as the range, its events carry the network.
      assert.deepEqual(blocked, ['2001:db8::/64', '203.0.113.9']);
      assert.ok(events.some((e) => e.ip === '2001:db8::' && e.details.client_prefix === '64' && e.detector === 'unique_paths' && e.type === 'scan_detected'));
      assert.ok(events.some((e) => e.ip === '203.0.113.9' && e.detector === 'signature:ua-sqlmap'));
      assert.ok(!events.some((e) => e.ip === '192.0.2.10'), 'benign client: no event');
      const d = decisions.find((x) => x.ip === '203.0.113.9');
      assert.equal(d?.source, 'auto');
      assert.equal((d?.expires_at ?? 0) - (d?.created_at ?? 0), 86_400_000);
    });
  });
}

describe('detector rebalance', () => {
  test('a partition that moves to another member is rebuilt from the last window: the attacker split across owners is still blocked', async () => {
    const { MemoryBus } = await import('../../shared/bus/memory.js');
    const { accessRecordCodec } = await import('../../shared/avro/codec.js');
    const { topicNames } = await import('../../shared/topics.js');
    const { DetectorService } = await import('./service.js');
    const config = loadConfig({ text: 'detection: { shards: 1 }\nlog_level: warn', env: {} });
    const bus = new MemoryBus();
    const topics = topicNames('rebal.');
    await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 2 })));
    const decisions: BlockDecision[] = [];
    await bus.subscribe({ groupId: 'probe', topics: [topics.decisions], fromBeginning: true, onBatch: (b) => {
      for (const m of b.messages) decisions.push(blockDecisionCodec.decode(m.value));
      return Promise.resolve();
    } });
    const rec = (ts: number, path: string, status = 404) => ({
      ts, node: 'e', deployment: '', client_ip: '198.51.100.77', method: 'GET', host: 'h', path, query: '', status, bytes: 0,
      request_time: 0, upstream_time: null, user_agent: 'x', referer: '', country: null, auth_user: null, request_id: '', blocked_by: null, filter_alert: null, extra: {},
    });
    const t0 = Date.now() - 60_000;
    const first = new DetectorService({ config, bus, topics, groupId: 'det' });
    await first.start();
    // Part one: a page found, then 20 distinct 404s — evidence (not_found 10+10, unique_paths 20: weight 40) under
    // the threshold of 50. (The page found keeps the offence memory at one point a 404: a client that only probes
    // weighs two, and 20 probes alone would reach 50 there.)
    await bus.publish(topics.access, [
      { key: '198.51.100.77', value: accessRecordCodec.encode(rec(t0 - 500, '/', 200)), timestamp: t0 - 500 },
      ...Array.from({ length: 20 }, (_, i) => ({ key: '198.51.100.77', value: accessRecordCodec.encode(rec(t0 + i * 1000, `/a${i}`)), timestamp: t0 + i * 1000 })),
    ]);
    const deadline = Date.now() + 10_000;
    while ((await bus.committedOffsets('det', topics.access)).reduce((n, o) => n + Number(o.offset), 0) < 21 && Date.now() < deadline) await sleep(20);
    assert.equal(decisions.length, 0, 'no block yet');
    await first.close();
    // The partition moves to a new member, which must rebuild before part two arrives;
    // part two alone (10 more 404s: weight 10) would not block.
    const second = new DetectorService({ config, bus, topics, groupId: 'det' });
    await second.start();
    await bus.publish(topics.access, Array.from({ length: 10 }, (_, i) => ({ key: '198.51.100.77', value: accessRecordCodec.encode(rec(t0 + 30_000 + i * 1000, `/b${i}`)), timestamp: t0 + 30_000 + i * 1000 })));
    const deadline2 = Date.now() + 10_000;
    while (decisions.length === 0 && Date.now() < deadline2) await sleep(20);
    await second.close();
    await bus.close();
    assert.equal(second.rebuilt.length, 1, 'the moved partition was rebuilt');
    assert.deepEqual(decisions.map((d) => [d.ip, d.action]), [['198.51.100.77', 'block']]);
  });
});

describe('detector metrics', () => {
  test('records a shard cannot decode are counted on /metrics (the shard threads count them, the service exports them)', async () => {
    const { MemoryBus } = await import('../../shared/bus/memory.js');
    const { accessRecordCodec } = await import('../../shared/avro/codec.js');
    const { registry } = await import('../../shared/metrics.js');
    const { topicNames } = await import('../../shared/topics.js');
    const { DetectorService } = await import('./service.js');
    const config = loadConfig({ text: 'detection: { shards: 2 }\nlog_level: warn', env: {} });
    const bus = new MemoryBus();
    const topics = topicNames('undecodable.');
    await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 1 })));
    const scrape = async (): Promise<number> => Number(/^logwarden_detector_undecodable_total\{[^}]*\} (\d+)$/m.exec(await registry.metrics())?.[1] ?? 0);
    const before = await scrape();
    const detector = new DetectorService({ config, bus, topics, groupId: 'det-undecodable' });
    await detector.start();
    const good = {
      ts: Date.now(), node: 'e', deployment: '', client_ip: '198.51.100.8', method: 'GET', host: 'h', path: '/', query: '', status: 200, bytes: 0,
      request_time: 0, upstream_time: null, user_agent: 'x', referer: '', country: null, auth_user: null, request_id: '', blocked_by: null, filter_alert: null, extra: {},
    };
    await bus.publish(topics.access, [
      { key: '198.51.100.7', value: Buffer.from('not avro') },
      { key: '198.51.100.8', value: accessRecordCodec.encode(good) },
      { key: '198.51.100.9', value: Buffer.from([0, 0, 0, 0, 1, 255]) },
    ]);
    const deadline = Date.now() + 10_000;
    while ((await bus.committedOffsets('det-undecodable', topics.access)).reduce((n, o) => n + Number(o.offset), 0) < 3 && Date.now() < deadline) await sleep(20);
    await detector.close();
    await bus.close();
    assert.equal((await scrape()) - before, 2);
  });
});
