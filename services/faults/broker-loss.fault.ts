// Fault: one broker of a 3-broker KRaft cluster killed with SIGKILL under
// steady load, restarted 20 s later. The whole distributed pipeline in one
// process (ingester on TCP, detectors, sinks into embedded ClickHouse) on a
// cluster of this test's own; topics of replication factor 3 with
// min.insync.replicas 2, the producer on acks=all. The node killed is the one
// coordinating most of the pipeline's consumer groups (ties: leading most
// access partitions), so leaders and coordinators both move.
//
// - Nothing lost, nothing doubled: every TCP line sent is one row in `requests`.
// - Every attacker, whose attack is spread across the kill, is blocked once.
// - The consumer groups move to the new coordinator without operator action:
//   each group is Stable with members and at the log end afterwards.
// - The restarted broker catches up: every partition back to 3 in-sync replicas.
// - The stall each stage saw is printed (not asserted: this machine is shared).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import { registry } from '../../shared/metrics.js';
import { unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { consumerGroup } from '../../shared/topics.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { PrivateCluster, offsetsPartitionOf } from './cluster.js';
import { pipelineConfig, until } from './helpers.js';

// The kafkajs defects this test found are worked around in shared/bus/kafka.ts (see
// shared/bus/kafka-failover.ts): a send to several partitions that resolved without sending
// the records of a partition whose leader moved (acknowledged records missing from the
// topic); batch numbers taken back with a later request in flight (OUT_OF_ORDER_SEQUENCE_NUMBER,
// records dead-lettered); consumers committing to their lost coordinator by node id for
// minutes; a consumer stopped for good after a non-retriable crash (a group with no member).
const PARTITIONS = 3;
const DOWN_MS = 20_000;
const cluster = new PrivateCluster();
const dataDir = mkdtempSync(join(tmpdir(), 'lw-fault-broker-loss-'));
let rt: Runtime | undefined;
// Closed here too when an assertion fails mid-traffic: its timer would keep the file's process alive.
let sender: SteadySender | undefined;
after(async () => {
  try {
    await sender?.close();
    await rt?.stop();
  } finally {
    cluster.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

const line = (id: string, ip: string, path: string, status: number): string =>
  `<190>Nov 21 06:00:44 edge nginx: {"ts":"${(Date.now() / 1000).toFixed(3)}","client_ip":"${ip}","method":"GET","host":"h","uri":"${path}","status":"${status}","request_id":"${id}"}`;
const benignIp = (i: number): string => `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;

/** Two attackers per partition: whichever broker dies, it led some of them. */
function attackersPerPartition(perPartition: number): string[] {
  const out: string[] = [];
  const count = new Map<number, number>();
  for (let i = 1; i < 255 && out.length < PARTITIONS * perPartition; i++) {
    const ip = `198.51.100.${i}`;
    const p = partitionForKey(Buffer.from(ip), PARTITIONS);
    if ((count.get(p) ?? 0) >= perPartition) continue;
    count.set(p, (count.get(p) ?? 0) + 1);
    out.push(ip);
  }
  return out;
}

/** A relay writing a steady 200 lines/s over one TCP connection; `extra` lines (the attack) go out with the next tick. */
class SteadySender {
  written = 0;
  readonly queue: Array<(id: string) => string> = [];
  private readonly sock: net.Socket;
  private readonly timer: NodeJS.Timeout;
  constructor(port: number) {
    this.sock = net.connect(port, '127.0.0.1');
    this.timer = setInterval(() => {
      for (let k = 0; k < 10; k++) this.write((id) => line(id, benignIp(this.written), `/p/${this.written % 7}`, 200));
      while (this.queue.length > 0) this.write(this.queue.shift() as (id: string) => string);
    }, 50);
  }
  private write(make: (id: string) => string): void {
    this.sock.write(`${make(`tcp-${this.written}`)}\n`);
    this.written++;
  }
  async close(): Promise<void> {
    if (this.sock.destroyed || this.sock.writableEnded) return;
    clearInterval(this.timer);
    await new Promise<void>((resolve) => this.sock.end(resolve));
  }
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values.filter((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val)).reduce((n, x) => n + x.value, 0);
}

/** A counter sampled every 50 ms; the longest time it stood still in a window is the stall its stage saw. */
class Progress {
  private readonly rises: number[] = [];
  private last = -1;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly name: string, private readonly labels: Record<string, string> = {}) {
    this.timer = setInterval(() => void this.sample(), 50).unref();
  }
  private async sample(): Promise<void> {
    const v = await metric(this.name, this.labels);
    if (v > this.last) this.rises.push(Date.now());
    this.last = v;
  }
  /** The longest time without an increase that began in [from, to): from the last increase before it, or one inside it, to the next. */
  longestGap(from: number, to: number): number {
    const starts = [this.rises.filter((t) => t < from).at(-1), ...this.rises.filter((t) => t >= from && t < to)];
    let gap = 0;
    for (const start of starts) {
      if (start === undefined) continue;
      const next = this.rises.find((t) => t > start);
      if (next !== undefined) gap = Math.max(gap, next - start);
    }
    return gap;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

test('a broker of three killed (SIGKILL) under load and restarted: nothing lost or doubled, every attacker blocked once, groups move by themselves', { skip: unitOnly() && 'unit-only run', timeout: 480_000 }, async (t) => {
  const brokers = await cluster.start();
  const name = uniqueName('brokerloss');
  const config = pipelineConfig(name, brokers, dataDir, { partitions: PARTITIONS, kafka: 'replication_factor: 3, min_insync_replicas: 2, acks: all' });
  assert.equal(config.kafka.acks, 'all');
  rt = await startRuntime(config, new Set(['ingester', 'detector', 'sink']));
  const { ch, bus, topics } = rt;
  assert.ok(ch && rt.tcpPort);
  const admin = cluster.admin();
  await admin.connect();
  try {
    // The topics as created: replication factor 3, min.insync.replicas 2.
    const meta = await admin.fetchTopicMetadata({ topics: [topics.access, topics.events, topics.decisions] });
    for (const tm of meta.topics) for (const p of tm.partitions) assert.equal(p.replicas.length, 3, `${tm.name}/${p.partitionId} has 3 replicas`);
    const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topics.access, configNames: ['min.insync.replicas'] }] });
    assert.equal(cfg.resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue, '2', 'min.insync.replicas of the access topic');

    const groups: Array<[string, string]> = [
      [consumerGroup(config.kafka, 'detector'), topics.access],
      [consumerGroup(config.kafka, 'sink-requests'), topics.access],
      [consumerGroup(config.kafka, 'sink-events'), topics.events],
      [consumerGroup(config.kafka, 'sink-blocks'), topics.decisions],
      [consumerGroup(config.kafka, 'sink-control-blocks'), topics.decisions],
    ];
    const count = async (): Promise<{ n: number; distinct: number }> => {
      const [row] = await ch.query<{ n: string; distinct: string }>(`SELECT toString(count()) AS n, toString(uniqExact(request_id)) AS distinct FROM ${ch.table('requests')} WHERE startsWith(request_id, 'tcp-')`);
      return { n: Number(row?.n ?? 0), distinct: Number(row?.distinct ?? 0) };
    };
    const atLogEnd = async (): Promise<true | undefined> => {
      for (const [group, topic] of groups) {
        const [ends, committed] = [await bus.endOffsets(topic), await bus.committedOffsets(group, topic)];
        const c = new Map(committed.map((o) => [o.partition, o.offset]));
        if (!ends.every((e) => e.offset === '0' || c.get(e.partition) === e.offset)) return undefined;
      }
      return true;
    };

    const progress = {
      ingest: new Progress('logwarden_ingest_sent_total', { topic: topics.access }),
      detector: new Progress('logwarden_detector_records_total'),
      sink: new Progress('logwarden_sink_rows_total', { table: 'requests' }),
    };
    const relay = new SteadySender(rt.tcpPort);
    sender = relay;
    const attackers = attackersPerPartition(2);
    // The access topic read from its start by a group of its own: what the producer's acknowledgements left there.
    const onTopic = async (): Promise<Map<string, number>> => {
      const ids = new Map<string, number>();
      const ends = new Map((await bus.endOffsets(topics.access)).map((e) => [e.partition, BigInt(e.offset)]));
      const read = new Map<number, bigint>();
      const probe = await bus.subscribe({
        groupId: `${name}-probe-${Date.now()}`, topics: [topics.access], fromBeginning: true,
        onBatch: (b) => {
          for (const m of b.messages) {
            const id = accessRecordCodec.decode(m.value).request_id;
            ids.set(id, (ids.get(id) ?? 0) + 1);
          }
          read.set(b.partition, BigInt(b.nextOffset));
          return Promise.resolve();
        },
      });
      try {
        await until('the access topic read to its end', () => ([...ends].every(([p, end]) => (read.get(p) ?? 0n) >= end) ? true : undefined), 60_000);
      } finally {
        await probe.close();
      }
      return ids;
    };
    const topicSummary = async (): Promise<string> => {
      const ids = await onTopic();
      const missing: string[] = [];
      for (let i = 0; i < relay.written; i++) if (!ids.has(`tcp-${i}`)) missing.push(`tcp-${i}`);
      const doubled = [...ids].filter(([, c]) => c > 1).map(([id]) => id);
      return `on the topic: ${ids.size} ids, missing ${missing.length} (${missing.slice(0, 10).join(' ')}), doubled ${doubled.length} (${doubled.slice(0, 10).join(' ')})`;
    };
    // What each stage holds, named in the failure when a wait gives up.
    const snapshot = async (): Promise<string> => {
      const lags: string[] = [];
      for (const [group, topic] of groups) {
        const [ends, committed] = [await bus.endOffsets(topic).catch(() => []), await bus.committedOffsets(group, topic).catch(() => [])];
        const c = new Map(committed.map((o) => [o.partition, BigInt(o.offset)]));
        lags.push(`${group.slice(name.length + 1)} ${ends.map((e) => `${e.partition}:${String(BigInt(e.offset) - (c.get(e.partition) ?? 0n))}`).join(' ')}`);
      }
      const stored = await count();
      const rows = await ch.query<{ id: string }>(`SELECT request_id AS id FROM ${ch.table('requests')} WHERE startsWith(request_id, 'tcp-')`);
      const have = new Set(rows.map((r) => r.id));
      const notStored: string[] = [];
      for (let i = 0; i < relay.written && notStored.length < 10; i++) if (!have.has(`tcp-${i}`)) notStored.push(`tcp-${i}`);
      return `${await topicSummary().catch((e: unknown) => String(e))}; not stored e.g. ${notStored.join(' ')}; sent ${relay.written}, stored ${stored.n} (${stored.distinct} distinct); ingest received ${await metric('logwarden_ingest_received_total')}, sent ${await metric('logwarden_ingest_sent_total', { topic: topics.access })}; detector ${await metric('logwarden_detector_records_total')}; sink rows ${await metric('logwarden_sink_rows_total', { table: 'requests' })}; lag: ${lags.join('; ')}`;
    };
    const explained = async <T>(p: Promise<T>): Promise<T> => {
      try {
        return await p;
      } catch (err) {
        throw new Error(`${(err as Error).message} (${await snapshot()})`, { cause: err });
      }
    };
    // Part one: a page found, then 20 distinct 404s per attacker (weight 40, under the block threshold of 50;
    // without the page, 20 probes from a client that found nothing would reach 50 in the offence memory).
    for (const ip of attackers) {
      relay.queue.push((id) => line(id, ip, '/', 200));
      for (let i = 0; i < 20; i++) relay.queue.push((id) => line(id, ip, `/before/${i}`, 404));
    }
    await explained(until('traffic through every stage', async () => ((await count()).n >= 1_000 ? true : undefined), 120_000, 250));
    await until('every consumer group committed once', async () => {
      for (const [group, topic] of groups.slice(0, 2)) if ((await bus.committedOffsets(group, topic)).length === 0) return undefined;
      return true;
    }, 60_000, 250);
    const steadyFrom = Date.now();
    await sleep(5_000);

    // The victim: the node coordinating most of the pipeline's groups; ties go to the leader of most access partitions.
    const offsets = (await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] })).topics[0]?.partitions ?? [];
    const access = (await admin.fetchTopicMetadata({ topics: [topics.access] })).topics[0]?.partitions ?? [];
    const nodeIds = (await admin.describeCluster()).brokers;
    const score = new Map<number, number>(nodeIds.map((b) => [b.nodeId, 0]));
    for (const [group] of groups) {
      const leader = offsets.find((p) => p.partitionId === offsetsPartitionOf(group, offsets.length))?.leader;
      if (leader !== undefined) score.set(leader, (score.get(leader) ?? 0) + 10);
    }
    for (const p of access) score.set(p.leader, (score.get(p.leader) ?? 0) + 1);
    const victimId = [...score].sort((a, b) => b[1] - a[1])[0]?.[0] as number;
    const victimPort = nodeIds.find((b) => b.nodeId === victimId)?.port as number;
    const victim = cluster.nodeOfPort(victimPort);
    const score0 = score.get(victimId) ?? 0;
    t.diagnostic(`killing node ${victim} (${cluster.address(victim)}): coordinator of ${Math.floor(score0 / 10)}/${groups.length} groups, leader of ${score0 % 10}/${PARTITIONS} access partitions`);

    const baseline = { ingest: progress.ingest.longestGap(steadyFrom, Date.now()), detector: progress.detector.longestGap(steadyFrom, Date.now()), sink: progress.sink.longestGap(steadyFrom, Date.now()) };
    const killedAt = Date.now();
    await cluster.kill(victim);
    // Part two, while the broker is gone: 10 more distinct 404s each (a block only together with part one).
    await sleep(3_000);
    for (const ip of attackers) for (let i = 0; i < 10; i++) relay.queue.push((id) => line(id, ip, `/after/${i}`, 404));
    await sleep(DOWN_MS - 3_000);
    const restartAt = Date.now();
    await cluster.restart(victim);
    const restartedAt = Date.now();
    await sleep(10_000);
    await relay.close();
    const sent = relay.written;
    const endAt = Date.now();

    await explained(until('every line to reach ClickHouse', async () => ((await count()).n >= sent ? true : undefined), 120_000, 500));
    await explained(until('every consumer group at the log end', atLogEnd, 120_000, 500));
    const blocksOf = async (): Promise<Map<string, number>> => {
      const rows = await ch.query<{ ip: string; n: string }>(`SELECT ip, toString(count()) AS n FROM ${ch.table('blocks')} WHERE action = 'block' GROUP BY ip`);
      return new Map(rows.map((r) => [r.ip, Number(r.n)]));
    };
    await until('every attacker\'s block in ClickHouse', async () => {
      const b = await blocksOf();
      return attackers.every((ip) => (b.get(ip) ?? 0) > 0) ? true : undefined;
    }, 60_000, 250);
    for (const p of Object.values(progress)) p.stop();

    const stored = await count();
    const stalls = (p: Progress): string => `${p.longestGap(killedAt, restartAt)} ms after the kill, ${p.longestGap(restartAt, endAt)} ms after the restart`;
    t.diagnostic(`longest standstill before the kill (baseline): ingest ${baseline.ingest} ms, detector ${baseline.detector} ms, sink ${baseline.sink} ms`);
    t.diagnostic(`ingest produce stall: ${stalls(progress.ingest)}`);
    t.diagnostic(`detector consume gap: ${stalls(progress.detector)}`);
    t.diagnostic(`sink (requests) gap: ${stalls(progress.sink)}`);
    t.diagnostic(`restart of node ${victim}: ${restartedAt - restartAt} ms until the cluster counted it again`);
    t.diagnostic(`TCP: ${sent} sent, ${stored.n} rows (${stored.distinct} distinct)`);
    const ids = await onTopic();
    const doubledOnTopic = [...ids.values()].filter((c) => c > 1).length;
    t.diagnostic(`access topic: ${ids.size} ids, ${doubledOnTopic} written twice by the producer`);
    const missing = Array.from({ length: sent }, (_, i) => `tcp-${i}`).filter((id) => !ids.has(id));
    assert.equal(ids.size, sent, `every line acknowledged by the ingester is on the topic (missing ${missing.slice(0, 10).join(' ')}; dead-lettered ${await metric('logwarden_ingest_refused_total')})`);
    assert.equal(stored.n, sent, 'every TCP line is one row');
    assert.equal(stored.distinct, stored.n, 'no row doubled');

    const blocks = await blocksOf();
    for (const ip of attackers) assert.equal(blocks.get(ip), 1, `${ip}: blocked once`);
    assert.equal([...blocks.keys()].filter((ip) => !attackers.includes(ip)).length, 0, 'no benign client blocked');
    t.diagnostic(`${attackers.length} attackers across ${PARTITIONS} partitions, each blocked once`);

    // The groups rejoined at their new coordinators by themselves: Stable, with members.
    const described = await admin.describeGroups(groups.map(([g]) => g));
    for (const g of described.groups) {
      assert.equal(g.state, 'Stable', `${g.groupId} is Stable`);
      assert.ok(g.members.length > 0, `${g.groupId} has members`);
    }
    // The restarted broker caught up: every partition of the pipeline's topics has 3 in-sync replicas again.
    await until('every partition back to 3 in-sync replicas', async () => {
      const m = await admin.fetchTopicMetadata({ topics: [topics.access, topics.events, topics.decisions] });
      return m.topics.every((tm) => tm.partitions.every((p) => p.isr.length === 3)) ? true : undefined;
    }, 90_000, 500);
  } finally {
    await admin.disconnect();
  }
});
