// Verified crawlers: a client whose user agent claims a known crawler
// (catalog.ts) is that crawler only when DNS says so, the way the crawlers'
// owners document it — the reverse (PTR) name of the address lies inside the
// owner's domain, and a forward lookup (A for IPv4, AAAA for IPv6) of that name
// returns the address again. A PTR alone proves nothing: whoever holds an
// address's reverse zone can write any name into it.
//
// How it stays out of detection's way:
// - status() answers synchronously from a cache and never waits: a claim not
//   yet verified is 'pending' (and starts the lookup in the background); the
//   detector treats a pending client as any other.
// - The cache is per address (what DNS says about an address does not depend
//   on the user agent; the verdict for a claim is read off the cached name),
//   positive and negative entries with their own TTLs, an LRU bounded by
//   max_entries.
// - Lookups are rationed by a token bucket (lookups_per_second, bursts of one
//   second's worth): over budget, the claim stays pending and a later status()
//   for it tries again. A flood of forged Googlebot user agents from many
//   addresses cannot turn into a flood of DNS queries.
// - Each query has a timeout. DNS being unavailable (timeout, SERVFAIL,
//   refused) is not a verdict: the claim stays pending and is retried after
//   unavailable_retry. Only an answer is a verdict: no PTR (NXDOMAIN, no data),
//   a name outside every crawler's domain, or a forward lookup that does not
//   return the address make the claim 'failed'.
// - Offline (backtests without DNS) nothing is looked up: a claim is
//   'unverified', and the caller says so in its report.
//
// One verifier per detector shard: shards own disjoint addresses, so their
// caches never overlap; the lookup budget is per verifier.
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge } from 'prom-client';
import type { CrawlersConfig } from '../../../shared/config/types.js';
import { normalizeIp, reverseDnsName } from '../../../shared/ip.js';
import { registry } from '../../../shared/metrics.js';
import { CrawlerCatalog, type CrawlerDef } from './catalog.js';

const lookupsTotal = new Counter({
  name: 'logwarden_detector_crawler_lookups_total',
  help: 'Crawler verifications (reverse then forward DNS of an address) by outcome: verified, failed, unavailable (DNS timed out or refused; retried later), deferred (over lookups_per_second; retried later)',
  labelNames: ['outcome'],
  registers: [registry],
});
const cacheEntries = new Gauge({ name: 'logwarden_detector_crawler_cache_entries', help: 'Addresses in the crawler verification caches', registers: [registry] });

/**
 * - `not-claimed`: the user agent claims no known crawler (or verification is off)
 * - `pending`: claims one; not verified yet (lookup under way, deferred, or DNS unavailable)
 * - `verified`: claims one, and forward-confirmed reverse DNS puts the address in its owner's domain
 * - `failed`: claims one, and DNS answered that the address is not that crawler's
 * - `unverified`: claims one, and no DNS is used (offline) or the address is not an IP
 */
export type CrawlerStatus = 'not-claimed' | 'pending' | 'verified' | 'failed' | 'unverified';

export interface CrawlerVerdict {
  status: CrawlerStatus;
  /** The crawler the user agent claims (every status but not-claimed). */
  crawler?: string;
  /** The reverse name DNS gave for the address, when it gave one (forward-confirmed when verified). */
  hostname?: string;
}

/** Most requests claim no crawler: one answer for them all, never a new object a request. */
const NOT_CLAIMED: CrawlerVerdict = Object.freeze({ status: 'not-claimed' as const });

export interface VerifiedClient {
  ip: string;
  crawler: string;
  hostname: string;
  /** Epoch ms when the verdict is looked up again. */
  expires_at: number;
}

export type LookupOutcome = 'verified' | 'failed' | 'unavailable' | 'deferred';

export interface VerifierStats {
  /** Addresses in the cache, lookups under way included. */
  entries: number;
  /** Lookups since start, by outcome (`verified`: the address is forward-confirmed in some crawler's domain). */
  lookups: Record<LookupOutcome, number>;
}

export interface VerifierOptions extends CrawlersConfig {
  /** No DNS at all: every claim is `unverified`. */
  offline?: boolean;
  /**
   * Called when a lookup ends (outside any status() call, on the event loop):
   * `verified` with the crawler whose domain holds the forward-confirmed name,
   * `failed` when the address is no crawler's, `unavailable` when DNS did not answer.
   * Lets a detector report verified crawlers without waiting for their next request.
   */
  onLookup?: (ip: string, result: { outcome: 'verified' | 'failed' | 'unavailable'; crawler?: string; hostname?: string }) => void;
}

interface Entry {
  state: 'inflight' | 'done' | 'unavailable';
  /** The forward-confirmed reverse name inside some crawler's domain; undefined: the address is no crawler's. */
  confirmed: string | undefined;
  /** The first reverse name, for the verdict's details. */
  ptr: string | undefined;
  /** Epoch ms after which the entry is looked up again (done, unavailable). */
  expires: number;
  promise: Promise<void> | undefined;
}

