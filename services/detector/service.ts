// The detector service: a consumer group on the access topic whose batches
// are routed to single-thread shard pools by client IP; events go to the
// events topic, decisions to the compacted decisions topic (keyed by IP, so a
// re-emitted decision after a rebalance replaces itself). Offsets are
// committed only after the batch's events and decisions are published.
import { Piscina } from 'piscina';
import { Counter, Gauge, Histogram } from 'prom-client';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import type { Bus, BusMessage, IncomingBatch, Subscription, TopicPartition } from '../../shared/bus/types.js';
import type { Config } from '../../shared/config/load.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import type { Topics } from '../../shared/topics.js';
import { engineConfig } from './config.js';
import type { ShardResult, ShardTask } from './worker.js';

const log = componentLogger('detector');

const records = new Counter({ name: 'logwarden_detector_records_total', help: 'Access records run through the detectors', registers: [registry] });
const eventsOut = new Counter({ name: 'logwarden_detector_events_total', help: 'Security events published', labelNames: ['type'], registers: [registry] });
const decisionsOut = new Counter({ name: 'logwarden_detector_decisions_total', help: 'Block decisions published', labelNames: ['action'], registers: [registry] });
const lateRecords = new Gauge({ name: 'logwarden_detector_late_records', help: 'Records counted late (beyond late_tolerance), per shard, since start', labelNames: ['shard'], registers: [registry] });
const trackedIps = new Gauge({ name: 'logwarden_detector_tracked_ips', help: 'IPs with state inside the window, per shard', labelNames: ['shard'], registers: [registry] });
const stateBytes = new Gauge({ name: 'logwarden_detector_state_bytes', help: 'Bytes of per-IP state tables, per shard', labelNames: ['shard'], registers: [registry] });
const batchSeconds = new Histogram({
  name: 'logwarden_detector_batch_seconds',
  help: 'Time from a batch handed to the detector to its results published',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  registers: [registry],
});

export interface DetectorOptions {
  config: Config;
  bus: Bus;
  topics: Topics;
  groupId?: string;
  /** Static extra whitelist (the control plane's entries). */
  whitelist?: { ips?: string[]; cidrs?: string[]; paths?: string[] };
}

export class DetectorService {
  private readonly pools: Piscina[];
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly clocks: Array<{ eventTime: number; wall: number }>;
  private chain: Promise<void> = Promise.resolve();
  private owned = new Set<string>();
  /** Partitions being rebuilt: records below this offset were already handled by the previous owner. */
  private readonly rebuildUntil = new Map<string, bigint>();
  private resolveSub: () => void = () => undefined;
  private readonly subReady = new Promise<void>((resolve) => {
    this.resolveSub = resolve;
  });
  readonly rebuilt: Array<{ topic: string; partition: number; from: string; until: string }> = [];

  constructor(private readonly opts: DetectorOptions) {
    const shards = opts.config.detection.shards;
    const filename = new URL('./worker.js', import.meta.url).href;
    const engine = engineConfig(opts.config, opts.whitelist);
    this.pools = Array.from({ length: shards }, () => new Piscina({ filename, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, workerData: { engine } }));
    this.clocks = Array.from({ length: shards }, () => ({ eventTime: 0, wall: Date.now() }));
  }

  async start(): Promise<void> {
    const { bus, topics, config } = this.opts;
    this.sub = await bus.subscribe({
      groupId: this.groupId(),
      topics: [topics.access],
      fromBeginning: false,
      maxBatchSize: 5000,
      onBatch: (batch) => this.serialized(() => this.handle(batch)),
      onAssign: (parts) => this.onAssign(parts),
    });
    this.resolveSub();
    // An idle stream's clock follows the wall clock, so pending events flush and bans expire.
    const every = Math.max(250, Math.min(5_000, Math.floor(config.security.scan_interval_ms / 4)));
    this.timer = setInterval(() => void this.serialized(() => this.tickIdle()).catch((err: unknown) => log.error({ err }, 'tick failed')), every);
    this.timer.unref();
  }

  private groupId(): string {
    return this.opts.groupId ?? `${this.opts.config.kafka.client_id}-detector`;
  }

