// The detection engine: one instance owns the state of a set of client IPs
// (one shard). It runs on event time — the clock is the records' own `ts` —
// so a replayed log gives the detections live traffic gave (backtesting).
//
// Per request, in order: late check → whitelist → refused by nginx already
// (blocked_ip event, no new evidence) → window counters → the five detectors
// → signatures → security_filter WARN alerts → offence weight → auto-block.
//
// Events are aggregated per ip+detector: the first firing is emitted at once
// (count = the offending requests in the window so far), later offending
// requests are summed and flushed at most every scan_interval. A client is
// blocked when its offence weight within the window, or its decaying offence
// memory (offence-memory.ts), reaches auto_block_threshold; a repeat
// offender's ban grows by escalation_factor per level, capped. Expiries are
// decisions too.
//
// What a request weighs (in eighths, so that light requests can count a little):
// - rate and repeated_hits measure volume: only the requests beyond their
//   threshold offend, a page weighing 1 and a static asset or a revalidation
//   (304) 1/8 — a browser fetching a page and its assets is not a flood;
// - not_found, auth_failure and unique_paths are evidence: once a detector
//   fires, each offending request weighs 1 (a failed login 2), the first
//   firing bringing the window's count; a missing static asset is no scan,
//   and unique_paths counts only new paths answered with an error (a crawler's
//   or an app's distinct pages are not a scan);
// - signatures weigh what they say; a security_filter WARN 1, a BLOCK the threshold.
// Evidence (not volume) also goes into the offence memory, which reaches
// beyond the window; a failed login always does, fired or not, and so does a
// 404 on a page path new for the client.
//
// A client is an IPv4 address, or an IPv6 address's /ipv6ClientPrefix network
// (default /64: one subscriber's allocation), so an attacker rotating through
// its /64 is one client, blocked as the range.
//
// A client whose user agent claims a known crawler is asked about (crawlers/
// verify.ts, when the engine is given a verifier): a verified crawler is
// exempt from the behaviour detectors and signatures (security_filter rules
// still apply, as do an operator's blocks at nginx); a claim DNS refuted is a
// signal of its own, weighing like a failed login; until a verdict, a client is
// judged like any other.
//
// Decisions made elsewhere (an operator's unblock, a manual or feed block)
// reach the engine through applyDecision(): a lifted client starts afresh,
// and is blocked again if it keeps offending.
import { createHash } from 'node:crypto';
import type { AccessRecord, BlockDecision, SecurityEvent, SecurityEventType } from '../../shared/records.js';
import { ClientKeys } from '../../shared/ip.js';
import { CompiledWhitelist, type WhitelistSpec } from './whitelist.js';
import { Bans } from './bans.js';
import { BUCKETS, C_404, C_AUTH, C_NEWPATH, C_NEWPATH_ERR, C_OFFENCE, C_REQ, EIGHTHS, IpTable, hash32, hash64 } from './ip-table.js';
import { OffenceMemory } from './offence-memory.js';
import { compileRuleSet, type RuleSet, type SecurityFilterEngine } from '../../shared/security-filter/index.js';
import { SIGNATURE_SET_VERSION, SignatureMatcher, type Signature } from './signatures.js';

