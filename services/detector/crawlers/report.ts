// Crawler verdicts leave the detector: each shard wraps its verifier
// (verify.ts) in a VerdictReporter, which the engine asks instead, and whose
// verdicts the service publishes on the crawlers topic (CrawlerVerdict,
// shared/records.ts) for the sink to store in crawler_verdicts.
//
// Once, not per request:
// - Only verdicts are reported: `verified` and `failed`, never a claim still
//   pending or unverified (offline).
// - A verdict is reported once per address and claimed crawler, and again
//   only when it changes (status or DNS name) or when the verifier's own TTL
//   for it (verified_ttl, failed_ttl) has passed since it was reported: by
//   then the verifier has looked the address up anew, and the report renews
//   the stored verdict's time (first_ts keeps when it was first reached).
// - What was reported is remembered per address and crawler, at most
//   max_entries pairs (the verifier's cache size); past it, the oldest eighth
//   of the reports is forgotten at once (see trim()).
// - A claim that is pending when its request is judged is remembered
//   (bounded the same way) and reported when the verifier's lookup ends, not
//   at the client's next request: a client that sent one request still gets
//   its verdict stored.
// Forged user agents cannot flood the topic: a new verdict needs a DNS
// lookup, which the verifier rations (lookups_per_second); the outbox between
// two drains holds at most max_entries verdicts, and counts what it drops.
import type { CrawlerVerdict as VerdictRecord } from '../../../shared/records.js';
import type { CrawlerVerdict } from './verify.js';

/** What the reporter asks of a verifier: CrawlerVerifier.check. */
export interface VerdictSource {
  check(ip: string, userAgent: string | undefined): CrawlerVerdict;
}

export interface ReporterOptions {
  /** Address and crawler pairs remembered (as reported, and as pending). */
  max_entries: number;
  /** The same verified verdict is reported again after this long. */
  verified_ttl_ms: number;
  /** The same failed verdict is reported again after this long. */
  failed_ttl_ms: number;
}

interface Reported {
  status: 'verified' | 'failed';
  hostname: string | undefined;
  first: number;
  at: number;
}

export class VerdictReporter {
  private readonly reported = new Map<string, Reported>();
  /** ip → the claims waiting for its lookup, by crawler. */
  private readonly pending = new Map<string, Map<string, { userAgent: string; deployment: string | undefined }>>();
  private outbox: VerdictRecord[] = [];
  private dropped = 0;

  constructor(
    private readonly source: VerdictSource,
    private readonly opts: ReporterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** The verifier's verdict on a request's claim (what the engine asks); a new verdict is queued for publishing. */
  check(ip: string, userAgent: string | undefined, deployment?: string): CrawlerVerdict {
    const v = this.source.check(ip, userAgent);
    if (v.status !== 'not-claimed' && userAgent !== undefined) this.observe(ip, userAgent, deployment, v);
    return v;
  }

  /** Call when the verifier's lookup of ip ended (its onLookup): the claims that waited for it are judged now. */
  settled(ip: string): void {
    const claims = this.pending.get(ip);
    if (claims === undefined) return;
    this.pending.delete(ip);
    for (const c of claims.values()) this.observe(ip, c.userAgent, c.deployment, this.source.check(ip, c.userAgent));
  }

  /** The verdicts queued since the last drain, and how many the bound dropped meanwhile. */
  drain(): { verdicts: VerdictRecord[]; dropped: number } {
    const out = { verdicts: this.outbox, dropped: this.dropped };
    this.outbox = [];
    this.dropped = 0;
    return out;
  }

  private observe(ip: string, userAgent: string, deployment: string | undefined, v: CrawlerVerdict): void {
    const crawler = v.crawler;
    if (crawler === undefined) return;
    if (v.status === 'pending') {
      this.remember(ip, crawler, userAgent, deployment);
      return;
    }
    if (v.status !== 'verified' && v.status !== 'failed') return;
    const key = `${ip} ${crawler}`;
    const now = this.now();
    const last = this.reported.get(key);
    const same = last !== undefined && last.status === v.status && last.hostname === v.hostname;
    if (same && now - last.at < (v.status === 'verified' ? this.opts.verified_ttl_ms : this.opts.failed_ttl_ms)) return;
    const first = same ? last.first : now;
    this.reported.delete(key);
    this.reported.set(key, { status: v.status, hostname: v.hostname, first, at: now });
    trim(this.reported, this.opts.max_entries);
    if (this.outbox.length >= this.opts.max_entries) {
      this.dropped++;
      return;
    }
    const dep = deployment === undefined || deployment === '' ? null : deployment;
    this.outbox.push({ ip, crawler, hostname: v.hostname ?? null, status: v.status, ts: now, first_ts: first, deployment: dep });
  }

  private remember(ip: string, crawler: string, userAgent: string, deployment: string | undefined): void {
    let claims = this.pending.get(ip);
    if (claims === undefined) {
      claims = new Map();
      this.pending.set(ip, claims);
      trim(this.pending, this.opts.max_entries);
    }
    if (!claims.has(crawler)) claims.set(crawler, { userAgent, deployment });
  }
}

/**
 * Past `max` entries, forgets the oldest eighth at once. One at a time
 * (keys().next() on every insert) costs a scan over the deleted slots at the
 * front of the Map each time: tens of microseconds per request at 100k entries
 * under a forged flood (measured, loadtest/crawler-verdicts.bench.ts).
 */
function trim(map: Map<string, unknown>, max: number): void {
  if (map.size <= max) return;
  let n = map.size - Math.max(1, Math.floor((max * 7) / 8));
  for (const key of map.keys()) {
    map.delete(key);
    if (--n <= 0) break;
  }
}
