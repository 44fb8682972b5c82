// Benign clients of the harder corpus (`mix: 'hard'`): ordinary traffic that
// sits at or above a detector's threshold, which the classic corpus keeps
// every client under (benign.ts plans through a budget; these do not):
//
// - verified_crawler  Googlebot, Bingbot or Applebot from its owner's range, with
//                     forward-confirmed DNS the evaluation serves, 15-40 pages a
//                     minute for up to an hour, a few dead links among them;
// - office_nat        30-50 people behind one address, each browsing in sessions
//                     (pages and assets, 304 revalidations, a 404 now and then, the
//                     odd mistyped login), each with their own browser;
// - password_typo     a person who fails a login 3-5 times, then gets it right;
// - spa               a single-page app calling many distinct API paths, all 200;
// - health_check      one path every 5-10 s for the whole run;
// - cdn_proxy         a CDN node relaying many visitors, each named in
//                     X-Forwarded-For (the visitors are labelled cdn_client).
//
// Plans are built without a budget and merged in time order; a request's own
// user agent, address or X-Forwarded-For override the client's (plan.ts).
import type { Rng } from './prng.js';
import { PlanBuilder, planReq, type BundleItem, type ClientSpec, type PlanReq } from './plan.js';
import { BROWSER_SITES, BROWSER_UAS, NODES, SITES, WEB_SITES, apiCall, isIosUa, type Site } from './sites.js';
import { page, pageBytes, pageView, shopLogin, thinkTime, NGINX_404_BYTES } from './benign.js';
import { CRAWLER_OWNERS, cdnAddress } from './ip-space.js';

export type HardProfile = 'verified_crawler' | 'office_nat' | 'password_typo' | 'spa' | 'health_check' | 'cdn_proxy';
export const HARD_PROFILES: readonly HardProfile[] = ['verified_crawler', 'office_nat', 'password_typo', 'spa', 'health_check', 'cdn_proxy'];

export interface HardPlan {
  spec: Omit<ClientSpec, 'ip'>;
  plan: PlanReq[];
  description: string;
  /** The client's address when its kind fixes it (a crawler's owner range, the CDN's); otherwise the pool's. */
  ip?: string;
  /** A verified crawler's forward-confirmed reverse name. */
  dnsName?: string;
  /** cdn_proxy: the visitors it relayed, by their X-Forwarded-For address, with their request counts. */
  relayed?: Map<string, number>;
}

const SEC = 1000;
const MIN = 60_000;

const byTime = (a: PlanReq, b: PlanReq): number => a.ts - b.ts;

/** One person's browsing session on `site`, from `t`; returns the time after it. */
function session(rng: Rng, b: PlanBuilder, site: Site, host: string, t: number, opts: { revisit: boolean; ios: boolean; login: boolean }): number {
  let referer = rng.chance(0.45) ? 'https://www.google.com/' : '';
  const pages = Math.min(15, rng.geometric(5));
  const loaded = new Set<string>();
  const loginAt = opts.login ? rng.int(0, pages - 1) : -1;
  for (let i = 0; i < pages; i++) {
    if (i === loginAt) t = shopLogin(rng, b, t, host, referer) + thinkTime(rng, 12 * SEC, 2 * SEC, 120 * SEC);
    const want = i === 0 ? site.landing(rng) : site.page(rng);
    const view = pageView(rng, site, host, want, referer, { firstOfSession: i === 0, revisit: opts.revisit, ios: opts.ios, loaded });
    t = b.add(t, view.bundle);
    referer = `https://${host}${view.uri}`;
    t += thinkTime(rng, 18 * SEC, 2 * SEC, 240 * SEC);
  }
  return t;
}