export interface EngineConfig {
  windowMs: number;
  scanIntervalMs: number;
  rateThreshold: number;
  notFoundThreshold: number;
  authFailureThreshold: number;
  uniquePathsThreshold: number;
  repeatedHitsThreshold: number;
  autoBlock: { enabled: boolean; threshold: number; durationMs: number; escalationFactor: number; maxDurationMs: number; memoryMs: number };
  /** The tier below the block: at this weight (0: off) a client is challenged for durationMs. */
  challenge: { threshold: number; durationMs: number };
  /** Records older than the newest seen minus this are counted as late and not mixed in. */
  lateToleranceMs: number;
  /** When set: this many IPs of one range banned within the window → a block of the range. */
  rangeEscalation?: { minIps: number; ipv4Prefix: number; ipv6Prefix: number } | undefined;
  /** Paths where a 403 is an authentication failure (a 401 always is). */
  authPaths: RegExp;
  /** Successful requests for these are not counted as new paths (a page's assets are not a scan). */
  staticAssets: RegExp | undefined;
  whitelist: WhitelistSpec;
  /** Each deployment's own whitelist, beside the global one. */
  deploymentWhitelist: Readonly<Record<string, WhitelistSpec>>;
  signatures: readonly Signature[];
  /** security_filter rules, evaluated on requests nginx did not judge itself (nodes without the Lua module). */
  securityFilter?: RuleSet | undefined;
  /** Half-life of the offence memory; 0 turns it off (the window alone decides). */
  offenceHalfLifeMs: number;
  /** IPv6 clients are counted and blocked per network of this prefix length (128: per address). */
  ipv6ClientPrefix: number;
  /** Initial IP table size (it grows). */
  capacity?: number;
}

/** What the engine asks of a crawler verifier (crawlers/verify.ts, or its reporter crawlers/report.ts): synchronous, from its cache. */
export interface CrawlerCheck {
  check(ip: string, userAgent: string, deployment?: string): { status: 'not-claimed' | 'pending' | 'verified' | 'failed' | 'unverified'; crawler?: string; hostname?: string };
}

export type { WhitelistSpec };

export interface EngineOutput {
  events: SecurityEvent[];
  decisions: BlockDecision[];
}

export interface EngineStats {
  records: number;
  late: number;
  whitelisted: number;
  trackedIps: number;
  tableBytes: number;
  activeBlocks: number;
}

const RATE = 1;
const NOT_FOUND = 2;
const AUTH = 4;
const UNIQUE = 8;
const REPEATED = 16;

interface Pending {
  ip: string;
  detector: string;
  type: SecurityEventType;
  deployment: string;
  count: number;
  firstTs: number;
  lastTs: number;
  lastFlush: number;
  samples: string[];
  details: Record<string, string>;
  /** The latest offending request: its country and AS go into the event. */
  last: AccessRecord;
}

/** A failed login weighs twice a 404: five of them in a burst are a threshold crossing worth 10 points. */
const AUTH_WEIGHT = 2 * EIGHTHS;
/** A static asset or a revalidation (304) weighs an eighth of a page in volume detectors. */
const LIGHT = 1;
const WHOLE = EIGHTHS;
/** A missing new page from a client that found none in the window (see detect). */
const PROBE_WEIGHT = 2 * EIGHTHS;
/** A request from a client whose crawler claim DNS refuted weighs like a failed login. */
const FAKE_CRAWLER_WEIGHT = 2 * EIGHTHS;

const SAMPLE_PATHS = 5;
/** What security_filter adds to most requests (nothing), or a WARN: shared, not a new object a request. */
const FILTER_NONE = Object.freeze({ weight: 0, block: false });
const FILTER_WARN = Object.freeze({ weight: WHOLE, block: false });

/** Events of requests nginx refused already (blocked_by), and challenge outcomes: recorded, never a reason to block. */
const NO_EVIDENCE = /^(blocklist|rate_limit|policy:|challenge:)/;

export class DetectionEngine {
  private readonly table: IpTable;
  private readonly bucketMs: number;
  private readonly matcher: SignatureMatcher;
  private readonly filter: SecurityFilterEngine | undefined;
  private readonly whitelist: CompiledWhitelist;
  private readonly deploymentWhitelist = new Map<string, CompiledWhitelist>();
  private readonly pending = new Map<string, Pending>();
  private readonly bans: Bans;
  private readonly memory: OffenceMemory;
  /** Address → client: the address, or its IPv6 network. */
  private readonly clients: ClientKeys;
  private out: EngineOutput = { events: [], decisions: [] };
  private watermark = 0;
  /**
   * Newest event time per input stream (a bus partition). Lateness is judged
   * per stream: partitions of a backlog are read one after another, and one
   * partition far ahead must not make another's records late.
   */
  private readonly streams = new Map<number, number>();
  /** Oldest watermark among streams active within an hour of the newest: slots older than its window may be reused. */
  private reuseClock = 0;
  private sinceReuseClock = 0;
  readonly stats = { records: 0, late: 0, whitelisted: 0 };

