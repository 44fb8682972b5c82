// Fault: a detector process killed (SIGKILL) mid-stream. Two `logwarden
// detector` processes share the consumer group on the real broker; an attack
// from every partition is spread across the kill. The killed member's
// partitions move to the survivor once the group evicts it, the survivor
// rebuilds their last window from the log, every attacker is still blocked,
// and each exactly once (no duplicate decisions pile up); benign clients are
// never blocked.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec, blockDecisionCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import { loadConfig } from '../../shared/config/load.js';
import type { AccessRecord, BlockDecision } from '../../shared/records.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { consumerGroup, topicNames } from '../../shared/topics.js';
import { topicSpecs } from '../runtime.js';
import { ServiceProcess, until, type LogLine } from './helpers.js';

const PARTITIONS = 4;
const procs: ServiceProcess[] = [];
after(async () => {
  for (const p of procs) await p.stop();
});

const rec = (ip: string, ts: number, path: string, status: number): AccessRecord => ({
  ts, node: 'edge', deployment: '', client_ip: ip, method: 'GET', host: 'h', path, query: '', status, bytes: 0,
  request_time: 0, upstream_time: null, user_agent: 'curl/8', referer: '', country: null, auth_user: null,
  request_id: `${ip}-${path}`, blocked_by: null, filter_alert: null, extra: {},
});

/** Two addresses per partition, so whichever member dies, it held attackers. */
function addressesPerPartition(base: string, perPartition: number): string[] {
  const out: string[] = [];
  const count = new Map<number, number>();
  for (let i = 1; i < 255 && out.length < PARTITIONS * perPartition; i++) {
    const ip = `${base}.${i}`;
    const p = partitionForKey(Buffer.from(ip), PARTITIONS);
    if ((count.get(p) ?? 0) >= perPartition) continue;
    count.set(p, (count.get(p) ?? 0) + 1);
    out.push(ip);
  }
  return out;
}

/** The partitions of `topic` a member holds, from its last "partitions assigned" line for `group`. */
function held(proc: ServiceProcess, group: string, topic: string): number[] | undefined {
  const last = proc.logged('partitions assigned').filter((l: LogLine) => l.group === group).at(-1);
  if (!last) return undefined;
  return (last.partitions as string[]).filter((p) => p.startsWith(`${topic}/`)).map((p) => Number(p.slice(topic.length + 1))).sort();
}

