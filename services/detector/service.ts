// The detector service: a consumer group on the access topic whose batches
// are routed to single-thread shard pools by client IP; events go to the
// events topic, decisions to the compacted decisions topic (keyed by IP, so a
// re-emitted decision after a rebalance replaces itself). Offsets are
// committed only after the batch's events and decisions are published; a
// result the bus refuses for itself is dead-lettered with the reason.
import { hostname } from 'node:os';
import { Piscina } from 'piscina';
import { Counter, Gauge, Histogram } from 'prom-client';
import { blockDecisionCodec, crawlerVerdictCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishIsolating, refusedDeadLetter, type RefusedRecord } from '../../shared/bus/refusals.js';
import { isBusUnavailable, type Bus, type BusMessage, type IncomingBatch, type OutgoingMessage, type Subscription, type TopicPartition } from '../../shared/bus/types.js';
import type { Config } from '../../shared/config/load.js';
import { ClientKeys } from '../../shared/ip.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { BlockDecision, CrawlerVerdict, SecurityEvent } from '../../shared/records.js';
import type { RuleSet } from '../../shared/security-filter/index.js';
import { consumerGroup, type Topics } from '../../shared/topics.js';
import type { ComposedWhitelist } from '../../shared/control/whitelist.js';
import { engineConfig } from './config.js';
import { countThreadStats, type VerifierStats } from './crawlers/verify.js';
import type { ShardResult, ShardTask } from './worker.js';

const log = componentLogger('detector');

const records = new Counter({ name: 'logwarden_detector_records_total', help: 'Access records run through the detectors', registers: [registry] });
const eventsOut = new Counter({ name: 'logwarden_detector_events_total', help: 'Security events published', labelNames: ['type'], registers: [registry] });
const decisionsIn = new Counter({ name: 'logwarden_detector_decisions_learned_total', help: 'Decisions read back from the decisions topic (any source) and applied to the engines', registers: [registry] });
const decisionsOut = new Counter({ name: 'logwarden_detector_decisions_total', help: 'Block decisions published', labelNames: ['action'], registers: [registry] });
const lateRecords = new Gauge({ name: 'logwarden_detector_late_records', help: 'Records counted late (beyond late_tolerance), per shard, since start', labelNames: ['shard'], registers: [registry] });
const trackedIps = new Gauge({ name: 'logwarden_detector_tracked_ips', help: 'IPs with state inside the window, per shard', labelNames: ['shard'], registers: [registry] });
const stateBytes = new Gauge({ name: 'logwarden_detector_state_bytes', help: 'Bytes of per-IP state tables, per shard', labelNames: ['shard'], registers: [registry] });
const redelivered = new Counter({
  name: 'logwarden_detector_redelivered_skipped_total',
  help: 'Redelivered records skipped: this member had already run them and published their results (an offset commit failed)',
  registers: [registry],
});
const undecodable = new Counter({
  name: 'logwarden_detector_undecodable_total',
  help: 'Access records the shards could not decode (not detected on; the sinks dead-letter them)',
  registers: [registry],
});
const verdictsOut = new Counter({
  name: 'logwarden_detector_crawler_verdicts_total',
  help: 'Crawler verdicts published on the crawlers topic (once per address, claimed crawler and verdict; again after the verification TTL), by status; dropped: over the per-shard bound between two tasks',
  labelNames: ['status'],
  registers: [registry],
});
const heldResults = new Gauge({ name: 'logwarden_detector_held_results', help: 'Events, decisions, verdicts and dead letters waiting for a failed publish to be retried', registers: [registry] });
const refusedOut = new Counter({
  name: 'logwarden_detector_refused_total',
  help: 'Results the bus refused for themselves (over the topic size limit, unknown topic), sent to the dead-letter topic; on the dead-letter topic itself: dropped. By topic and reason',
  labelNames: ['topic', 'reason'],
  registers: [registry],
});
const batchSeconds = new Histogram({
  name: 'logwarden_detector_batch_seconds',
  help: 'Time from a batch handed to the detector to its results published',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  registers: [registry],
});