  /**
   * A partition new to this member (a rebalance moved it here, or this
   * process restarted) has its last window re-read from the log, silently,
   * up to the group's committed offset: the state the previous owner had is
   * rebuilt, and no attacker escapes by being split across two owners.
   */
  private async onAssign(parts: TopicPartition[]): Promise<void> {
    await this.subReady;
    const key = (p: TopicPartition): string => `${p.topic}/${p.partition}`;
    const fresh = parts.filter((p) => !this.owned.has(key(p)));
    this.owned = new Set(parts.map(key));
    for (const k of [...this.rebuildUntil.keys()]) if (!this.owned.has(k)) this.rebuildUntil.delete(k);
    if (fresh.length === 0) return;
    const { bus, config } = this.opts;
    const clock = Math.max(...this.clocks.map((c) => c.eventTime));
    const since = (clock > 0 ? clock : Date.now()) - config.security.detection_window_ms - config.detection.late_tolerance_ms;
    for (const topic of new Set(fresh.map((p) => p.topic))) {
      const committed = new Map((await bus.committedOffsets(this.groupId(), topic)).map((o) => [o.partition, BigInt(o.offset)]));
      const from = new Map((await bus.offsetsForTimestamp(topic, since)).map((o) => [o.partition, BigInt(o.offset)]));
      for (const p of fresh.filter((x) => x.topic === topic)) {
        const c = committed.get(p.partition);
        const f = from.get(p.partition);
        if (c === undefined || f === undefined || f >= c) continue;
        this.rebuildUntil.set(key(p), c);
        this.rebuilt.push({ topic, partition: p.partition, from: f.toString(), until: c.toString() });
        this.sub?.seek(topic, p.partition, f.toString());
        log.info({ topic, partition: p.partition, from: f.toString(), until: c.toString() }, 'rebuilding detector state from the last window');
      }
    }
  }

  /** Batches and ticks run one at a time, so results are published in order. */
  private serialized(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async handle(batch: IncomingBatch): Promise<void> {
    const end = batchSeconds.startTimer();
    const tp = `${batch.topic}/${batch.partition}`;
    const until = this.rebuildUntil.get(tp);
    let messages = batch.messages;
    if (until !== undefined) {
      const replayed = messages.filter((m) => BigInt(m.offset) < until);
      messages = messages.filter((m) => BigInt(m.offset) >= until);
      if (messages.length > 0 || BigInt(batch.nextOffset) >= until) this.rebuildUntil.delete(tp);
      await this.dispatch(replayed, batch.partition, true);
    }
    const results = await this.dispatch(messages, batch.partition, false);
    records.inc(messages.length);
    await this.publish(results);
    end();
  }

  private dispatch(messages: BusMessage[], stream: number, silent: boolean): Promise<Array<ShardResult | undefined>> {
    const n = this.pools.length;
    const byShard: BusMessage[][] = Array.from({ length: n }, () => []);
    for (const m of messages) byShard[m.key ? partitionForKey(m.key, n) : 0]?.push(m);
    return Promise.all(
      byShard.map((msgs, shard) => {
        if (msgs.length === 0) return Promise.resolve(undefined);
        let total = 0;
        for (const m of msgs) total += m.value.length;
        const buf = new Uint8Array(total);
        const ends = new Uint32Array(msgs.length);
        let pos = 0;
        msgs.forEach((m, i) => {
          buf.set(m.value, pos);
          pos += m.value.length;
          ends[i] = pos;
        });
        const task: ShardTask = { values: buf.buffer, ends, silent, stream };
        return this.run(shard, task, [buf.buffer, ends.buffer]);
      }),
    );
  }

  private async run(shard: number, task: ShardTask, transferList: ArrayBuffer[] = []): Promise<ShardResult> {
    const pool = this.pools[shard] as Piscina;
    const r = (await pool.run(task, { transferList })) as ShardResult;
    const clock = this.clocks[shard] as { eventTime: number; wall: number };
    if (r.now > clock.eventTime) {
      clock.eventTime = r.now;
      clock.wall = Date.now();
    }
    lateRecords.set({ shard: String(shard) }, r.stats.late);
    trackedIps.set({ shard: String(shard) }, r.stats.trackedIps);
    stateBytes.set({ shard: String(shard) }, r.stats.tableBytes);
    return r;
  }

  private async tickIdle(): Promise<void> {
    const results = await Promise.all(
      this.clocks.map((c, shard) => (c.eventTime === 0 ? Promise.resolve(undefined) : this.run(shard, { tick: c.eventTime + (Date.now() - c.wall) }))),
    );
    await this.publish(results);
  }

  private async publish(results: Array<ShardResult | undefined>): Promise<void> {
    const events: SecurityEvent[] = [];
    const decisions: BlockDecision[] = [];
    for (const r of results) {
      if (!r) continue;
      events.push(...r.events);
      decisions.push(...r.decisions);
    }
    const { bus, topics } = this.opts;
    if (events.length > 0) {
      await bus.publish(topics.events, events.map((e) => ({ key: e.ip, value: securityEventCodec.encode(e), timestamp: e.ts })));
      for (const e of events) eventsOut.inc({ type: e.type });
    }
    if (decisions.length > 0) {
      await bus.publish(topics.decisions, decisions.map((d) => ({ key: d.ip, value: blockDecisionCodec.encode(d), timestamp: d.created_at })));
      for (const d of decisions) decisionsOut.inc({ action: d.action });
      log.info({ decisions: decisions.map((d) => `${d.action} ${d.ip}`) }, 'decisions published');
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sub?.close();
    await this.serialized(async () => {
      const results = await Promise.all(this.pools.map((_, shard) => this.run(shard, { flushAll: true })));
      await this.publish(results);
    }).catch((err: unknown) => log.error({ err }, 'final flush failed'));
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}