test('a detector killed mid-stream: its partitions move, state is rebuilt, every attacker blocked once', { skip: unitOnly() && 'unit-only run', timeout: 240_000 }, async (t) => {
  const brokers = kafkaBrokers();
  const clientId = uniqueName('fault-det');
  const prefix = `${clientId}.`;
  const yaml = [
    `kafka: { brokers: ${JSON.stringify(brokers)}, client_id: "${clientId}", topic_prefix: "${prefix}", partitions: ${PARTITIONS}, linger: 2ms }`,
    'detection: { shards: 1 }',
    'metrics: { port: 0 }',
    'log_level: info',
  ].join('\n');
  const config = loadConfig({ text: yaml, env: {} });
  const topics = topicNames(prefix);
  const group = consumerGroup(config.kafka, 'detector');
  const bus = new KafkaBus({ brokers, clientId: `${clientId}-test`, acks: 'all', compression: 'none', replicationFactor: 1 });
  await bus.ensureTopics(topicSpecs(config, topics));

  const decisions: BlockDecision[] = [];
  const seen = new Map<number, bigint>();
  const probe = await bus.subscribe({
    groupId: `${clientId}-probe`, topics: [topics.decisions], fromBeginning: true,
    onBatch: (b) => {
      for (const m of b.messages) decisions.push(blockDecisionCodec.decode(m.value));
      seen.set(b.partition, BigInt(b.nextOffset));
      return Promise.resolve();
    },
  });

  try {
    const a = new ServiceProcess('detector', yaml);
    procs.push(a);
    await until('the first detector to hold every partition', () => (held(a, group, topics.access)?.length === PARTITIONS ? true : undefined), 60_000);
    const b = new ServiceProcess('detector', yaml);
    procs.push(b);
    const split = await until('the group to split the partitions between both members', () => {
      const [pa, pb] = [held(a, group, topics.access), held(b, group, topics.access)];
      if (!pa || !pb || pa.length === 0 || pb.length === 0) return undefined;
      return pa.length + pb.length === PARTITIONS && pa.every((p) => !pb.includes(p)) ? { a: pa, b: pb } : undefined;
    }, 90_000);
    t.diagnostic(`member a holds ${split.a.join(',')}, member b holds ${split.b.join(',')}`);

    const attackers = addressesPerPartition('198.51.100', 2);
    const benign = addressesPerPartition('192.0.2', 1);
    const send = async (records: AccessRecord[]): Promise<void> => {
      await bus.publish(topics.access, records.map((r) => ({ key: r.client_ip, value: accessRecordCodec.encode(r), timestamp: r.ts })));
    };
    const caughtUp = async (): Promise<boolean | undefined> => {
      const [ends, committed] = [await bus.endOffsets(topics.access), await bus.committedOffsets(group, topics.access)];
      const c = new Map(committed.map((o) => [o.partition, o.offset]));
      return ends.every((e) => e.offset === '0' || c.get(e.partition) === e.offset) ? true : undefined;
    };

    // Part one: a page found, then 20 distinct 404s per attacker (weight 40, under the block threshold of 50;
    // the page found keeps the offence memory at one point a 404: 20 probes from a client that found nothing
    // would reach 50 there on their own).
    const t0 = Date.now() - 20_000;
    await send(attackers.flatMap((ip) => [rec(ip, t0 - 500, '/', 200), ...Array.from({ length: 20 }, (_, i) => rec(ip, t0 + i * 1000, `/a${i}`, 404))]));
    await send(benign.flatMap((ip) => Array.from({ length: 5 }, (_, i) => rec(ip, t0 + i * 1000, `/page${i}`, 200))));
    await until('both members to commit part one', caughtUp, 60_000);
    assert.equal(decisions.length, 0, 'no block before part two');
    const killedHeld = held(b, group, topics.access) ?? [];
    assert.ok(killedHeld.length > 0 && attackers.some((ip) => killedHeld.includes(partitionForKey(Buffer.from(ip), PARTITIONS))), 'the member to kill holds attackers');

    await b.kill();
    // Part two: 10 more distinct 404s each (weight 10: a block only together with part one).
    const t1 = Date.now();
    await send(attackers.flatMap((ip) => Array.from({ length: 10 }, (_, i) => rec(ip, t1 + i * 100, `/b${i}`, 404))));
    await send(benign.flatMap((ip) => Array.from({ length: 5 }, (_, i) => rec(ip, t1 + i * 100, `/more${i}`, 200))));

    // The group evicts the killed member after its session timeout (30 s), then the survivor takes over.
    await until('every attacker blocked', () => (attackers.every((ip) => decisions.some((d) => d.ip === ip && d.action === 'block')) ? true : undefined), 150_000, 250);
    await until('the survivor to commit part two', caughtUp, 60_000);
    // Everything the detectors published is in the topic now; read it to the end before counting.
    const ends = await bus.endOffsets(topics.decisions);
    await until('the probe to read every decision', () => (ends.every((e) => (seen.get(e.partition) ?? 0n) >= BigInt(e.offset)) ? true : undefined), 30_000);

    assert.deepEqual(held(a, group, topics.access), [...Array(PARTITIONS).keys()], 'the survivor holds every partition');
    const rebuilt = a.logged('rebuilding detector state from the last window').map((l) => Number(l.partition)).sort();
    assert.deepEqual([...new Set(rebuilt)], killedHeld, 'the survivor rebuilt exactly the partitions that moved');
    const perIp = new Map<string, number>();
    for (const d of decisions) perIp.set(`${d.ip} ${d.action}`, (perIp.get(`${d.ip} ${d.action}`) ?? 0) + 1);
    for (const ip of attackers) assert.equal(perIp.get(`${ip} block`), 1, `${ip}: one block decision`);
    assert.equal(decisions.length, attackers.length, 'no decision beyond one block per attacker');
    for (const ip of benign) assert.ok(!decisions.some((d) => d.ip === ip), `${ip} (benign) not blocked`);
    t.diagnostic(`${attackers.length} attackers over ${PARTITIONS} partitions, ${killedHeld.length} partitions moved; ${decisions.length} decisions`);
    assert.equal(await a.stop(), 0, 'the survivor stops cleanly');
  } finally {
    await probe.close();
    await bus.close();
  }
});