  constructor(
    private readonly cfg: EngineConfig,
    /** Verifies crawler claims; without one, every client is judged by its behaviour. */
    private readonly crawlers?: CrawlerCheck,
  ) {
    this.bucketMs = Math.max(1, Math.floor(cfg.windowMs / BUCKETS));
    this.table = new IpTable(cfg.capacity ?? 65_536);
    this.memory = new OffenceMemory(cfg.offenceHalfLifeMs);
    this.bans = new Bans(cfg, (d) => this.out.decisions.push(d));
    this.clients = new ClientKeys(cfg.ipv6ClientPrefix);
    this.matcher = new SignatureMatcher(cfg.signatures);
    this.filter = cfg.securityFilter ? compileRuleSet(cfg.securityFilter) : undefined;
    this.whitelist = new CompiledWhitelist(cfg.whitelist);
    for (const [dep, spec] of Object.entries(cfg.deploymentWhitelist)) this.deploymentWhitelist.set(dep, new CompiledWhitelist(spec));
  }

  /** The engine's clock: the newest event time seen (or pushed by `tick`). */
  now(): number {
    return this.watermark;
  }

  private whitelisted(rec: AccessRecord): boolean {
    return this.whitelist.has(rec) || (this.deploymentWhitelist.get(rec.deployment)?.has(rec) ?? false);
  }

  process(rec: AccessRecord, stream = 0): void {
    this.stats.records++;
    const wm = this.streams.get(stream) ?? 0;
    if (rec.ts > wm) {
      this.streams.set(stream, rec.ts);
      if (rec.ts > this.watermark) this.watermark = rec.ts;
    } else if (rec.ts < wm - this.cfg.lateToleranceMs) {
      this.stats.late++;
      return;
    }
    if (++this.sinceReuseClock >= 1024 || this.reuseClock === 0) this.updateReuseClock();
    if (this.whitelisted(rec)) {
      this.stats.whitelisted++;
      return;
    }
    const ip = this.clients.of(rec.client_ip);
    // The challenge's outcome at nginx (lua/logwarden/challenge.lua): served, passed or failed is an
    // event; a client held at the page was refused, no evidence; one that passed is judged on.
    const outcome = rec.extra.logwarden_challenge;
    if (outcome === 'issued' || outcome === 'failed' || outcome === 'passed') {
      this.aggregate(ip, `challenge:${outcome}`, 'challenge', rec, 1, true, { outcome, by: rec.blocked_by ?? '' });
    }
    if (rec.blocked_by?.startsWith('challenge:')) return;
    // A protected route's 401 ("route:<id>") is a failed login, the evidence auth_failure counts, not a refusal.
    if (rec.blocked_by && !rec.blocked_by.startsWith('route:')) {
      // nginx refused it already: the block works; record it, but it is no new evidence. The
      // Lua module names its refusals "blocklist", "filter:<id>", "policy:<kind>", "rate_limit";
      // a bare name (an older module, or another source) is taken as a filter rule id.
      const by = rec.blocked_by;
      const detector = by === 'blocklist' || by === 'rate_limit' || by.startsWith('filter:') || by.startsWith('policy:') ? by : `filter:${by}`;
      this.aggregate(ip, detector, by === 'rate_limit' ? 'rate_limited' : 'blocked_ip', rec, 1, false);
      return;
    }
    const bucket = Math.floor(rec.ts / this.bucketMs);
    const [hi, lo] = hash64(ip);
    const t = this.table;
    const slot = t.slotFor(hi, lo, Math.floor(Math.min(this.reuseClock, rec.ts) / this.bucketMs));
    if (!t.advance(slot, bucket)) {
      this.stats.late++;
      return;
    }
    const claim = this.crawlers?.check(rec.client_ip, rec.user_agent, rec.deployment);
    const { offence, evidence, filterBlock } =
      claim?.status === 'verified' ? this.verifiedCrawler(ip, rec) : this.detect(ip, slot, bucket, rec, claim?.status === 'failed' ? claim.crawler : undefined);
    if (offence > 0) t.add(slot, bucket, C_OFFENCE, Math.min(offence, 0xffff));
    const remembered = this.memory.add(hi, lo, rec.ts, evidence);
    const a = this.cfg.autoBlock;
    if ((offence > 0 || evidence > 0) && a.enabled && !this.bans.isBlocked(ip, rec.ts)) {
      const weight = t.sum(slot, C_OFFENCE);
      const limit = a.threshold * EIGHTHS;
      if (weight >= limit) this.block(ip, rec, `offence weight ${Math.floor(weight / EIGHTHS)} ≥ ${a.threshold} within ${Math.round(this.cfg.windowMs / 1000)}s`, filterBlock ? 'filter' : 'auto');
      else if (remembered >= limit) this.block(ip, rec, `offence memory ${Math.floor(remembered / EIGHTHS)} ≥ ${a.threshold} (half-life ${Math.round(this.cfg.offenceHalfLifeMs / 60_000)}m)`, 'auto');
      else if (this.cfg.challenge.threshold > 0 && Math.max(weight, remembered) >= this.cfg.challenge.threshold * EIGHTHS && !this.bans.isChallenged(ip, rec.ts)) {
        this.bans.challenge(ip, rec.ts, `auto: offence weight ${Math.floor(Math.max(weight, remembered) / EIGHTHS)} ≥ challenge threshold ${this.cfg.challenge.threshold}`, this.cfg.challenge.durationMs);
      }
    }
  }

