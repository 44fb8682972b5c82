// The in-process bus of embedded mode: partitioned logs with offsets,
// consumer groups with committed offsets and rebalancing, the same semantics
// as the Kafka bus (bus.contract.test.ts proves it), without a broker.
//
// Memory is bounded: a message is dropped once every group subscribed to its
// topic has committed past it and it is older than the topic's retention
// (default 10 minutes, enough to rebuild a detection window); a hard cap per
// partition drops the oldest beyond it and counts the drop.
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter } from 'prom-client';
import { LogwardenError } from '../errors.js';
import { componentLogger } from '../log.js';
import { recordLag } from './lag.js';
import { registry } from '../metrics.js';
import { BUS_ERRORS, BusRefusedError, BusUnavailableError } from './errors.js';
import { partitionForKey } from './murmur2.js';
import type { Bus, BusMessage, IncomingBatch, OutgoingMessage, PartitionOffset, SubscribeOptions, Subscription, TopicPartition, TopicSpec } from './types.js';

const log = componentLogger('bus.memory');
const evicted = new Counter({
  name: 'logwarden_memory_bus_evicted_total',
  help: 'Messages the in-process bus dropped before every group consumed them (partition cap reached)',
  labelNames: ['topic'],
  registers: [registry],
});

const DEFAULT_RETENTION_MS = 10 * 60_000;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5_000;

interface Stored extends BusMessage {
  off: number;
}

class PartitionLog {
  messages: Stored[] = [];
  nextOffset: number;
  /** Length after the last compaction: compacting again only pays once the log doubled. */
  compactedLength = 0;

  constructor(firstOffset: number) {
    this.nextOffset = firstOffset;
  }

  /** Index of the first message whose offset is ≥ off (offsets are sparse after compaction). */
  indexOf(off: number): number {
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.messages[mid] as Stored).off < off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  startOffset(): number {
    return this.messages[0]?.off ?? this.nextOffset;
  }
}

interface Topic {
  spec: Required<Omit<TopicSpec, 'retentionMs'>> & { retentionMs: number };
  partitions: PartitionLog[];
  roundRobin: number;
}

interface Group {
  id: string;
  generation: number;
  committed: Map<string, number>;
  members: Member[];
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

class Member implements Subscription {
  owned: TopicPartition[] = [];
  positions = new Map<string, number>();
  closed = false;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: MemoryBus,
    readonly group: Group,
    readonly opts: SubscribeOptions,
  ) {
    this.loop = this.run();
  }

  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  assign(partitions: TopicPartition[]): void {
    this.owned = partitions;
    this.positions.clear();
    for (const tp of partitions) {
      const committed = this.group.committed.get(tpKey(tp.topic, tp.partition));
      const plog = this.bus.partition(tp.topic, tp.partition);
      const start = committed ?? (this.opts.fromBeginning ? plog.startOffset() : plog.nextOffset);
      // Committed offsets older than what is still held (evicted) resume at the oldest held.
      this.positions.set(tpKey(tp.topic, tp.partition), Math.max(start, plog.startOffset()));
    }
    const copy = partitions.map((p) => ({ ...p }));
    this.ready = this.opts.onAssign ? Promise.resolve(this.opts.onAssign(copy)) : Promise.resolve();
    this.notify();
  }

  seek(topic: string, partition: number, offset: string): void {
    const key = tpKey(topic, partition);
    if (!this.positions.has(key)) throw new LogwardenError(BUS_ERRORS.LW_BUS_NOT_ASSIGNED, `seek: ${topic}/${partition} is not assigned to this member`);
    this.positions.set(key, Number(offset));
    this.notify();
  }

