// A client's traffic is planned as a whole when the client appears: a list of
// requests with their times. Benign plans are built bundle by bundle (a page
// and its assets, an API poll) through a budget that keeps every window of the
// client's traffic under a fraction of each detector threshold, so "benign" is
// true by construction and not only on average.
import { pathOf, isAuthFailureStatus, type Thresholds } from './window.js';

/**
 * One planned request; the client's constant fields live in ClientSpec.
 * While it sits in a bundle that is not placed yet, `ts` is its offset from
 * the bundle's start.
 */
export interface PlanReq {
  ts: number;
  method: string;
  uri: string;
  /** pathOf(uri), what the path detectors key on. */
  path: string;
  status: number;
  bytes: number;
  referer: string;
  /** Proxied to an application (has $upstream_response_time) rather than served by nginx itself. */
  upstream: boolean;
  authUser: string;
  /** Overrides the client's user agent for this request ("" = the client's): people behind one NAT address. */
  ua: string;
  /** Overrides the client's address ("" = the client's): an attacker rotating through its /64. */
  ip: string;
  /** Overrides the client's X-Forwarded-For ("" = the client's): a CDN node relaying many visitors. */
  xff: string;
  /** Part of the attack (false for an attacker's benign-looking requests and for every benign client). */
  attack: boolean;
}

export type BundleItem = PlanReq;

export function planReq(offset: number, method: string, uri: string, status: number, bytes: number, referer: string, upstream: boolean, attack = false): PlanReq {
  return { ts: offset, method, uri, path: pathOf(uri), status, bytes, referer, upstream, authUser: '', ua: '', ip: '', xff: '', attack };
}

export interface ClientSpec {
  ip: string;
  node: string;
  host: string;
  deployment: string;
  ua: string;
  protocol: string;
  xff: string;
}

export interface BudgetLimits {
  requests: number;
  notFound: number;
  authFailures: number;
  distinctPaths: number;
  hitsPerPath: number;
}

/** A fraction of each threshold, rounded down. */
export function budgetFrom(t: Thresholds, fraction: number): BudgetLimits {
  return {
    // rate fires above its threshold, the others at it; the fraction keeps both far off.
    requests: Math.floor(t.rate_threshold * fraction),
    notFound: Math.floor(t.not_found_threshold * fraction),
    authFailures: Math.floor(t.auth_failure_threshold * fraction),
    distinctPaths: Math.floor(t.unique_paths_threshold * fraction),
    hitsPerPath: Math.floor(t.repeated_hits_threshold * fraction),
  };
}

export class BudgetError extends Error {}

/**
 * The client's recent history. `fit` finds the earliest start at which a whole
 * bundle keeps every window under the limits, counting conservatively: every
 * past request younger than one window is assumed to share a window with every
 * request of the bundle. Because each bundle is checked against everything
 * before it, every window of the final plan is covered by the check of the last
 * bundle it touches. The window's counts are kept up to date as requests enter
 * and leave it, so a check costs the size of the bundle.
 */
export class Budget {
  private readonly ts: number[] = [];
  private readonly path: string[] = [];
  private readonly status: number[] = [];
  private lo = 0;
  private notFound = 0;
  private auth = 0;
  private readonly hits = new Map<string, number>();
  // Scratch for one check: the bundle's own counts per path.
  private readonly own = new Map<string, number>();

  constructor(
    private readonly limits: BudgetLimits,
    /** Longer than the detectors' window, so a bucketed window a little wider than it still sees less than the limits. */
    private readonly windowMs: number,
  ) {}

  fit(start: number, bundle: readonly BundleItem[]): number {
    let t = start;
    for (;;) {
      this.expire(t - this.windowMs);
      if (this.fitsNow(bundle)) return t;
      if (this.lo === this.ts.length) throw new BudgetError(`a bundle of ${bundle.length} requests exceeds the benign budget on its own: ${bundle.map((b) => b.uri).join(' ')}`);
      // Wait until the oldest request that shares the window has left it.
      t = Math.max(t, (this.ts[this.lo] as number) + this.windowMs + 1);
    }
  }

  commit(ts: number, p: string, status: number): void {
    this.ts.push(ts);
    this.path.push(p);
    this.status.push(status);
    if (status === 404) this.notFound++;
    if (isAuthFailureStatus(status)) this.auth++;
    this.hits.set(p, (this.hits.get(p) ?? 0) + 1);
    if (this.lo > 256) {
      this.ts.splice(0, this.lo);
      this.path.splice(0, this.lo);
      this.status.splice(0, this.lo);
      this.lo = 0;
    }
  }

  /** Requests older than `from` leave the window. */
  private expire(from: number): void {
    while (this.lo < this.ts.length && (this.ts[this.lo] as number) < from) {
      const p = this.path[this.lo] as string;
      const s = this.status[this.lo] as number;
      const n = (this.hits.get(p) as number) - 1;
      if (n === 0) this.hits.delete(p);
      else this.hits.set(p, n);
      if (s === 404) this.notFound--;
      if (isAuthFailureStatus(s)) this.auth--;
      this.lo++;
    }
  }

  private fitsNow(bundle: readonly BundleItem[]): boolean {
    const L = this.limits;
    if (this.ts.length - this.lo + bundle.length > L.requests) return false;
    let notFound = this.notFound;
    let auth = this.auth;
    let distinct = this.hits.size;
    const own = this.own;
    own.clear();
    for (let i = 0; i < bundle.length; i++) {
      const b = bundle[i] as BundleItem;
      if (b.status === 404) notFound++;
      if (isAuthFailureStatus(b.status)) auth++;
      const p = b.path;
      const before = this.hits.get(p) ?? 0;
      const mine = (own.get(p) ?? 0) + 1;
      own.set(p, mine);
      if (before === 0 && mine === 1) distinct++;
      if (before + mine > L.hitsPerPath) return false;
    }
    return notFound <= L.notFound && auth <= L.authFailures && distinct <= L.distinctPaths;
  }
}

/** Builds one client's plan in time order; with a budget for benign clients, without for attackers. */
export class PlanBuilder {
  readonly plan: PlanReq[] = [];
  /** Time the last request was planned at. */
  last: number;

  constructor(
    start: number,
    private readonly budget: Budget | undefined,
  ) {
    this.last = start;
  }

  /** Places the bundle at `start` or later (when the budget requires); returns the time of its last request. */
  add(start: number, bundle: BundleItem[]): number {
    if (bundle.length === 0) return start;
    if (bundle.length > 1) bundle.sort((a, b) => a.ts - b.ts);
    const budget = this.budget;
    const t = budget === undefined ? start : budget.fit(start, bundle);
    for (const b of bundle) {
      b.ts += t;
      this.plan.push(b);
      budget?.commit(b.ts, b.path, b.status);
    }
    this.last = (bundle[bundle.length - 1] as BundleItem).ts;
    return this.last;
  }
}