  /** A verified crawler: only the security_filter rules judge it. */
  private verifiedCrawler(ip: string, rec: AccessRecord): { offence: number; evidence: number; filterBlock: boolean } {
    const filter = this.filterOutcome(ip, rec);
    return { offence: filter.weight, evidence: filter.weight, filterBlock: filter.block };
  }

  /** The detectors on one request: events, and what it weighs (eighths) in the window (offence) and in the memory (evidence). */
  private detect(ip: string, slot: number, bucket: number, rec: AccessRecord, fakeCrawler?: string): { offence: number; evidence: number; filterBlock: boolean } {
    const t = this.table;
    const cfg = this.cfg;
    // offence: what the request weighs in the window; evidence: what weighs in both the window and
    // the memory; remembered: what only the memory takes (a failed login, fired or not).
    let offence = 0;
    let evidence = 0;
    let remembered = 0;
    const assetPath = cfg.staticAssets !== undefined && cfg.staticAssets.test(rec.path);
    const weight = rec.status === 304 || (assetPath && rec.status < 400) ? LIGHT : WHOLE;

    // rate: every request counts (a light one an eighth); the requests beyond the threshold offend.
    t.add(slot, bucket, C_REQ, weight);
    const requests = t.sum(slot, C_REQ) / EIGHTHS;
    if (requests > cfg.rateThreshold) {
      this.fire(ip, slot, RATE, 'rate', 'rate_limited', rec, Math.floor(requests), { requests: String(Math.floor(requests)) });
      offence += weight;
    } else this.unfire(slot, RATE);

    // not_found: a missing static asset (a broken image link on a page) never makes it fire; but once a
    // client floods 404s, its missing assets weigh as its missing pages (no discount for the images).
    if (rec.status === 404 && !assetPath) {
      t.add(slot, bucket, C_404);
      const n = t.sum(slot, C_404);
      if (n >= cfg.notFoundThreshold) evidence += this.fire(ip, slot, NOT_FOUND, 'not_found', 'suspicious', rec, n, { not_found: String(n) }) * WHOLE;
    } else if ((t.flags[slot] as number) & NOT_FOUND) {
      if (t.sum(slot, C_404) < cfg.notFoundThreshold) this.unfire(slot, NOT_FOUND);
      else if (rec.status === 404) evidence += WHOLE;
    }

    // auth_failure: a 401 anywhere, a 403 on an authentication path. Every failure is remembered.
    if (rec.status === 401 || (rec.status === 403 && cfg.authPaths.test(rec.path))) {
      t.add(slot, bucket, C_AUTH);
      const n = t.sum(slot, C_AUTH);
      if (n >= cfg.authFailureThreshold) offence += this.fire(ip, slot, AUTH, 'auth_failure', 'auth_failed', rec, n, { failures: String(n) }) * AUTH_WEIGHT;
      remembered += AUTH_WEIGHT;
    } else if ((t.flags[slot] as number) & AUTH && t.sum(slot, C_AUTH) < cfg.authFailureThreshold) this.unfire(slot, AUTH);

    // unique_paths and repeated_hits. A page's successful assets are neither a scan nor
    // tracked per path (they would crowd the small path table); floods of them still count as rate.
    if (!(assetPath && rec.status < 400)) {
      const { hits, isNew } = t.hitPath(slot, hash32(rec.path), bucket);
      if (isNew) {
        const miss = rec.status >= 400;
        t.add(slot, bucket, C_NEWPATH);
        if (miss) t.add(slot, bucket, C_NEWPATH_ERR);
        const d = t.sum(slot, C_NEWPATH);
        if (d >= cfg.uniquePathsThreshold) {
          const first = !((t.flags[slot] as number) & UNIQUE);
          this.fire(ip, slot, UNIQUE, 'unique_paths', 'scan_detected', rec, d, { distinct_paths: String(d) });
          evidence += (first ? t.sum(slot, C_NEWPATH_ERR) : miss ? 1 : 0) * WHOLE;
        } else if (rec.status === 404) {
          // A missing page this client had not asked for is remembered even when no detector fires: a
          // scanner probing a few paths a minute never fills a window, but adds up here (a reload of a
          // broken link is no new path). Double from a client whose window holds no page it found (it
          // only probes; a crawler or a person meeting dead links finds pages between them), less what
          // not_found's firing already counted for this request.
          const weight = t.sum(slot, C_NEWPATH) === t.sum(slot, C_NEWPATH_ERR) ? PROBE_WEIGHT : WHOLE;
          remembered += (t.flags[slot] as number) & NOT_FOUND ? weight - WHOLE : weight;
        }
      } else if ((t.flags[slot] as number) & UNIQUE && t.sum(slot, C_NEWPATH) < cfg.uniquePathsThreshold) this.unfire(slot, UNIQUE);
      if (!isNew && hits >= cfg.repeatedHitsThreshold) {
        this.fire(ip, slot, REPEATED, 'repeated_hits', 'suspicious', rec, hits, { path: rec.path, hits: String(hits) });
        offence += weight;
      }
    }

    // Signatures: every hit is evidence, weighted.
    const rawPath = rec.extra.path_raw ?? rec.path;
    let sigs = this.matcher.match(rec.user_agent, rawPath, rec.query);
    if (rec.extra.traversal === '1' && !sigs.some((s) => s.id === 'traversal')) {
      const trav = this.cfg.signatures.find((s) => s.id === 'traversal');
      if (trav) sigs = [...sigs, trav];
    }
    for (const sig of sigs) {
      this.aggregate(ip, `signature:${sig.id}`, sig.type, rec, 1, true, { signature: sig.id, description: sig.description, signature_set: SIGNATURE_SET_VERSION });
      evidence += (sig.weight === 'block' ? cfg.autoBlock.threshold : sig.weight) * WHOLE;
    }

    if (fakeCrawler !== undefined) {
      this.aggregate(ip, 'fake_crawler', 'suspicious', rec, 1, true, { claimed: fakeCrawler });
      evidence += FAKE_CRAWLER_WEIGHT;
    }

    const filter = this.filterOutcome(ip, rec);
    evidence += filter.weight;
    return { offence: offence + evidence, evidence: evidence + remembered, filterBlock: filter.block };
  }

