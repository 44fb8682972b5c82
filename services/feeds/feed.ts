// One blocklist feed: fetched every `refresh`, parsed, and applied as the
// difference between what the feed lists now and what it holds in force.
//
//   1. The whitelist wins: an entry that covers or overlaps a whitelisted
//      address or range (the composed whitelist, shared/control/whitelist.ts:
//      global entries and the feed's deployment's) is skipped and counted,
//      never applied.
//   2. The rest is merged (shared/ip/ranges.ts): overlapping and adjacent
//      entries become the fewest CIDR blocks, which reach the nodes as ranges.
//   3. New blocks are decisions of source feed:<name>, expiring block_duration
//      later; blocks the feed no longer lists are lifted; blocks still listed
//      are renewed once half their time has passed. Decisions travel as the
//      API's do (decisions topic → control_blocks sink → enforcers → nodes),
//      published DECISIONS_PER_PUBLISH per bus call.
//
// A fetch or parse that fails keeps the last good set in force (and renewed):
// the failure is the feed's status, a metric and a log line. At start the
// feed takes what control_blocks holds for it as applied, so a restart lifts
// only what the feed stopped listing. A whitelist change re-applies the last
// good set at once.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { FeedConfig } from '../../shared/config/types.js';
import type { ControlState } from '../../shared/control/state.js';
import type { ControlStore } from '../../shared/control/store.js';
import { composeWhitelist, type WhitelistSet } from '../../shared/control/whitelist.js';
import { LogwardenError } from '../../shared/errors.js';
import { cidrsOf, mergeIntervals, RangeIndex, type Interval } from '../../shared/ip.js';
import { componentLogger } from '../../shared/log.js';
import type { NoticePublisher } from '../../shared/notices.js';
import { registry } from '../../shared/metrics.js';
import type { BlockDecision } from '../../shared/records.js';
import { fetchSource, isUrl, type Validators } from './fetch.js';
import { parseFeed } from './parse.js';

const log = componentLogger('feeds');