const PUBLISH_RETRY_MIN_MS = 100;
const PUBLISH_RETRY_MAX_MS = 5_000;

/** Results of a publish that failed, kept for the next attempt. */
interface Held {
  events: SecurityEvent[];
  decisions: BlockDecision[];
  verdicts: CrawlerVerdict[];
  /** Dead letters of results the bus refused. */
  letters: OutgoingMessage[];
}

export interface DetectorOptions {
  config: Config;
  bus: Bus;
  topics: Topics;
  groupId?: string;
  /** The composed whitelist (config and control plane); the config file's alone when absent. */
  whitelist?: ComposedWhitelist;
  /** The security_filter rule set the nodes run (ControlState.ruleSet()); absent: the config's levels alone. */
  securityFilter?: RuleSet | null;
}

export class DetectorService {
  private readonly pools: Piscina[];
  private sub: Subscription | undefined;
  /** Every decision, whoever made it: the engines' view of who is banned is the control plane's. */
  private decisionsSub: Subscription | undefined;
  private readonly clients: ClientKeys;
  /** Each shard's last crawler-verifier stats, to count the differences here (see countThreadStats). */
  private readonly crawlerStats: Array<VerifierStats | undefined>;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
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
  /** Per partition, the offset after the last batch whose results were published (see handle()). */
  private readonly processedUntil = new Map<string, bigint>();
  /** Results of a publish that failed, sent before anything else (see publish()). */
  private held: Held = { events: [], decisions: [], verdicts: [], letters: [] };

  constructor(private readonly opts: DetectorOptions) {
    const shards = opts.config.detection.shards;
    const filename = new URL('./worker.js', import.meta.url).href;
    const engine = opts.securityFilter === undefined ? engineConfig(opts.config, opts.whitelist) : engineConfig(opts.config, opts.whitelist, opts.securityFilter);
    const crawlers = opts.config.detection.crawlers;
    // atomics 'async': an idle shard thread's event loop runs between tasks, so its crawler
    // verifier's DNS answers arrive ('sync' parks it in Atomics.wait, and no answer ever would).
    this.pools = Array.from({ length: shards }, () => new Piscina({ filename, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, atomics: 'async', workerData: { engine, crawlers } }));
    this.crawlerStats = Array.from({ length: shards }, () => undefined);
    this.clocks = Array.from({ length: shards }, () => ({ eventTime: 0, wall: Date.now() }));
    this.clients = new ClientKeys(opts.config.detection.ipv6_client_prefix);
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
    this.decisionsSub = await bus.subscribe({
      // Every detector reads every decision (an operator's unblock, a feed's block, another
      // detector's): a group of its own, from the compacted beginning.
      groupId: `${this.groupId()}-decisions-${hostname()}-${process.pid}-${Date.now().toString(36)}`,
      topics: [topics.decisions],
      fromBeginning: true,
      onBatch: (batch) => this.serialized(() => this.learn(batch.messages)),
    });
    // An idle stream's clock follows the wall clock, so pending events flush and bans expire.
    const every = Math.max(250, Math.min(5_000, Math.floor(config.security.scan_interval_ms / 4)));
    this.timer = setInterval(() => void this.serialized(() => this.tickIdle()).catch((err: unknown) => log.error({ err }, 'tick failed')), every);
    this.timer.unref();
  }

