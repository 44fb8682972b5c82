// One shard of a backtest: the lines of the clients hashing to it, in log
// order, through the live path's parsing and engine on the log's own clock.
// Whoever reads the log (the thread that reads it, or a worker fed by that
// thread) hands each line with the decoder of its file; finish() gives what
// the shard saw, for the report.
import type { Config } from '../../shared/config/load.js';
import { eventClient, type BlockDecision, type SecurityEvent } from '../../shared/records.js';
import type { LineDecoder } from '../../shared/access-log/decode.js';
import { engineConfig } from './config.js';
import { CrawlerVerifier, type CrawlerStatus } from './crawlers/verify.js';
import { DetectionEngine } from './engine.js';
import { GivenVerdict, InOrder } from './replay-order.js';

/** The lowest lookup budget of a replay's crawler verification (per shard). */
const REPLAY_LOOKUPS_PER_S = 1_000;

/** Ticks the engine's clock this often (in records): flushes and expiries follow the log's time. */
const TICK_EVERY = 1024;

/** What one shard saw; shards' partials merge into the report. */
export interface BacktestPartial {
  /** Lines read: the reading thread counts every line of every file, a fed shard none. */
  lines: number;
  parsed: number;
  rejected: Record<string, number>;
  rejected_sample: Record<string, string>;
  late: number;
  first: number | undefined;
  last: number | undefined;
  events: Record<string, { events: number; requests: number }>;
  perIp: Array<[string, Record<string, number>]>;
  decisions: BlockDecision[];
  claims: Array<[string, CrawlerStatus]>;
}

export class ShardRun {
  private readonly verifier: CrawlerVerifier | undefined;
  private readonly engine: DetectionEngine;
  private readonly order: InOrder;
  /** Each client that claimed a crawler, and the verdict it got. */
  private readonly claims = new Map<string, CrawlerStatus>();
  private readonly rejected: Record<string, number> = {};
  private readonly rejectedSample: Record<string, string> = {};
  private readonly events: Record<string, { events: number; requests: number }> = {};
  private readonly perIp = new Map<string, Record<string, number>>();
  private readonly decisions: BlockDecision[] = [];
  private parsed = 0;
  private detected = 0;
  private first: number | undefined;
  private last: number | undefined;

  /** `dns`: verify crawler claims with DNS (detection.crawlers); false: offline, every claim unverified. */
  constructor(
    config: Config,
    dns: boolean,
    private readonly onEvent?: (e: SecurityEvent) => void,
  ) {
    const crawlers = config.detection.crawlers;
    // A replay asks about its claims as fast as the resolver answers: the live budget (lookups a
    // second per shard) protects a resolver from a flood of new addresses, not from a backtest's few.
    this.verifier = crawlers.enabled ? new CrawlerVerifier({ ...crawlers, lookups_per_second: Math.max(crawlers.lookups_per_second, REPLAY_LOOKUPS_PER_S), offline: !dns }) : undefined;
    // The engine judges each record by the verdict the replay obtained for it (one claim check a record).
    const given = new GivenVerdict();
    this.engine = new DetectionEngine(engineConfig(config), this.verifier ? given : undefined);
    this.order = new InOrder(this.verifier, (rec, verdict) => {
      if (verdict.status !== 'not-claimed') this.claims.set(rec.client_ip, verdict.status);
      given.verdict = verdict;
      this.engine.process(rec);
      if (++this.detected % TICK_EVERY === 0) {
        this.engine.tick(this.engine.now());
        this.collect();
      }
    });
  }

  /** One raw line of this shard, read with its file's decoder. A promise when the caller must wait before the next. */
  line(raw: Buffer, decoder: LineDecoder): Promise<void> | undefined {
    const r = decoder.decode(raw, 'file', 0);
    if (!r.ok) {
      this.rejected[r.reason] = (this.rejected[r.reason] ?? 0) + 1;
      this.rejectedSample[r.reason] ??= r.detail;
      return undefined;
    }
    this.parsed++;
    this.first ??= r.record.ts;
    this.last = Math.max(this.last ?? r.record.ts, r.record.ts);
    // A claiming client's first request waits for its verdict, so a replay's verdicts
    // do not depend on how fast DNS answered (the live path goes on meanwhile).
    return this.order.offer(r.record);
  }

  /** A line over max_line_bytes, counted by the reading thread's shard. */
  tooLong(): void {
    this.rejected.too_long = (this.rejected.too_long ?? 0) + 1;
  }

  /** Detects what is held, flushes the engine, and gives what the shard saw. */
  async finish(lines: number): Promise<BacktestPartial> {
    await this.order.done();
    this.engine.tick(this.engine.now());
    this.engine.flushAll();
    this.collect();
    this.verifier?.close();
    return {
      lines,
      parsed: this.parsed,
      rejected: this.rejected,
      rejected_sample: this.rejectedSample,
      late: this.engine.stats.late,
      first: this.first,
      last: this.last,
      events: this.events,
      perIp: [...this.perIp],
      decisions: this.decisions,
      claims: [...this.claims],
    };
  }

  private collect(): void {
    const out = this.engine.drain();
    for (const e of out.events) {
      const agg = (this.events[e.detector] ??= { events: 0, requests: 0 });
      agg.events++;
      agg.requests += e.count;
      const client = eventClient(e);
      const ipAgg = this.perIp.get(client) ?? {};
      ipAgg[e.detector] = (ipAgg[e.detector] ?? 0) + e.count;
      this.perIp.set(client, ipAgg);
      this.onEvent?.(e);
    }
    this.decisions.push(...out.decisions);
  }
}