  assignment(): TopicPartition[] {
    return this.owned.map((p) => ({ ...p }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.notify();
    await this.loop;
    this.bus.leave(this);
  }

  private async run(): Promise<void> {
    let backoff = RETRY_MIN_MS;
    const max = this.opts.maxBatchSize ?? 1000;
    while (!this.closed) {
      try {
        await this.ready;
      } catch (err) {
        log.error({ err, group: this.group.id }, 'onAssign failed; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, RETRY_MAX_MS);
        this.assign(this.owned);
        continue;
      }
      let delivered = false;
      for (const tp of this.owned) {
        if (this.closed) break;
        const key = tpKey(tp.topic, tp.partition);
        const pos = this.positions.get(key);
        if (pos === undefined) continue;
        const plog = this.bus.partition(tp.topic, tp.partition);
        const from = plog.indexOf(pos);
        if (from >= plog.messages.length) continue;
        const slice = plog.messages.slice(from, from + max);
        const last = slice[slice.length - 1] as Stored;
        const batch: IncomingBatch = {
          topic: tp.topic,
          partition: tp.partition,
          messages: slice.map(({ off: _off, ...m }) => m),
          nextOffset: String(last.off + 1),
          // One process: no coordinator to stay known to.
          heartbeat: () => Promise.resolve(),
        };
        const generation = this.group.generation;
        try {
          await this.opts.onBatch(batch);
        } catch (err) {
          log.warn({ err, group: this.group.id, topic: tp.topic, partition: tp.partition }, 'batch handler failed; redelivering');
          await sleep(backoff);
          backoff = Math.min(backoff * 2, RETRY_MAX_MS);
          delivered = true;
          break;
        }
        backoff = RETRY_MIN_MS;
        delivered = true;
        // A rebalance during the handler moved the partition: like Kafka, the stale commit is refused.
        if (generation !== this.group.generation || this.positions.get(key) !== pos) continue;
        this.positions.set(key, last.off + 1);
        this.group.committed.set(key, last.off + 1);
        recordLag(this.group.id, tp.topic, tp.partition, BigInt(plog.nextOffset), BigInt(last.off + 1));
        this.bus.trim(tp.topic, tp.partition);
      }
      if (!delivered && !this.closed) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          // A timer, so a missed wake-up can only delay, never stall, delivery.
          setTimeout(resolve, 500).unref();
        });
      }
    }
  }
}

export interface MemoryBusOptions {
  /** Cap of messages held per partition; beyond it the oldest are dropped and counted. */
  maxMessagesPerPartition?: number;
  /**
   * Longest a consumed message is held, whatever the topic's retention says:
   * in one process, memory is the log. Enough to rebuild a detection window.
   */
  maxRetentionMs?: number;
  /**
   * Offset of each partition's first message. Embedded mode starts it at the
   * start time in microseconds: offsets then never repeat across restarts of
   * the process, so a sink's deduplication tokens (made of offsets) from a
   * previous run cannot make ClickHouse drop this run's inserts.
   */
  firstOffset?: number;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly cap: number;
  private readonly maxRetentionMs: number;
  private readonly firstOffset: number;
  private closed = false;