  private groupId(): string {
    return this.opts.groupId ?? consumerGroup(this.opts.config.kafka, 'detector');
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
    // A partition that left may come back after another member moved it on: it is then rebuilt, not skipped.
    for (const k of [...this.processedUntil.keys()]) if (!this.owned.has(k)) this.processedUntil.delete(k);
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
    // Redelivered to this member after its results were published (the offset
    // commit failed: broker away, consumer restarted): the engine already
    // counted these records and their results are on the bus. Running them
    // again would count them twice and publish their events again.
    const done = this.processedUntil.get(tp);
    if (done !== undefined && messages.length > 0 && BigInt((messages[0] as BusMessage).offset) < done) {
      const fresh = messages.filter((m) => BigInt(m.offset) >= done);
      redelivered.inc(messages.length - fresh.length);
      messages = fresh;
    }
    if (until !== undefined) {
      const replayed = messages.filter((m) => BigInt(m.offset) < until);
      messages = messages.filter((m) => BigInt(m.offset) >= until);
      if (messages.length > 0 || BigInt(batch.nextOffset) >= until) this.rebuildUntil.delete(tp);
      await this.dispatch(replayed, batch.partition, true);
    }
    const results = await this.dispatch(messages, batch.partition, false);
    records.inc(messages.length);
    await this.publishHolding(results);
    this.processedUntil.set(tp, BigInt(batch.nextOffset));
    end();
  }