interface Outcome {
  kind: 'verified' | 'failed' | 'unavailable';
  confirmed?: string;
  ptr?: string;
}

// NXDOMAIN and "no such record" are answers; every other resolver error
// (ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED, ECANCELLED, ...) means DNS
// could not answer.
const ANSWERED_NO = new Set(['ENOTFOUND', 'ENODATA']);

/** Fixed-rate token bucket holding at most one second's worth. */
class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = perSecond;
    this.last = now;
  }
  take(now: number): boolean {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** Ms until take() can succeed. */
  waitMs(): number {
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.perSecond));
  }
}

export class CrawlerVerifier {
  readonly catalog: CrawlerCatalog;
  private readonly cache = new Map<string, Entry>();
  private readonly resolver: Resolver | undefined;
  private readonly bucket: TokenBucket;
  private readonly counts: Record<LookupOutcome, number> = { verified: 0, failed: 0, unavailable: 0, deferred: 0 };
  private reported = 0;
  private closed = false;

  constructor(private readonly opts: VerifierOptions) {
    this.catalog = new CrawlerCatalog(opts.enabled ? opts.extra : [], opts.enabled ? undefined : []);
    this.bucket = new TokenBucket(opts.lookups_per_second, Date.now());
    if (opts.enabled && !opts.offline) {
      // One attempt per server; bounded() caps the wait for an answer at timeout_ms.
      this.resolver = new Resolver({ timeout: opts.timeout_ms, tries: 1 });
      if (opts.resolvers.length > 0) this.resolver.setServers([...opts.resolvers]);
    }
  }

  /** Whether the user agent claims a crawler and what DNS says of it so far. Synchronous; may start a lookup. */
  status(ip: string, userAgent: string | undefined): CrawlerStatus {
    return this.check(ip, userAgent).status;
  }

  /** status() with the claimed crawler and the reverse name, for an event's details. */
  check(ip: string, userAgent: string | undefined): CrawlerVerdict {
    const crawler = this.claim(userAgent);
    if (crawler === undefined) return NOT_CLAIMED;
    if (this.resolver === undefined) return { status: 'unverified', crawler: crawler.name };
    const now = Date.now();
    let entry = this.fresh(ip, now);
    if (entry === undefined) {
      if (normalizeIp(ip) === undefined) return { status: 'unverified', crawler: crawler.name };
      entry = this.start(ip, now);
      if (entry === undefined) this.count('deferred');
    }
    return entry === undefined ? { status: 'pending', crawler: crawler.name } : this.judge(entry, crawler);
  }

  /**
   * The verdict once DNS has answered (replay, backtests): waits for a lookup
   * under way, and for the lookup budget rather than deferring. `pending` only
   * when DNS is unavailable. Never rejects.
   */
  async verify(ip: string, userAgent: string | undefined): Promise<CrawlerVerdict> {
    const crawler = this.claim(userAgent);
    if (crawler === undefined) return NOT_CLAIMED;
    if (this.resolver === undefined || normalizeIp(ip) === undefined) return { status: 'unverified', crawler: crawler.name };
    for (;;) {
      if (this.closed) return { status: 'pending', crawler: crawler.name };
      const now = Date.now();
      const entry = this.fresh(ip, now) ?? this.start(ip, now);
      if (entry === undefined) {
        await sleep(this.bucket.waitMs());
        continue;
      }
      if (entry.promise) await entry.promise;
      return this.judge(entry, crawler);
    }
  }

  /** Addresses verified as some crawler and not yet expired (for the API and dashboard). */
  verifiedClients(now = Date.now()): VerifiedClient[] {
    const out: VerifiedClient[] = [];
    for (const [ip, e] of this.cache) {
      if (e.state !== 'done' || e.confirmed === undefined || e.expires <= now) continue;
      const hostname = e.confirmed;
      const crawler = this.catalog.crawlers.find((c) => CrawlerCatalog.owns(c, hostname));
      if (crawler) out.push({ ip, crawler: crawler.name, hostname, expires_at: e.expires });
    }
    return out;
  }

  stats(): VerifierStats {
    return { entries: this.cache.size, lookups: { ...this.counts } };
  }

  /** Cancels the lookups under way (they end as unavailable) and empties the cache. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.resolver?.cancel();
    this.cache.clear();
    this.report();
  }

  private claim(userAgent: string | undefined): CrawlerDef | undefined {
    return userAgent ? this.catalog.claimed(userAgent) : undefined;
  }

  /** The cached entry for ip if it still holds (touched as recently used), else undefined. */
  private fresh(ip: string, now: number): Entry | undefined {
    const e = this.cache.get(ip);
    if (e === undefined || (e.state !== 'inflight' && e.expires <= now)) return undefined;
    this.cache.delete(ip);
    this.cache.set(ip, e);
    return e;
  }

