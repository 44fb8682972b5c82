// Attackers of the harder corpus (`mix: 'hard'`): the paces the classic kinds
// (attacks.ts, fast and sustained over one window) never show. A scanner
// that pauses minutes between bursts, a brute forcer at one try every ten
// seconds, a scanner at a few probes a minute, a scanner rotating through the
// addresses of its IPv6 /64, and a client forging a search crawler's user
// agent from an address whose DNS is not the crawler's. None is tuned to the
// detector: each is what such a tool does at such a pace, and whether it is
// caught is what the evaluation (loadtest/detection-eval.bench.ts) measures.
import type { Rng } from './prng.js';
import { PlanBuilder, type PlanReq } from './plan.js';
import { BROWSER_UAS, NODES, SITES, WEB_SITES } from './sites.js';
import { EXISTING, NGINX_404_BYTES, SCAN_PATHS, notFoundBytes, paced, req, type AttackPlan } from './attacks.js';
import { CRAWLER_OWNERS } from './ip-space.js';

export type PacedAttackKind = 'fake_crawler' | 'bursty_scanner' | 'slow_brute_force' | 'slow_scanner' | 'ipv6_rotating';

export const PACED_ATTACK_KINDS: readonly PacedAttackKind[] = ['fake_crawler', 'bursty_scanner', 'slow_brute_force', 'slow_scanner', 'ipv6_rotating'];

/** Detector names as SecurityEvent.detector spells them (see attacks.ts PRIMARY_DETECTORS). */
export const PACED_PRIMARY_DETECTORS: Readonly<Record<PacedAttackKind, readonly string[]>> = {
  fake_crawler: ['fake_crawler'],
  bursty_scanner: ['not_found', 'unique_paths'],
  slow_brute_force: ['auth_failure'],
  slow_scanner: ['not_found', 'unique_paths'],
  ipv6_rotating: ['not_found', 'unique_paths'],
};

/** The longest each kind lasts, so that it is over before the run is. */
export const PACED_MAX_MS: Readonly<Record<PacedAttackKind, number>> = {
  fake_crawler: 40 * 60_000,
  bursty_scanner: 50 * 60_000,
  slow_brute_force: 15 * 60_000,
  slow_scanner: 25 * 60_000,
  ipv6_rotating: 4 * 60_000,
};

export function isPacedKind(kind: string): kind is PacedAttackKind {
  return (PACED_ATTACK_KINDS as readonly string[]).includes(kind);
}

export interface PacedAttackPlan extends AttackPlan {
  /** A fake crawler whose address has a forged PTR inside the crawler's domain (no forward record): this name. */
  forgedPtr?: string;
}

const SEC = 1000;
const MIN = 60_000;

/** One wordlist probe, answered as the site answers it. */
function probe(rng: Rng, site: (typeof WEB_SITES)[number], uri: string): PlanReq {
  const known = EXISTING.get(site);
  if (known?.ok.has(uri)) return req(0, 'GET', uri, 200, Math.round(rng.logNormal(site.pageBytes, 0.2)), site.dynamic, true);
  if (known?.dirs.has(uri)) return req(0, 'GET', uri, 301, 169, false, true);
  return req(0, 'GET', uri, 404, notFoundBytes(rng, site), site.dynamic, true);
}

/** Forges Googlebot's or Bingbot's user agent and crawls like one, from an address that is neither's. */
function fakeCrawler(rng: Rng, b: PlanBuilder, start: number, ip: string): PacedAttackPlan {
  const owner = rng.pick(CRAWLER_OWNERS.slice(0, 2));
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const perMin = rng.range(15, 40);
  const duration = rng.range(20, 40) * MIN;
  b.add(start, [req(0, 'GET', '/robots.txt', 200, rng.int(180, 420), false, true)]);
  let n = 0;
  for (const t of paced(rng, start + rng.int(2, 10) * SEC, duration, perMin / 60, 0.5)) {
    const stale = rng.chance(0.03);
    const uri = stale ? rng.pick(site.missing) : site.page(rng);
    b.add(t, [req(0, 'GET', uri, stale ? 404 : 200, stale ? NGINX_404_BYTES : Math.round(rng.logNormal(site.pageBytes, 0.25)), site.dynamic && !stale, true)]);
    n++;
  }
  // Half of them hold their address's reverse zone and write the crawler's domain into it; no forward record comes back.
  const forgedPtr = rng.chance(0.5) ? owner.dnsName(ip) : undefined;
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: owner.ua, protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `forged ${owner.crawler} user agent crawling ${host}: ${n} pages at ~${Math.round(perMin)}/min${forgedPtr ? ', forged PTR without a forward record' : ', no PTR'}`,
    ...(forgedPtr ? { forgedPtr } : {}),
  };
}