const refreshes = new Counter({ name: 'logwarden_feed_refreshes_total', help: 'Feed refreshes by outcome (updated, not_modified, failed)', labelNames: ['feed', 'outcome'], registers: [registry] });
const failures = new Counter({ name: 'logwarden_feed_failures_total', help: 'Failed feed refreshes by error code (the last good set stays in force)', labelNames: ['feed', 'code'], registers: [registry] });
const entries = new Gauge({ name: 'logwarden_feed_entries', help: 'Blocks (merged ranges) a feed holds in force', labelNames: ['feed'], registers: [registry] });
const skipped = new Gauge({ name: 'logwarden_feed_whitelisted_entries', help: 'Entries of a feed skipped at its last apply because they cover a whitelisted address', labelNames: ['feed'], registers: [registry] });
const invalidLines = new Gauge({ name: 'logwarden_feed_invalid_lines', help: 'Lines of a feed\'s last good body that were not an address or CIDR (skipped)', labelNames: ['feed'], registers: [registry] });
const lastSuccess = new Gauge({
  name: 'logwarden_feed_last_success_timestamp_seconds',
  help: 'When a feed last fetched successfully (updated or not modified); the feed\'s start until then',
  labelNames: ['feed'],
  registers: [registry],
});
const interval = new Gauge({ name: 'logwarden_feed_refresh_interval_seconds', help: 'A feed\'s refresh interval', labelNames: ['feed'], registers: [registry] });
const applySeconds = new Histogram({
  name: 'logwarden_feed_apply_seconds',
  help: 'From a feed\'s body read to its difference published (parse, whitelist, merge, diff, publish)',
  labelNames: ['feed'],
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export interface FeedStatus {
  name: string;
  /** config: the config file's feeds:; api: added through the API or CLI. */
  origin: 'config' | 'api';
  source: string;
  format: 'plain' | 'csv';
  deployment: string;
  refresh_ms: number;
  block_duration_ms: number;
  /** pending: not fetched yet; ok: the last refresh succeeded; failing: it failed (the last good set stays). */
  state: 'pending' | 'ok' | 'failing';
  /** Blocks (merged ranges) in force. */
  size: number;
  /** Entries of the last good body, before the whitelist and merging. */
  listed: number;
  whitelisted: number;
  invalid_lines: number;
  last_refresh_at: number | null;
  last_success_at: number | null;
  /** When the content last changed (a body applied). */
  last_update_at: number | null;
  last_apply_ms: number | null;
  consecutive_failures: number;
  last_error: { code: string; message: string; at: number } | null;
}

interface Held {
  deployment: string;
  expiresAt: number | null;
}

export interface ApplyResult {
  added: number;
  lifted: number;
  renewed: number;
  whitelisted: number;
  size: number;
}

export class Feed {
  /** The blocks this feed holds in force, by key. */
  private readonly held = new Map<string, Held>();
  private lastGood: Interval[] | undefined;
  private validators: Validators = {};
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly st: FeedStatus;

  constructor(
    readonly config: FeedConfig,
    private readonly deps: { store: ControlStore; control: ControlState; configWhitelist: Readonly<WhitelistSet>; notices?: NoticePublisher },
    origin: 'config' | 'api' = 'config',
  ) {
    const c = config;
    this.st = {
      name: c.name, origin, source: Feed.shownSource(c.source), format: c.format, deployment: c.deployment, refresh_ms: c.refresh_ms, block_duration_ms: c.block_duration_ms,
      state: 'pending', size: 0, listed: 0, whitelisted: 0, invalid_lines: 0, last_refresh_at: null, last_success_at: null, last_update_at: null,
      last_apply_ms: null, consecutive_failures: 0, last_error: null,
    };
    interval.set({ feed: c.name }, c.refresh_ms / 1000);
    lastSuccess.set({ feed: c.name }, Date.now() / 1000);
  }

  status(): FeedStatus {
    return { ...this.st, last_error: this.st.last_error && { ...this.st.last_error } };
  }

  /** Loads what control_blocks holds for this feed, then refreshes now and every `refresh`. */
  async start(): Promise<void> {
    for (const [key, b] of await this.deps.store.feedBlocks(this.config.name)) this.held.set(key, { deployment: b.deployment, expiresAt: b.expires_at });
    this.st.size = this.held.size;
    entries.set({ feed: this.config.name }, this.held.size);
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => this.schedule(this.config.refresh_ms));
    }, ms);
    this.timer.unref();
  }

  /** One refresh (serialised with any other run of this feed). */
  refresh(): Promise<void> {
    const run = this.running.then(() => this.refreshOnce());
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Applies the last good set again (the whitelist changed). */
  reapply(): Promise<void> {
    const run = this.running.then(async () => {
      if (this.lastGood) await this.apply(this.lastGood);
    });
    this.running = run.catch((err: unknown) => log.error({ err, feed: this.config.name }, 'feed not re-applied'));
    return this.running;
  }

  private async refreshOnce(): Promise<void> {
    if (this.stopped) return;
    const c = this.config;
    const at = Date.now();
    this.st.last_refresh_at = at;
    try {
      const got = await fetchSource(c.source, this.validators, { timeoutMs: c.timeout_ms, maxBytes: c.max_size_bytes });
      if (got.notModified && this.lastGood) {
        refreshes.inc({ feed: c.name, outcome: 'not_modified' });
        await this.renew();
      } else {
        // Not modified, yet nothing held in this process: read it whole once more.
        const body = got.notModified ? await fetchSource(c.source, {}, { timeoutMs: c.timeout_ms, maxBytes: c.max_size_bytes }) : got;
        if (body.notModified) throw new Error('unconditional fetch answered not modified'); // a server bug, reported as a failure
        const t0 = performance.now();
        const parsed = parseFeed(body.body, c.format, c.column);
        const r = await this.apply(parsed.intervals);
        const ms = performance.now() - t0;
        applySeconds.observe({ feed: c.name }, ms / 1000);
        this.lastGood = parsed.intervals;
        this.validators = body.validators;
        Object.assign(this.st, { listed: parsed.intervals.length, invalid_lines: parsed.invalid, last_update_at: Date.now(), last_apply_ms: Math.round(ms) });
        invalidLines.set({ feed: c.name }, parsed.invalid);
        refreshes.inc({ feed: c.name, outcome: 'updated' });
        log.info({ feed: c.name, bytes: body.bytes, listed: parsed.intervals.length, invalid_lines: parsed.invalid, ...r, apply_ms: Math.round(ms) }, 'feed applied');
      }
      Object.assign(this.st, { state: 'ok', last_success_at: Date.now(), consecutive_failures: 0, last_error: null });
      lastSuccess.set({ feed: c.name }, Date.now() / 1000);
    } catch (err) {
      const code = err instanceof LogwardenError ? err.code : 'LW_FEED_UNREACHABLE';
      const message = (err as Error).message;
      failures.inc({ feed: c.name, code });
      refreshes.inc({ feed: c.name, outcome: 'failed' });
      this.st.state = 'failing';
      this.st.consecutive_failures++;
      this.st.last_error = { code, message, at };
      log.warn({ feed: c.name, code, err: message, kept: this.held.size }, 'feed refresh failed; its last good set stays in force');
      // Operators hear of a failing feed once per spell (notifications kind feed_failure), again only after it recovered.
      if (this.st.consecutive_failures === 1) {
        void this.deps.notices?.publish({ kind: 'feed_failure', subject: c.name, message: `${code}: ${message}`.slice(0, 500), details: { code, source: Feed.shownSource(c.source) }, ts: at, occurrence: String(at) });
      }
      await this.renew().catch((e: unknown) => log.error({ err: e, feed: c.name }, 'feed blocks not renewed'));
    }
  }

  /** The whitelist in force for this feed's blocks: the global entries and its deployment's. */
  private whitelist(): RangeIndex {
    const wl = composeWhitelist(this.deps.configWhitelist, this.deps.control);
    const dep = this.config.deployment;
    return new RangeIndex(wl.entries.filter((e) => e.deployment === '' || (dep !== '' && e.deployment === dep)).map((e) => e.value));
  }

  /** Publishes the difference between `listed` (after the whitelist and merging) and what is held. */
  async apply(listed: readonly Interval[]): Promise<ApplyResult> {
    const c = this.config;
    const wl = this.whitelist();
    const kept = wl.size === 0 ? listed : listed.filter((iv) => !wl.overlaps(iv));
    const whitelisted = listed.length - kept.length;
    const want = new Set(mergeIntervals(kept).flatMap(cidrsOf));
    const now = Date.now();
    const deployment = c.deployment;
    const decisions: BlockDecision[] = [];
    let added = 0;
    let renewed = 0;
    let lifted = 0;
    for (const [key, h] of this.held) {
      if (want.has(key) && h.deployment === deployment) continue;
      decisions.push(this.decision(key, 'unblock', now, h.deployment));
      lifted++;
    }
    for (const key of want) {
      const h = this.held.get(key);
      if (h && h.deployment === deployment) {
        if (!this.due(h, now)) continue;
        renewed++;
      } else added++;
      decisions.push(this.decision(key, 'block', now, deployment));
    }
    await this.deps.store.publishDecisions(decisions);
    for (const d of decisions) {
      if (d.action === 'block') this.held.set(d.ip, { deployment, expiresAt: d.expires_at });
      else this.held.delete(d.ip);
    }
    this.st.size = this.held.size;
    this.st.whitelisted = whitelisted;
    entries.set({ feed: c.name }, this.held.size);
    skipped.set({ feed: c.name }, whitelisted);
    if (whitelisted > 0) log.info({ feed: c.name, whitelisted }, 'feed entries covering whitelisted addresses skipped');
    return { added, lifted, renewed, whitelisted, size: this.held.size };
  }

  /** Renews the blocks held past half their time (the feed still lists them, or failed to say otherwise). */
  private async renew(): Promise<void> {
    const now = Date.now();
    const decisions: BlockDecision[] = [];
    for (const [key, h] of this.held) if (this.due(h, now)) decisions.push(this.decision(key, 'block', now, h.deployment));
    if (decisions.length === 0) return;
    await this.deps.store.publishDecisions(decisions);
    for (const d of decisions) this.held.set(d.ip, { deployment: d.deployment ?? '', expiresAt: d.expires_at });
  }

  private due(h: Held, now: number): boolean {
    return h.expiresAt !== null && h.expiresAt - now < this.config.block_duration_ms / 2;
  }

  private decision(ip: string, action: 'block' | 'unblock', now: number, deployment: string): BlockDecision {
    const c = this.config;
    return {
      ip, action, source: `feed:${c.name}`, created_at: now,
      reason: action === 'block' ? `feed ${c.name}` : `feed ${c.name}: no longer listed`,
      expires_at: action === 'block' ? now + c.block_duration_ms : null,
      deployment: deployment === '' ? null : deployment, escalation_level: 0,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Stops the feed and lifts every block it holds (the feed was removed). */
  async remove(): Promise<void> {
    await this.stop();
    const now = Date.now();
    const decisions = [...this.held].map(([key, h]) => ({ ...this.decision(key, 'unblock', now, h.deployment), reason: `feed ${this.config.name} removed` }));
    await this.deps.store.publishDecisions(decisions);
    this.held.clear();
    entries.set({ feed: this.config.name }, 0);
    log.info({ feed: this.config.name, lifted: decisions.length }, 'feed removed; its blocks lifted');
  }

  /** The source as shown: a URL without its query (which may carry an API key). */
  static shownSource(source: string): string {
    if (!isUrl(source)) return source;
    try {
      const u = new URL(source);
      return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
    } catch {
      return source;
    }
  }
}