  private judge(e: Entry, crawler: CrawlerDef): CrawlerVerdict {
    if (e.state !== 'done') return { status: 'pending', crawler: crawler.name };
    const hostname = e.confirmed ?? e.ptr;
    const verified = e.confirmed !== undefined && CrawlerCatalog.owns(crawler, e.confirmed);
    return { status: verified ? 'verified' : 'failed', crawler: crawler.name, ...(hostname === undefined ? {} : { hostname }) };
  }

  /** Starts a lookup of ip, or undefined when over budget (or closed). */
  private start(ip: string, now: number): Entry | undefined {
    if (this.closed || !this.bucket.take(now)) return undefined;
    const e: Entry = { state: 'inflight', confirmed: undefined, ptr: undefined, expires: 0, promise: undefined };
    e.promise = this.lookup(ip).then((o) => this.settle(ip, e, o));
    this.cache.delete(ip);
    this.cache.set(ip, e);
    // Evict the least recently used; an evicted lookup still settles its own entry (verify() may hold it).
    while (this.cache.size > this.opts.max_entries) this.cache.delete(this.cache.keys().next().value as string);
    this.report();
    return e;
  }

  private settle(ip: string, e: Entry, o: Outcome): void {
    this.count(o.kind);
    const ttl = o.kind === 'verified' ? this.opts.verified_ttl_ms : o.kind === 'failed' ? this.opts.failed_ttl_ms : this.opts.unavailable_retry_ms;
    e.state = o.kind === 'unavailable' ? 'unavailable' : 'done';
    e.confirmed = o.confirmed;
    e.ptr = o.ptr;
    e.expires = Date.now() + ttl;
    e.promise = undefined;
    if (this.opts.onLookup === undefined || this.closed) return;
    const hostname = o.confirmed ?? o.ptr;
    const confirmed = o.confirmed;
    const crawler = confirmed === undefined ? undefined : this.catalog.crawlers.find((c) => CrawlerCatalog.owns(c, confirmed))?.name;
    try {
      this.opts.onLookup(ip, { outcome: o.kind, ...(crawler === undefined ? {} : { crawler }), ...(hostname === undefined ? {} : { hostname }) });
    } catch {
      // The caller's callback failing must not leave the lookup's promise rejected (verify() awaits it).
    }
  }

  /** Forward-confirmed reverse DNS of ip. Never rejects. */
  private async lookup(ip: string): Promise<Outcome> {
    const resolver = this.resolver as Resolver;
    const addr = normalizeIp(ip) as string;
    let names: string[];
    try {
      // A PTR query, not resolver.reverse(): that one reports every failure as ENOTFOUND,
      // and a timed-out server must not read as "no PTR".
      names = await this.bounded(resolver.resolvePtr(reverseDnsName(addr) as string));
    } catch (err) {
      return { kind: answeredNo(err) ? 'failed' : 'unavailable' };
    }
    const ptr = names[0]?.toLowerCase().replace(/\.$/, '');
    // Only a name inside some crawler's domain is worth a forward lookup.
    const candidates = names.filter((n) => this.catalog.anyOwns(n));
    let unavailable = false;
    for (const name of candidates) {
      try {
        const forward = await this.bounded(addr.includes(':') ? resolver.resolve6(name) : resolver.resolve4(name));
        if (forward.some((a) => normalizeIp(a) === addr)) return { kind: 'verified', confirmed: name.toLowerCase().replace(/\.$/, '') };
      } catch (err) {
        if (!answeredNo(err)) unavailable = true;
      }
    }
    return { kind: unavailable ? 'unavailable' : 'failed', ...(ptr === undefined ? {} : { ptr }) };
  }

  // c-ares's own timeout runs about twice the one it is given (measured on Node 20):
  // the query's answer is awaited timeout_ms at most, whatever c-ares does after.
  private bounded<T>(query: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('DNS query timed out'), { code: 'ETIMEOUT' })), this.opts.timeout_ms);
      timer.unref();
    });
    return Promise.race([query, deadline]).finally(() => clearTimeout(timer));
  }

  private count(outcome: LookupOutcome): void {
    this.counts[outcome]++;
    lookupsTotal.inc({ outcome });
  }

  // The gauge is shared by every verifier of the process (one per shard): each reports its change.
  private report(): void {
    cacheEntries.inc(this.cache.size - this.reported);
    this.reported = this.cache.size;
  }
}

/**
 * A verifier in another thread (a detector shard) counts into that thread's
 * registry, which nothing serves. The thread's owner passes each stats() the
 * thread reports, with the one before it, to count them in this one.
 */
export function countThreadStats(previous: VerifierStats | undefined, current: VerifierStats): void {
  for (const outcome of Object.keys(current.lookups) as LookupOutcome[]) {
    const delta = current.lookups[outcome] - (previous?.lookups[outcome] ?? 0);
    if (delta > 0) lookupsTotal.inc({ outcome }, delta);
  }
  cacheEntries.inc(current.entries - (previous?.entries ?? 0));
}

function answeredNo(err: unknown): boolean {
  return ANSWERED_NO.has((err as { code?: string } | null)?.code ?? '');
}