  /** security_filter: a WARN nginx reported, or, where nginx runs without the Lua module (it judged nothing), the same rules evaluated here. */
  private filterOutcome(ip: string, rec: AccessRecord): { weight: number; block: boolean } {
    if (rec.filter_alert) {
      this.aggregate(ip, `filter:${rec.filter_alert}`, 'suspicious', rec, 1, true, { rule: rec.filter_alert, action: 'WARN' });
      return FILTER_WARN;
    }
    if (!this.filter) return FILTER_NONE;
    const outcome = this.filter.evaluateRecord(rec);
    if ((outcome.action === 'warn' || outcome.action === 'challenge') && outcome.rule_id) {
      // A CHALLENGE rule needs the Lua module to answer: where nginx did not judge, it weighs as a WARN.
      this.aggregate(ip, `filter:${outcome.rule_id}`, 'suspicious', rec, 1, true, { rule: outcome.rule_id, action: outcome.action.toUpperCase() });
      return FILTER_WARN;
    }
    if (outcome.action === 'block' && outcome.rule_id) {
      // The edge could not refuse it: a BLOCK rule's client is blocked by address instead.
      this.aggregate(ip, `filter:${outcome.rule_id}`, 'blocked_ip', rec, 1, true, { rule: outcome.rule_id, action: 'BLOCK', status: String(outcome.status ?? 403) });
      return { weight: this.cfg.autoBlock.threshold * WHOLE, block: true };
    }
    return FILTER_NONE;
  }