  constructor(opts: MemoryBusOptions = {}) {
    this.cap = opts.maxMessagesPerPartition ?? 250_000;
    this.maxRetentionMs = opts.maxRetentionMs ?? DEFAULT_RETENTION_MS;
    this.firstOffset = opts.firstOffset ?? 0;
    if (!Number.isSafeInteger(this.firstOffset) || this.firstOffset < 0) throw new Error(`firstOffset must be a safe integer >= 0, got ${this.firstOffset}`); // a caller bug: no user sets it
  }

  ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const s of specs) {
      if (this.topics.has(s.topic)) continue;
      this.topics.set(s.topic, {
        spec: { topic: s.topic, partitions: s.partitions, compacted: s.compacted ?? false, retentionMs: Math.min(s.retentionMs ?? DEFAULT_RETENTION_MS, this.maxRetentionMs) },
        partitions: Array.from({ length: s.partitions }, () => new PartitionLog(this.firstOffset)),
        roundRobin: 0,
      });
    }
    return Promise.resolve();
  }

  private topic(name: string): Topic {
    const t = this.topics.get(name);
    if (!t) throw new LogwardenError(BUS_ERRORS.LW_BUS_UNKNOWN_TOPIC, `unknown topic ${name} (create it with ensureTopics)`);
    return t;
  }

  partition(topic: string, partition: number): PartitionLog {
    const p = this.topic(topic).partitions[partition];
    if (!p) throw new LogwardenError(BUS_ERRORS.LW_BUS_UNKNOWN_PARTITION, `unknown partition ${topic}/${partition}`);
    return p;
  }

  publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    // Closed: the process is stopping, as a broker going away would be. An unknown topic is a
    // refusal: in one process nobody else will create it.
    if (this.closed) return Promise.reject(new BusUnavailableError('bus closed'));
    const t = this.topics.get(topic);
    if (!t) return Promise.reject(new BusRefusedError(`unknown topic ${topic} (create it with ensureTopics)`, 'unknown_topic'));
    const n = t.partitions.length;
    const now = Date.now();
    const touched = new Set<number>();
    for (const m of messages) {
      const partition = m.key === null ? t.roundRobin++ % n : partitionForKey(m.key, n);
      const plog = t.partitions[partition] as PartitionLog;
      const off = plog.nextOffset++;
      plog.messages.push({
        topic,
        partition,
        offset: String(off),
        off,
        key: m.key === null ? null : Buffer.from(m.key),
        value: m.value,
        headers: { ...(m.headers ?? {}) },
        timestamp: Math.min(m.timestamp ?? now, now),
      });
      touched.add(partition);
    }
    for (const p of touched) this.trim(topic, p);
    for (const g of this.groups.values()) for (const member of g.members) if (member.opts.topics.includes(topic)) member.notify();
    return Promise.resolve();
  }

  async subscribe(opts: SubscribeOptions): Promise<Subscription> {
    for (const t of opts.topics) this.topic(t);
    let g = this.groups.get(opts.groupId);
    if (!g) {
      g = { id: opts.groupId, generation: 0, committed: new Map(), members: [] };
      this.groups.set(opts.groupId, g);
    }
    const member = new Member(this, g, opts);
    g.members.push(member);
    this.rebalance(g);
    return Promise.resolve(member);
  }

  leave(member: Member): void {
    const g = member.group;
    g.members = g.members.filter((m) => m !== member);
    this.rebalance(g);
  }

  // Round-robin over the sorted partitions of the topics the group reads.
  private rebalance(g: Group): void {
    g.generation++;
    const members = g.members.filter((m) => !m.closed);
    const topics = [...new Set(members.flatMap((m) => m.opts.topics))].sort();
    const all: TopicPartition[] = [];
    for (const t of topics) for (let p = 0; p < this.topic(t).partitions.length; p++) all.push({ topic: t, partition: p });
    const shares: TopicPartition[][] = members.map(() => []);
    let i = 0;
    for (const tp of all) {
      // A member only gets partitions of topics it subscribed to.
      for (let tries = 0; tries < members.length; tries++) {
        const idx = (i + tries) % members.length;
        if ((members[idx] as Member).opts.topics.includes(tp.topic)) {
          (shares[idx] as TopicPartition[]).push(tp);
          i = idx + 1;
          break;
        }
      }
    }
    members.forEach((m, idx) => m.assign(shares[idx] as TopicPartition[]));
  }

  trim(topic: string, partition: number): void {
    const t = this.topic(topic);
    const plog = t.partitions[partition] as PartitionLog;
    if (plog.messages.length > this.cap) {
      const drop = plog.messages.length - this.cap;
      plog.messages.splice(0, drop);
      evicted.inc({ topic }, drop);
    }
    if (t.spec.compacted) {
      // Keep the latest message per key; an unkeyed message stands alone.
      if (plog.messages.length < plog.compactedLength * 2 + 1024) return;
      const latest = new Map<string, number>();
      plog.messages.forEach((m, idx) => m.key && latest.set(m.key.toString('latin1'), idx));
      plog.messages = plog.messages.filter((m, idx) => !m.key || latest.get(m.key.toString('latin1')) === idx);
      plog.compactedLength = plog.messages.length;
      return;
    }
    let minCommitted = Infinity;
    for (const g of this.groups.values()) {
      if (!g.members.some((m) => m.opts.topics.includes(topic)) && !g.committed.has(tpKey(topic, partition))) continue;
      minCommitted = Math.min(minCommitted, g.committed.get(tpKey(topic, partition)) ?? 0);
    }
    if (minCommitted === Infinity) minCommitted = 0;
    const oldest = Date.now() - t.spec.retentionMs;
    let n = 0;
    while (n < plog.messages.length) {
      const m = plog.messages[n] as Stored;
      if (m.off >= minCommitted || m.timestamp >= oldest) break;
      n++;
    }
    if (n > 0) plog.messages.splice(0, n);
  }

  committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    const g = this.groups.get(groupId);
    const out: PartitionOffset[] = [];
    this.topic(topic).partitions.forEach((_, partition) => {
      const c = g?.committed.get(tpKey(topic, partition));
      if (c !== undefined) out.push({ partition, offset: String(c) });
    });
    return Promise.resolve(out);
  }

  endOffsets(topic: string): Promise<PartitionOffset[]> {
    return Promise.resolve(this.topic(topic).partitions.map((plog, partition) => ({ partition, offset: String(plog.nextOffset) })));
  }

  offsetsForTimestamp(topic: string, ts: number): Promise<PartitionOffset[]> {
    const t = this.topic(topic);
    return Promise.resolve(
      t.partitions.map((plog, partition) => {
        const hit = plog.messages.find((m) => m.timestamp >= ts);
        return { partition, offset: String(hit ? hit.off : plog.nextOffset) };
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const members = [...this.groups.values()].flatMap((g) => g.members);
    await Promise.all(members.map((m) => m.close()));
  }
}
