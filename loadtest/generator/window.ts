// Exact sliding-window counts per client IP: for every request, what each
// detector's signal adds up to over the window that ends at that request.
// Used to label attackers honestly (which detectors their traffic can fire)
// and by the tests that check benign clients stay under every threshold.
//
// The window is closed at both ends, [ts - window, ts], so it counts at least
// what a detector's window counts.

export interface Thresholds {
  detection_window_ms: number;
  rate_threshold: number;
  not_found_threshold: number;
  auth_failure_threshold: number;
  unique_paths_threshold: number;
  repeated_hits_threshold: number;
  auto_block_threshold: number;
}

/** The defaults of the `security:` config block (shared/config/schema.ts). */
export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({
  detection_window_ms: 120_000,
  rate_threshold: 100,
  not_found_threshold: 10,
  auth_failure_threshold: 5,
  unique_paths_threshold: 20,
  repeated_hits_threshold: 30,
  auto_block_threshold: 50,
});

/** The highest value each signal reached in any one window. */
export interface WindowPeaks {
  /** Requests (rate). */
  requests: number;
  /** 404 responses (not_found). */
  not_found: number;
  /** 401 and 403 responses, on any path: an upper bound of auth_failure, which counts them on auth routes only. */
  auth_failures: number;
  /** Distinct paths (unique_paths). */
  distinct_paths: number;
  /** Hits on the most requested path (repeated_hits). */
  hits_one_path: number;
}

export type WindowDetector = 'rate' | 'not_found' | 'auth_failure' | 'unique_paths' | 'repeated_hits';

export const WINDOW_DETECTORS: readonly WindowDetector[] = ['rate', 'not_found', 'auth_failure', 'unique_paths', 'repeated_hits'];

/** The peak of the signal a detector counts, and the threshold it fires at (rate fires above, the others at). */
export function detectorPeak(d: WindowDetector, p: WindowPeaks, t: Thresholds): { peak: number; fires: boolean; threshold: number } {
  switch (d) {
    case 'rate':
      return { peak: p.requests, threshold: t.rate_threshold, fires: p.requests > t.rate_threshold };
    case 'not_found':
      return { peak: p.not_found, threshold: t.not_found_threshold, fires: p.not_found >= t.not_found_threshold };
    case 'auth_failure':
      return { peak: p.auth_failures, threshold: t.auth_failure_threshold, fires: p.auth_failures >= t.auth_failure_threshold };
    case 'unique_paths':
      return { peak: p.distinct_paths, threshold: t.unique_paths_threshold, fires: p.distinct_paths >= t.unique_paths_threshold };
    case 'repeated_hits':
      return { peak: p.hits_one_path, threshold: t.repeated_hits_threshold, fires: p.hits_one_path >= t.repeated_hits_threshold };
  }
}

/** The path a detector keys on: the URI without its query. */
export function pathOf(uri: string): string {
  const q = uri.indexOf('?');
  return q < 0 ? uri : uri.slice(0, q);
}

export const isAuthFailureStatus = (status: number): boolean => status === 401 || status === 403;

class IpWindow {
  ts: number[] = [];
  path: string[] = [];
  status: number[] = [];
  head = 0;
  notFound = 0;
  auth = 0;
  readonly pathHits = new Map<string, number>();
  readonly peaks: WindowPeaks = { requests: 0, not_found: 0, auth_failures: 0, distinct_paths: 0, hits_one_path: 0 };
  lastTs = -Infinity;
}

export class SlidingWindowCounter {
  private readonly ips = new Map<string, IpWindow>();

  constructor(readonly windowMs: number = DEFAULT_THRESHOLDS.detection_window_ms) {}

  /** Requests of one IP must come in time order (the generator's output is sorted). */
  add(ip: string, ts: number, uri: string, status: number): void {
    let w = this.ips.get(ip);
    if (w === undefined) {
      w = new IpWindow();
      this.ips.set(ip, w);
    }
    if (ts < w.lastTs) throw new RangeError(`requests of ${ip} out of time order (${ts} after ${w.lastTs})`);
    w.lastTs = ts;
    const path = pathOf(uri);
    w.ts.push(ts);
    w.path.push(path);
    w.status.push(status);
    if (status === 404) w.notFound++;
    if (isAuthFailureStatus(status)) w.auth++;
    w.pathHits.set(path, (w.pathHits.get(path) ?? 0) + 1);

    const from = ts - this.windowMs;
    while ((w.ts[w.head] as number) < from) {
      const p = w.path[w.head] as string;
      const s = w.status[w.head] as number;
      const n = (w.pathHits.get(p) as number) - 1;
      if (n === 0) w.pathHits.delete(p);
      else w.pathHits.set(p, n);
      if (s === 404) w.notFound--;
      if (isAuthFailureStatus(s)) w.auth--;
      w.head++;
    }
    if (w.head > 1024 && w.head * 2 > w.ts.length) {
      w.ts = w.ts.slice(w.head);
      w.path = w.path.slice(w.head);
      w.status = w.status.slice(w.head);
      w.head = 0;
    }

    const pk = w.peaks;
    const hits = w.pathHits.get(path) as number;
    const inWindow = w.ts.length - w.head;
    if (inWindow > pk.requests) pk.requests = inWindow;
    if (w.notFound > pk.not_found) pk.not_found = w.notFound;
    if (w.auth > pk.auth_failures) pk.auth_failures = w.auth;
    if (w.pathHits.size > pk.distinct_paths) pk.distinct_paths = w.pathHits.size;
    if (hits > pk.hits_one_path) pk.hits_one_path = hits;
  }

  peaks(ip: string): WindowPeaks | undefined {
    const w = this.ips.get(ip);
    return w === undefined ? undefined : { ...w.peaks };
  }

  *entries(): IterableIterator<[string, WindowPeaks]> {
    for (const [ip, w] of this.ips) yield [ip, { ...w.peaks }];
  }

  get size(): number {
    return this.ips.size;
  }
}

/** Peaks of one client's own requests (sorted by ts). */
export function peaksOf(requests: Iterable<{ ts: number; uri: string; status: number }>, windowMs: number = DEFAULT_THRESHOLDS.detection_window_ms): WindowPeaks {
  const c = new SlidingWindowCounter(windowMs);
  for (const r of requests) c.add('x', r.ts, r.uri, r.status);
  return c.peaks('x') ?? { requests: 0, not_found: 0, auth_failures: 0, distinct_paths: 0, hits_one_path: 0 };
}