/** A content-discovery scanner that sends a burst, pauses minutes, and sends another. */
function burstyScanner(rng: Rng, b: PlanBuilder, start: number): PacedAttackPlan {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const bursts = rng.int(5, 8);
  const paths = rng.sample(SCAN_PATHS, Math.min(SCAN_PATHS.length, bursts * 30));
  let i = 0;
  let t = start;
  for (let k = 0; k < bursts; k++) {
    const size = rng.int(15, 25);
    const perSec = rng.range(1, 2);
    for (const at of paced(rng, t, (size / perSec) * SEC, perSec, 0.3)) b.add(at, [probe(rng, site, paths[i++ % paths.length] as string)]);
    t = b.last + rng.range(3, 6) * MIN;
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(BROWSER_UAS), protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `bursty content discovery on ${host}: ${bursts} bursts of 15-25 probes, 3-6 min apart (${i} probes)`,
  };
}

/** Password guessing at one try every ~10 s, for 10-15 minutes. */
function slowBruteForce(rng: Rng, b: PlanBuilder, start: number): PacedAttackPlan {
  const site = rng.pick([SITES.shop, SITES.blog, SITES.api]);
  const host = site.hosts[0] ?? '';
  const login = site.login;
  if (login === undefined) throw new Error(`site ${site.deployment} has no login route`);
  const isApi = site === SITES.api;
  const duration = rng.range(10, 15) * MIN;
  let n = 0;
  for (const t of paced(rng, start, duration, 1 / 10, 0.2)) {
    b.add(t, [req(0, 'POST', login.post, login.failStatus, isApi ? 96 : rng.int(4_000, 9_000), true, true, { referer: isApi ? '' : `https://${host}${login.page}` })]);
    n++;
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: isApi ? 'python-requests/2.31.0' : rng.pick(BROWSER_UAS), protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `slow password guessing on ${host}${login.post}: ${n} failures, one every ~10 s for ${Math.round(duration / MIN)} min`,
  };
}

/** A content-discovery scanner at a few probes a minute, for a quarter of an hour or more. */
function slowScanner(rng: Rng, b: PlanBuilder, start: number): PacedAttackPlan {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const perMin = rng.range(3, 6);
  const duration = rng.range(15, 25) * MIN;
  const paths = rng.sample(SCAN_PATHS, Math.min(SCAN_PATHS.length, Math.ceil((perMin * duration) / MIN) + 10));
  let i = 0;
  for (const t of paced(rng, start, duration, perMin / 60, 0.4)) b.add(t, [probe(rng, site, paths[i++ % paths.length] as string)]);
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(BROWSER_UAS), protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `slow content discovery on ${host}: ${i} probes at ~${perMin.toFixed(1)}/min for ${Math.round(duration / MIN)} min`,
  };
}

/** A scanner that takes a new address of its /64 every few requests (`ip` is the first; the rest share its first four groups). */
function ipv6Rotating(rng: Rng, b: PlanBuilder, start: number, ip: string): PacedAttackPlan {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const prefix = ip.split(':').slice(0, 4).join(':');
  const iid = (): string => Array.from({ length: 4 }, () => (1 + (rng.u32() % 0xffff)).toString(16)).join(':');
  const perSec = rng.range(0.7, 1.2);
  const duration = rng.range(150, 240) * SEC;
  const paths = rng.sample(SCAN_PATHS, Math.min(SCAN_PATHS.length, Math.ceil((perSec * duration) / SEC) + 10));
  let addr = ip;
  let left = rng.int(3, 10);
  let i = 0;
  const used = new Set<string>([ip]);
  for (const t of paced(rng, start, duration, perSec, 0.3)) {
    if (left-- === 0) {
      addr = `${prefix}:${iid()}`;
      used.add(addr);
      left = rng.int(3, 10) - 1;
    }
    const r = probe(rng, site, paths[i++ % paths.length] as string);
    r.ip = addr === ip ? '' : addr;
    b.add(t, [r]);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(BROWSER_UAS), protocol: 'HTTP/2.0', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `content discovery on ${host} from ${used.size} addresses of ${prefix}::/64, a new one every 3-10 probes (${i} probes)`,
  };
}

/** `ip` is the attacker's (first) address, which the rotating and fake-crawler kinds build on. */
export function planPacedAttack(kind: PacedAttackKind, rng: Rng, start: number, ip: string): PacedAttackPlan {
  const b = new PlanBuilder(start, undefined);
  switch (kind) {
    case 'fake_crawler':
      return fakeCrawler(rng, b, start, ip);
    case 'bursty_scanner':
      return burstyScanner(rng, b, start);
    case 'slow_brute_force':
      return slowBruteForce(rng, b, start);
    case 'slow_scanner':
      return slowScanner(rng, b, start);
    case 'ipv6_rotating':
      return ipv6Rotating(rng, b, start, ip);
  }
}