  private updateReuseClock(): void {
    this.sinceReuseClock = 0;
    let min = Infinity;
    for (const wm of this.streams.values()) if (this.watermark - wm < 3_600_000 && wm < min) min = wm;
    this.reuseClock = min === Infinity ? this.watermark : min;
  }

  /** Marks a detector firing for the slot; returns the offence weight this request adds. */
  private fire(ip: string, slot: number, bit: number, detector: string, type: SecurityEventType, rec: AccessRecord, windowCount: number, details: Record<string, string>): number {
    const flags = this.table.flags[slot] as number;
    if (flags & bit) {
      this.aggregate(ip, detector, type, rec, 1, false, details);
      return 1;
    }
    this.table.flags[slot] = flags | bit;
    // First firing: emitted at once, with every offending request of the window so far.
    this.aggregate(ip, detector, type, rec, windowCount, true, details);
    return windowCount;
  }

  private unfire(slot: number, bit: number): void {
    const flags = this.table.flags[slot] as number;
    if (flags & bit) this.table.flags[slot] = flags & ~bit;
  }

  private aggregate(ip: string, detector: string, type: SecurityEventType, rec: AccessRecord, count: number, flushNow: boolean, details: Record<string, string> = {}): void {
    const key = `${ip}\u0000${detector}`;
    let p = this.pending.get(key);
    if (!p) {
      p = { ip, detector, type, deployment: rec.deployment, count: 0, firstTs: rec.ts, lastTs: rec.ts, lastFlush: -Infinity, samples: [], details: {}, last: rec };
      this.pending.set(key, p);
    }
    if (p.count === 0) p.firstTs = rec.ts;
    p.count += count;
    p.lastTs = rec.ts;
    p.last = rec;
    p.details = details;
    if (p.samples.length < SAMPLE_PATHS && !p.samples.includes(rec.path)) p.samples.push(rec.path);
    // At once on a first firing; otherwise at most every scan_interval.
    if (flushNow && rec.ts - p.lastFlush >= this.cfg.scanIntervalMs) this.flushOne(key, p);
  }