function verifiedCrawler(rng: Rng, t0: number, endMs: number, ip: (draw: (r: Rng) => string) => string): HardPlan {
  const owner = rng.pick(CRAWLER_OWNERS);
  const addr = ip(owner.address);
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const b = new PlanBuilder(t0, undefined);
  b.add(t0, [page('/robots.txt', 200, rng.int(180, 420), '', false)]);
  b.add(t0 + rng.int(1, 10) * SEC, [page('/sitemap.xml', 200, rng.int(20_000, 90_000), '', site.dynamic)]);
  const perMin = rng.range(15, 40);
  const until = Math.min(endMs, t0 + 60 * MIN);
  let n = 0;
  for (let t = t0 + 15 * SEC; t < until; t += Math.round((60_000 / perMin) * rng.range(0.5, 1.5))) {
    const dead = rng.chance(0.03);
    const uri = dead ? rng.pick(site.deadLinks) : site.page(rng);
    b.add(t, [page(uri, dead ? 404 : 200, dead ? NGINX_404_BYTES : pageBytes(rng, site), '', site.dynamic && !dead)]);
    n++;
  }
  const dnsName = owner.dnsName(addr);
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: owner.ua, protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    description: `${owner.crawler} (${dnsName}) crawling ${host}: ${n} pages at ~${Math.round(perMin)}/min, 3% dead links`,
    ip: addr,
    dnsName,
  };
}

function officeNat(rng: Rng, t0: number, endMs: number): HardPlan {
  const site = BROWSER_SITES.pick(rng);
  const host = rng.pick(site.hosts);
  const people = rng.int(30, 50);
  const plan: PlanReq[] = [];
  for (let p = 0; p < people; p++) {
    const ua = rng.pick(BROWSER_UAS);
    const b = new PlanBuilder(t0, undefined);
    let t = t0 + Math.round(rng.range(0, 20 * MIN));
    for (let s = 0; t < endMs; s++) {
      t = session(rng, b, site, host, t, { revisit: s > 0, ios: isIosUa(ua), login: site === SITES.shop && rng.chance(0.15) });
      t += Math.round(rng.exp(25 * MIN));
    }
    for (const r of b.plan) {
      r.ua = ua;
      if (r.ts < endMs) plan.push(r);
    }
  }
  plan.sort(byTime);
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: BROWSER_UAS[0] as string, protocol: 'HTTP/2.0', xff: '' },
    plan,
    description: `an office of ${people} people behind one NAT address browsing ${host} in sessions`,
  };
}

function passwordTypo(rng: Rng, t0: number): HardPlan {
  const site = rng.pick([SITES.shop, SITES.blog]);
  const host = site.hosts[0] ?? '';
  const login = site.login;
  if (login === undefined) throw new Error(`site ${site.deployment} has no login route`);
  const form = `https://${host}${login.page}`;
  const b = new PlanBuilder(t0, undefined);
  let t = b.add(t0, [page(login.page, 200, rng.int(4_000, 9_000), '', true)]) + thinkTime(rng, 8 * SEC, 3 * SEC, 30 * SEC);
  const failures = rng.int(3, 5);
  for (let i = 0; i < failures; i++) {
    t = b.add(t, [page(login.post, login.failStatus, rng.int(4_000, 9_000), form, true, 0, 'POST')]);
    t += thinkTime(rng, 10 * SEC, 4 * SEC, 40 * SEC);
  }
  t = b.add(t, [page(login.post, login.okStatus, 0, form, true, 0, 'POST')]);
  session(rng, b, site, host, t + rng.int(200, 900), { revisit: true, ios: false, login: false });
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(BROWSER_UAS), protocol: 'HTTP/2.0', xff: '' },
    plan: b.plan,
    description: `${failures} mistyped passwords on ${host}${login.post}, then a successful login`,
  };
}

/** A single-page app on the shop: its shell, then bursts of API calls on many distinct paths. */
function spa(rng: Rng, t0: number): HardPlan {
  const site = SITES.shop;
  const host = site.hosts[0] ?? '';
  const b = new PlanBuilder(t0, undefined);
  const shell: BundleItem[] = [page('/app/', 200, rng.int(2_000, 4_000), '', false)];
  let at = rng.int(20, 120);
  for (const a of site.assets) {
    shell.push(planReq(at, 'GET', a.uri, 200, a.bytes, `https://${host}/app/`, false));
    at += rng.int(5, 150);
  }
  let t = b.add(t0, shell);
  const span = rng.range(5, 15) * MIN;
  let calls = 0;
  const paths = new Set<string>();
  while (t < t0 + span) {
    t += Math.round(rng.range(3, 15) * SEC);
    const bundle: BundleItem[] = [];
    let o = 0;
    for (let i = rng.int(2, 6); i > 0; i--) {
      const id = rng.int(1000, 1160);
      const uri = rng.pick([
        `/api/v1/products/${id}`, `/api/v1/products/${id}/reviews?page=1`, `/api/v1/products/${id}/related`,
        `/api/v1/stock/${id}`, `/api/v1/categories/${rng.int(1, 40)}/products?page=${rng.int(1, 5)}`, apiCall(rng).uri,
      ]);
      bundle.push(planReq(o, 'GET', uri, 200, rng.int(300, 6_000), `https://${host}/app/`, true));
      paths.add(uri.split('?')[0] as string);
      o += rng.int(30, 400);
      calls++;
    }
    t = b.add(t, bundle);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(BROWSER_UAS), protocol: 'HTTP/2.0', xff: '' },
    plan: b.plan,
    description: `single-page app on ${host}/app/: ${calls} API calls on ${paths.size} distinct paths, all 200`,
  };
}