  /**
   * A batch's results are published before its offsets are committed. When
   * the bus is unavailable the batch must not be redelivered: the engine has
   * counted its records, and running them again would count them twice
   * (inflated events, spurious blocks). So the publish is retried here, with
   * the batch held uncommitted, until the bus is back or the service closes.
   */
  private async publishHolding(results: Array<ShardResult | undefined>): Promise<void> {
    let backoff = PUBLISH_RETRY_MIN_MS;
    for (let pending = results; ; pending = []) {
      try {
        await this.publish(pending);
        return;
      } catch (err) {
        // Closing: the offsets stay uncommitted and the next owner re-reads the batch.
        if (this.closing || !isBusUnavailable(err)) throw err;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, PUBLISH_RETRY_MAX_MS);
      }
    }
  }

  /** Hands decisions to the shards that own their clients (records and decisions are routed by the same key). */
  private async learn(messages: BusMessage[]): Promise<void> {
    const n = this.pools.length;
    const byShard: BlockDecision[][] = Array.from({ length: n }, () => []);
    for (const m of messages) {
      let d: BlockDecision;
      try {
        d = blockDecisionCodec.decode(m.value);
      } catch (err) {
        log.warn({ err, offset: m.offset }, 'undecodable decision skipped');
        continue;
      }
      byShard[partitionForKey(d.ip.includes('/') ? d.ip : this.clients.of(d.ip), n)]?.push(d);
    }
    decisionsIn.inc(messages.length);
    const results = await Promise.all(byShard.map((decisions, shard) => (decisions.length === 0 ? Promise.resolve(undefined) : this.run(shard, { decisions }))));
    await this.publishHolding(results);
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
    // A rebuild re-reads what the previous owner counted already.
    if (!task.silent && r.undecodable > 0) undecodable.inc(r.undecodable);
    lateRecords.set({ shard: String(shard) }, r.stats.late);
    if (r.crawlers) {
      countThreadStats(this.crawlerStats[shard], r.crawlers);
      this.crawlerStats[shard] = r.crawlers;
    }
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

  /**
   * Publishes what the shards drained, after anything held from a failed publish.
   * The engine emits a result once (a block sets the IP active; a flushed event
   * resets its count): re-running the records cannot bring it back. So a publish
   * the bus could not take (unavailable) keeps what it did not store here until
   * one succeeds, instead of dropping it (the batch is still redelivered, since
   * its offsets must not be committed before its results are on the bus). A
   * result the bus refuses for itself goes to the dead-letter topic with the
   * reason: held, it would be refused again and stop every result behind it.
   */
  private async publish(results: Array<ShardResult | undefined>): Promise<void> {
    const p = this.held;
    this.held = { events: [], decisions: [], verdicts: [], letters: [] };
    for (const r of results) {
      if (!r) continue;
      p.events.push(...r.events);
      p.decisions.push(...r.decisions);
      if (r.verdicts) {
        p.verdicts.push(...r.verdicts.verdicts);
        if (r.verdicts.dropped > 0) verdictsOut.inc({ status: 'dropped' }, r.verdicts.dropped);
      }
    }
    const { topics } = this.opts;
    try {
      const events = await this.send(topics.events, p.events, (e) => ({ key: e.ip, value: securityEventCodec.encode(e), timestamp: e.ts }), p.letters);
      for (const e of events) eventsOut.inc({ type: e.type });
      const decisions = await this.send(topics.decisions, p.decisions, (d) => ({ key: d.ip, value: blockDecisionCodec.encode(d), timestamp: d.created_at }), p.letters);
      for (const d of decisions) decisionsOut.inc({ action: d.action });
      if (decisions.length > 0) log.info({ decisions: decisions.map((d) => `${d.action} ${d.ip}`) }, 'decisions published');
      const verdicts = await this.send(topics.crawlers, p.verdicts, (v) => ({ key: v.ip, value: crawlerVerdictCodec.encode(v), timestamp: v.ts }), p.letters);
      for (const v of verdicts) verdictsOut.inc({ status: v.status });
      await this.sendLetters(p.letters);
    } catch (err) {
      this.hold(p);
      throw err;
    }
    heldResults.set(0);
  }

  /** Publishes `records` and resolves with those published; the ones the bus refuses become dead letters in `letters`. */
  private async send<T>(topic: string, records: T[], encode: (r: T) => OutgoingMessage, letters: OutgoingMessage[]): Promise<T[]> {
    if (records.length === 0) return [];
    const { published, refused } = await this.publishKeeping(topic, records, encode);
    for (const r of refused) {
      refusedOut.inc({ topic, reason: r.reason });
      log.error({ topic, reason: r.reason, detail: r.detail }, 'the bus refused a result; dead-lettered');
      letters.push(refusedDeadLetter(topic, r));
    }
    return published;
  }

  /** The dead letters of refused results; one the bus refuses too is dropped, counted. */
  private async sendLetters(letters: OutgoingMessage[]): Promise<void> {
    if (letters.length === 0) return;
    const topic = this.opts.topics.deadLetter;
    const { refused } = await this.publishKeeping(topic, letters, (m) => m);
    for (const r of refused) {
      refusedOut.inc({ topic, reason: r.reason });
      log.error({ topic, reason: r.reason, detail: r.detail }, 'the bus refused a dead letter too; dropped');
    }
  }

  /**
   * Publishes `records` (emptied once done); resolves with those published and
   * what the bus refused. On any other failure `records` is left with those not
   * stored, for the caller to hold, and it throws.
   */
  private async publishKeeping<T>(topic: string, records: T[], encode: (r: T) => OutgoingMessage): Promise<{ published: T[]; refused: RefusedRecord[] }> {
    const messages = records.map(encode);
    const stored = new Set<OutgoingMessage>();
    try {
      const refused = await publishIsolating(this.opts.bus, topic, messages, stored);
      const published = records.filter((_, i) => stored.has(messages[i] as OutgoingMessage));
      records.length = 0;
      return { published, refused };
    } catch (err) {
      const left = records.filter((_, i) => !stored.has(messages[i] as OutgoingMessage));
      records.length = 0;
      for (const r of left) records.push(r); // not push(...left): a flood's results can exceed the arguments a call takes
      throw err;
    }
  }

  private hold(held: Held): void {
    this.held = held;
    heldResults.set(held.events.length + held.decisions.length + held.verdicts.length + held.letters.length);
    log.warn({ events: held.events.length, decisions: held.decisions.length, verdicts: held.verdicts.length, letters: held.letters.length }, 'publish failed; results held for the next attempt');
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.decisionsSub?.close();
    await this.sub?.close();
    await this.serialized(async () => {
      const results = await Promise.all(this.pools.map((_, shard) => this.run(shard, { flushAll: true })));
      await this.publish(results);
    }).catch((err: unknown) => log.error({ err }, 'final flush failed'));
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}