  private flushOne(key: string, p: Pending): void {
    if (p.count === 0) return;
    const windowStart = Math.max(p.firstTs, p.lastTs - this.cfg.windowMs);
    // An IPv6 network client's events carry its network address, the prefix in the details.
    const cut = p.ip.indexOf('/');
    this.out.events.push({
      id: createHash('sha256').update(`${key}\u0000${p.firstTs}\u0000${p.lastTs}`).digest('hex').slice(0, 32),
      ts: p.lastTs,
      type: p.type,
      detector: p.detector,
      ip: cut < 0 ? p.ip : p.ip.slice(0, cut),
      deployment: p.deployment,
      count: p.count,
      window_start: windowStart,
      window_end: p.lastTs,
      sample_paths: p.samples,
      details: cut < 0 ? p.details : { ...p.details, client_prefix: p.ip.slice(cut + 1) },
      country: p.last.country, asn: p.last.asn ?? null, as_org: p.last.as_org ?? null,
    });
    p.count = 0;
    p.samples = [];
    p.lastFlush = p.lastTs;
  }

  private block(ip: string, rec: AccessRecord, why: string, source: 'auto' | 'filter'): void {
    // The detectors behind it; requests nginx refused already are no evidence, so not a reason.
    const fired = [...this.pending.values()]
      .filter((p) => p.ip === ip && p.lastTs >= rec.ts - this.cfg.windowMs && !NO_EVIDENCE.test(p.detector))
      .map((p) => p.detector);
    this.bans.block(ip, rec.ts, `${source}: ${why} (${[...new Set(fired)].sort().join(', ')})`, source);
  }

  /**
   * A decision from the decisions topic, whoever made it (this engine, another
   * detector, an operator, a feed). A block marks the client banned; an unblock
   * lifts it, and the client's offences start afresh, so one that keeps
   * offending is blocked again. The ban history (escalation) is kept.
   */
  applyDecision(d: BlockDecision): void {
    // A decision on one IPv6 address is about its client, the network.
    const ip = d.ip.includes('/') ? d.ip : this.clients.of(d.ip);
    if (!this.bans.learn(ip, d)) return;
    // What it did before is told (its pending events flushed) and forgotten: a new block's
    // reason names only what it does from now on.
    for (const [key, p] of this.pending) {
      if (p.ip !== ip) continue;
      this.flushOne(key, p);
      this.pending.delete(key);
    }
    const [hi, lo] = hash64(ip);
    const slot = this.table.find(hi, lo, Math.floor(this.watermark / this.bucketMs));
    if (slot >= 0) this.table.clear(slot);
    this.memory.clear(hi, lo);
  }

  /**
   * Moves the clock to `now` (event time; an idle stream's clock follows the
   * wall clock from its last record): flushes aggregates due by scan_interval,
   * emits expiries, forgets what left every window.
   */
  tick(now: number): void {
    if (now > this.watermark) this.watermark = now;
    for (const [key, p] of this.pending) {
      if (p.count > 0 && now - p.lastFlush >= this.cfg.scanIntervalMs) this.flushOne(key, p);
      else if (p.count === 0 && now - p.lastTs > this.cfg.windowMs) this.pending.delete(key);
    }
    this.bans.tick(now);
  }

  /** Flushes every pending aggregate (end of a replay, shutdown). */
  flushAll(): void {
    for (const [key, p] of this.pending) this.flushOne(key, p);
  }

  /** Events and decisions produced since the last drain. */
  drain(): EngineOutput {
    const out = this.out;
    this.out = { events: [], decisions: [] };
    return out;
  }

  snapshot(): EngineStats {
    return { ...this.stats, trackedIps: this.table.live, tableBytes: this.table.bytes() + this.memory.bytes(), activeBlocks: this.bans.size };
  }
}