const HEALTH_UAS = ['kube-probe/1.31', 'ELB-HealthChecker/2.0', 'Consul Health Check', 'GoogleHC/1.0'];

function healthCheck(rng: Rng, t0: number, endMs: number): HardPlan {
  const site = rng.pick([SITES.shop, SITES.api, SITES.blog, SITES.docs]);
  const every = rng.int(5, 10) * SEC;
  const uri = rng.pick(['/healthz', '/status', '/ping', site.health.uri]);
  const b = new PlanBuilder(t0, undefined);
  for (let t = t0 + rng.int(0, every); t < endMs; t += every + rng.int(-300, 300)) b.add(t, [page(uri, 200, rng.int(2, 60), '', site.dynamic)]);
  return {
    spec: { node: rng.pick(NODES), host: site.hosts[0] ?? '', deployment: site.deployment, ua: rng.pick(HEALTH_UAS), protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    description: `health check of ${uri} every ${every / SEC} s for the whole run`,
  };
}

/** A CDN node: many visitors' sessions, each visitor named in X-Forwarded-For. */
function cdnProxy(rng: Rng, t0: number, endMs: number, ip: (draw: (r: Rng) => string) => string, visitor: () => string): HardPlan {
  const addr = ip(cdnAddress);
  const site = BROWSER_SITES.pick(rng);
  const host = rng.pick(site.hosts);
  const visitors = rng.int(60, 150);
  const plan: PlanReq[] = [];
  const relayed = new Map<string, number>();
  for (let v = 0; v < visitors; v++) {
    const ua = rng.pick(BROWSER_UAS);
    const client = visitor();
    const b = new PlanBuilder(t0, undefined);
    session(rng, b, site, host, t0 + Math.round(rng.range(0, Math.max(MIN, endMs - t0 - 5 * MIN))), { revisit: false, ios: isIosUa(ua), login: false });
    let n = 0;
    for (const r of b.plan) {
      if (r.ts >= endMs) continue;
      r.ua = ua;
      r.xff = client;
      plan.push(r);
      n++;
    }
    if (n > 0) relayed.set(client, n);
  }
  plan.sort(byTime);
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: BROWSER_UAS[0] as string, protocol: 'HTTP/2.0', xff: '' },
    plan,
    description: `CDN node relaying ${relayed.size} visitors of ${host} (X-Forwarded-For)`,
    ip: addr,
    relayed,
  };
}

export interface HardContext {
  endMs: number;
  /** An address drawn in an operator's range, unique in the run. */
  fixedIp: (draw: (r: Rng) => string) => string;
  /** A fresh ordinary address (a CDN's visitor). */
  visitorIp: () => string;
}

export function planHard(profile: HardProfile, rng: Rng, t0: number, ctx: HardContext): HardPlan {
  switch (profile) {
    case 'verified_crawler':
      return verifiedCrawler(rng, t0, ctx.endMs, ctx.fixedIp);
    case 'office_nat':
      return officeNat(rng, t0, ctx.endMs);
    case 'password_typo':
      return passwordTypo(rng, t0);
    case 'spa':
      return spa(rng, t0);
    case 'health_check':
      return healthCheck(rng, t0, ctx.endMs);
    case 'cdn_proxy':
      return cdnProxy(rng, t0, ctx.endMs, ctx.fixedIp, ctx.visitorIp);
  }
}

/** How many of each per run, and when they start: a fixed few, scaled with the corpus. */
export function hardCounts(lines: number): Record<HardProfile, number> {
  const k = Math.max(1, Math.round(lines / 150_000));
  return { verified_crawler: 2 * k, office_nat: k, password_typo: 6 * k, spa: 4 * k, health_check: 2 * k, cdn_proxy: k };
}
