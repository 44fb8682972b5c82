// The detector service: a consumer group on the access topic whose batches
// are routed to single-thread shard pools by client IP; events go to the
// events topic, decisions to the compacted decisions topic (keyed by IP, so a
// re-emitted decision after a rebalance replaces itself). Offsets are
// committed only after the batch's events and decisions are published.
import { Piscina } from 'piscina';
import { Counter, Gauge, Histogram } from 'prom-client';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import type { Bus, BusMessage, IncomingBatch, Subscription } from '../../shared/bus/types.js';
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
      groupId: this.opts.groupId ?? `${config.kafka.client_id}-detector`,
      topics: [topics.access],
      fromBeginning: false,
      maxBatchSize: 5000,
      onBatch: (batch) => this.serialized(() => this.handle(batch)),
    });
    // An idle stream's clock follows the wall clock, so pending events flush and bans expire.
    const every = Math.max(250, Math.min(5_000, Math.floor(config.security.scan_interval_ms / 4)));
    this.timer = setInterval(() => void this.serialized(() => this.tickIdle()).catch((err: unknown) => log.error({ err }, 'tick failed')), every);
    this.timer.unref();
  }

  /** Batches and ticks run one at a time, so results are published in order. */
  private serialized(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async handle(batch: IncomingBatch): Promise<void> {
    const end = batchSeconds.startTimer();
    const n = this.pools.length;
    const byShard: BusMessage[][] = Array.from({ length: n }, () => []);
    for (const m of batch.messages) byShard[m.key ? partitionForKey(m.key, n) : 0]?.push(m);
    const results = await Promise.all(
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
        const task: ShardTask = { values: buf.buffer, ends };
        return this.run(shard, task, [buf.buffer, ends.buffer]);
      }),
    );
    records.inc(batch.messages.length);
    await this.publish(results);
    end();
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
