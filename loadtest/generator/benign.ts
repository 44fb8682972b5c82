// Benign clients: people reading the sites (a page, then its assets within a
// second, then reading time), the mobile app polling its API, search-engine
// crawlers, link-preview bots, feed readers, staff behind basic auth, blog
// authors in wp-admin, and uptime monitors. Each one stays under the benign
// budget in every window by construction (plan.ts): when a page view would
// exceed it, the visitor reads a little longer first.
import { Rng, Weighted } from './prng.js';
import { Budget, PlanBuilder, planReq, type BundleItem, type BudgetLimits, type ClientSpec, type PlanReq } from './plan.js';
import {
  APP_UAS, BROWSER_SITES, BROWSER_UAS, CRAWLER_UAS, FEED_UAS, MONITOR_UAS, NODES, PREVIEW_UAS, SEARCH_REFERERS,
  SHOP_ADMIN_PAGES, SHOP_STAFF, SITES, WEB_SITES, WP_ADMIN_ASSETS, apiCall, isIosUa, type Site,
} from './sites.js';
import { privateIPv4 } from './ip-space.js';

export type BenignProfile = SpawnedProfile | 'monitor';
export type SpawnedProfile = 'browser' | 'app' | 'crawler' | 'preview' | 'feed' | 'staff' | 'author';

/** Spawned profiles and their shares of new clients (monitors are a fixed few for the whole run). */
export const SPAWNED_PROFILES = new Weighted<SpawnedProfile>([
  ['browser', 70],
  ['app', 13],
  ['preview', 6],
  ['feed', 5],
  ['crawler', 3],
  ['author', 2],
  ['staff', 1],
]);

export interface BenignPlan {
  spec: Omit<ClientSpec, 'ip'>;
  plan: PlanReq[];
}

export interface BenignContext {
  limits: BudgetLimits;
  budgetWindowMs: number;
  /** Monitors run until here. */
  endMs: number;
}

const DESKTOP_UAS = BROWSER_UAS.filter((u) => !u.includes('Mobile'));

const SEC = 1000;
const MIN = 60_000;

/** nginx's own error pages (server_tokens off). */
export const NGINX_404_BYTES = 153;
const NGINX_401_BYTES = 179;

export function thinkTime(rng: Rng, medianMs: number, minMs: number, maxMs: number): number {
  return Math.round(Math.min(maxMs, Math.max(minMs, rng.logNormal(medianMs, 0.9))));
}

export function pageBytes(rng: Rng, site: Site): number {
  return Math.round(rng.logNormal(site.pageBytes, 0.25));
}

export function page(uri: string, status: number, bytes: number, referer: string, upstream: boolean, offset = 0, method = 'GET'): BundleItem {
  return planReq(offset, method, uri, status, bytes, referer, upstream);
}

function as(user: string, item: BundleItem): BundleItem {
  item.authUser = user;
  return item;
}

/** A page view: the page, and what the browser fetches for it. */
export function pageView(
  rng: Rng,
  site: Site,
  host: string,
  uri: string,
  referer: string,
  opts: { firstOfSession: boolean; revisit: boolean; ios: boolean; loaded: Set<string> },
): { bundle: BundleItem[]; uri: string } {
  const x = rng.float();
  let status = 200;
  let bytes = pageBytes(rng, site);
  let upstream = site.dynamic;
  if (x < 0.012) {
    // A stale bookmark or a removed product: the site's 404 page.
    uri = rng.pick(site.missing);
    status = 404;
    bytes = site.dynamic ? rng.int(3_000, 9_000) : NGINX_404_BYTES;
  } else if (x < 0.014 && site.dynamic) {
    status = rng.pick([500, 502, 504]);
    bytes = status === 500 ? rng.int(800, 3_000) : 157;
    upstream = true;
  }
  const bundle: BundleItem[] = [page(uri, status, bytes, referer, upstream)];
  const self = `https://${host}${uri}`;
  let at = rng.int(20, 120);
  const asset = (u: string, st: number, b: number): void => {
    bundle.push(planReq(at, 'GET', u, st, b, self, false));
    at += rng.int(5, 180);
  };
  if (opts.firstOfSession) {
    for (const a of site.assets) {
      if (!opts.revisit) asset(a.uri, 200, a.bytes);
      else if (rng.chance(0.4)) asset(a.uri, 304, 0);
    }
    // iOS asks for the home-screen icon whether or not the site has one.
    if (opts.ios && !opts.revisit && rng.chance(0.4)) {
      asset('/apple-touch-icon-precomposed.png', 404, NGINX_404_BYTES);
      asset('/apple-touch-icon.png', 404, NGINX_404_BYTES);
    }
  }
  if (status === 200) {
    for (const img of site.images(uri, rng)) {
      if (opts.loaded.has(img.uri)) continue;
      opts.loaded.add(img.uri);
      asset(img.uri, 200, img.bytes);
    }
  }
  return { bundle, uri };
}

function browser(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = BROWSER_SITES.pick(rng);
  const host = rng.pick(site.hosts);
  const ua = rng.pick(BROWSER_UAS);
  const ios = isIosUa(ua);
  const protocol = rng.chance(0.85) ? 'HTTP/2.0' : 'HTTP/1.1';
  const sessions = rng.chance(0.15) ? 2 : 1;
  let t = t0;
  for (let s = 0; s < sessions; s++) {
    let referer = rng.chance(0.45) ? rng.pick(SEARCH_REFERERS) : '';
    const pages = Math.min(30, rng.geometric(6));
    const loginAt = site === SITES.shop && rng.chance(0.1) ? rng.int(0, pages - 1) : -1;
    const loaded = new Set<string>();
    for (let i = 0; i < pages; i++) {
      if (i === loginAt) {
        t = shopLogin(rng, b, t, host, referer) + thinkTime(rng, 12 * SEC, 2 * SEC, 120 * SEC);
        referer = `https://${host}/account`;
      }
      const want = i === 0 ? site.landing(rng) : site.page(rng);
      const view = pageView(rng, site, host, want, referer, { firstOfSession: i === 0, revisit: s > 0, ios, loaded });
      t = b.add(t, view.bundle);
      referer = `https://${host}${view.uri}`;
      t += thinkTime(rng, 18 * SEC, 2 * SEC, 240 * SEC);
    }
    if (s + 1 < sessions) t += Math.round(rng.range(5 * MIN, 40 * MIN));
  }
  return { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol, xff: rng.chance(0.03) ? privateIPv4(rng) : '' };
}

/** The shop's login form; now and then a mistyped password first. */
export function shopLogin(rng: Rng, b: PlanBuilder, t: number, host: string, referer: string): number {
  const login = SITES.shop.login;
  if (login === undefined) return t;
  const form = `https://${host}${login.page}`;
  t = b.add(t, [page(login.page, 200, rng.int(6_000, 9_000), referer, true)]);
  t += thinkTime(rng, 8 * SEC, 3 * SEC, 40 * SEC);
  if (rng.chance(0.08)) {
    t = b.add(t, [page(login.post, login.failStatus, rng.int(6_000, 9_000), form, true, 0, 'POST')]);
    t += thinkTime(rng, 6 * SEC, 2 * SEC, 30 * SEC);
  }
  return b.add(t, [
    page(login.post, login.okStatus, 0, form, true, 0, 'POST'),
    page('/account', 200, rng.int(12_000, 20_000), form, true, rng.int(60, 250)),
  ]);
}

function app(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = SITES.api;
  const ua = APP_UAS.pick(rng);
  const protocol = ua.startsWith('Dart') ? 'HTTP/1.1' : 'HTTP/2.0';
  const span = rng.range(2 * MIN, 40 * MIN);
  let t = t0;
  if (rng.chance(0.05)) {
    t = b.add(t, [page('/api/auth/token', 401, 96, '', true, 0, 'POST')]) + thinkTime(rng, 5 * SEC, 2 * SEC, 30 * SEC);
  }
  t = b.add(t, [page('/api/auth/token', 200, rng.int(700, 900), '', true, 0, 'POST')]);
  while (t < t0 + span) {
    t += Math.round(rng.range(20 * SEC, 90 * SEC));
    const bundle: BundleItem[] = [page(`/api/v1/notifications?since=${Math.floor(t / 1000) - 60}`, 200, rng.int(40, 900), '', true)];
    let at = rng.int(100, 900);
    if (rng.chance(0.01)) {
      // The access token expired: one 401, then a refresh.
      bundle.push(page('/api/v1/cart', 401, 96, '', true, at));
      bundle.push(page('/api/auth/refresh', 200, rng.int(700, 900), '', true, at + rng.int(50, 300), 'POST'));
      at += 600;
    }
    const calls = rng.chance(0.5) ? rng.int(1, 3) : 0;
    for (let i = 0; i < calls; i++) {
      const c = apiCall(rng);
      const missing = c.uri.startsWith('/api/v1/products/') && rng.chance(0.01);
      bundle.push(page(c.uri, missing ? 404 : 200, missing ? 62 : c.bytes, '', true, at, c.method));
      at += rng.int(80, 1500);
    }
    t = b.add(t, bundle);
  }
  return { node: rng.pick(NODES), host: rng.pick(site.hosts), deployment: site.deployment, ua, protocol, xff: '' };
}

function crawler(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  let t = b.add(t0, [page('/robots.txt', 200, rng.int(180, 420), '', false)]);
  t += Math.round(rng.range(1 * SEC, 10 * SEC));
  t = b.add(t, [page('/sitemap.xml', 200, rng.int(20_000, 90_000), '', site.dynamic)]);
  const n = Math.min(150, rng.geometric(30));
  for (let i = 0; i < n; i++) {
    t += Math.round(rng.range(5 * SEC, 30 * SEC));
    const stale = rng.chance(0.03);
    const uri = stale ? rng.pick(site.missing) : site.page(rng);
    t = b.add(t, [page(uri, stale ? 404 : 200, stale ? NGINX_404_BYTES : pageBytes(rng, site), '', site.dynamic && !stale)]);
  }
  return { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(CRAWLER_UAS), protocol: 'HTTP/1.1', xff: '' };
}

function preview(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const uri = site.landing(rng);
  const bundle = [page(uri, 200, pageBytes(rng, site), '', site.dynamic)];
  const img = site.images(uri, rng)[0];
  if (img !== undefined && rng.chance(0.6)) bundle.push(page(img.uri, 200, img.bytes, '', false, rng.int(100, 900)));
  b.add(t0, bundle);
  return { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(PREVIEW_UAS), protocol: 'HTTP/1.1', xff: '' };
}

function feed(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = SITES.blog;
  let t = t0;
  const polls = rng.int(1, 3);
  for (let i = 0; i < polls; i++) {
    const fresh = i === 0 || rng.chance(0.3);
    t = b.add(t, [page('/feed/', fresh ? 200 : 304, fresh ? rng.int(30_000, 60_000) : 0, '', true)]);
    t += Math.round(rng.range(10 * MIN, 30 * MIN));
  }
  return { node: rng.pick(NODES), host: site.hosts[0] ?? 'blog.example.org', deployment: site.deployment, ua: rng.pick(FEED_UAS), protocol: 'HTTP/1.1', xff: '' };
}

/** Shop staff in /admin/ behind basic auth: the browser's first request has no credentials (401). */
function staff(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = SITES.shop;
  const host = site.hosts[0] ?? 'shop.example.com';
  const user = rng.pick(SHOP_STAFF);
  const admin = `https://${host}/admin/`;
  let t = b.add(t0, [page('/admin/', 401, NGINX_401_BYTES, '', false)]);
  t += thinkTime(rng, 5 * SEC, 2 * SEC, 20 * SEC);
  if (rng.chance(0.06)) {
    t = b.add(t, [as(user, page('/admin/', 401, NGINX_401_BYTES, '', false))]);
    t += thinkTime(rng, 5 * SEC, 2 * SEC, 20 * SEC);
  }
  t = b.add(t, [as(user, page('/admin/', 200, rng.int(20_000, 30_000), '', true))]);
  const n = rng.int(5, 30);
  let referer = admin;
  for (let i = 0; i < n; i++) {
    t += thinkTime(rng, 20 * SEC, 5 * SEC, 180 * SEC);
    const uri = rng.chance(0.4) ? `/admin/orders/${rng.int(480_000, 499_999)}` : rng.pick(SHOP_ADMIN_PAGES);
    t = b.add(t, [as(user, page(uri, 200, rng.int(15_000, 60_000), referer, true))]);
    referer = `https://${host}${uri}`;
  }
  const ua = rng.pick(DESKTOP_UAS);
  return { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: 'HTTP/2.0', xff: '' };
}

/** A blog author: wp-login.php (now and then a mistyped password first), then wp-admin with its heartbeat. */
function author(rng: Rng, b: PlanBuilder, t0: number): Omit<ClientSpec, 'ip'> {
  const site = SITES.blog;
  const login = site.login;
  const host = site.hosts[0] ?? 'blog.example.org';
  const form = `https://${host}/wp-login.php`;
  let t = t0;
  if (login !== undefined) {
    t = b.add(t, [
      page(login.page, 200, rng.int(4_000, 5_000), '', true),
      ...WP_ADMIN_ASSETS.map((a, i) => page(a.uri, 200, a.bytes, form, false, 40 + i * rng.int(5, 60))),
    ]);
    t += thinkTime(rng, 8 * SEC, 3 * SEC, 40 * SEC);
    if (rng.chance(0.06)) {
      t = b.add(t, [page(login.post, login.failStatus, rng.int(4_000, 5_000), form, true, 0, 'POST')]);
      t += thinkTime(rng, 6 * SEC, 2 * SEC, 30 * SEC);
    }
    t = b.add(t, [page(login.post, login.okStatus, 0, form, true, 0, 'POST'), page('/wp-admin/', 200, rng.int(50_000, 70_000), form, true, rng.int(80, 300))]);
  }
  const span = rng.range(5 * MIN, 40 * MIN);
  const post = rng.int(1200, 1900);
  let referer = `https://${host}/wp-admin/`;
  while (t < t0 + span) {
    t += Math.round(rng.range(15 * SEC, 60 * SEC));
    if (rng.chance(0.5)) {
      t = b.add(t, [page('/wp-admin/admin-ajax.php', 200, rng.int(40, 200), referer, true, 0, 'POST')]);
    } else {
      const uri = rng.pick(['/wp-admin/edit.php', `/wp-admin/post.php?post=${post}&action=edit`, '/wp-admin/upload.php', '/wp-admin/post-new.php']);
      t = b.add(t, [page(uri, 200, rng.int(40_000, 90_000), referer, true)]);
      referer = `https://${host}${uri}`;
    }
  }
  return { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(DESKTOP_UAS), protocol: 'HTTP/2.0', xff: '' };
}

/** An uptime monitor: one check of one site every 30 or 60 s, for the whole run. */
export function planMonitor(rng: Rng, index: number, t0: number, ctx: BenignContext): BenignPlan {
  const site = [SITES.shop, SITES.api, SITES.blog, SITES.docs][index % 4] as Site;
  const b = new PlanBuilder(t0, new Budget(ctx.limits, ctx.budgetWindowMs));
  const every = rng.chance(0.5) ? 30 * SEC : 60 * SEC;
  for (let t = t0 + rng.int(0, every); t < ctx.endMs; t += every + rng.int(-400, 400)) {
    t = b.add(t, [page(site.health.uri, 200, site.health.bytes, '', site.dynamic, 0, site.health.method)]);
  }
  const ua = MONITOR_UAS[index % 3] as string;
  return { spec: { node: rng.pick(NODES), host: site.hosts[0] ?? '', deployment: site.deployment, ua, protocol: 'HTTP/1.1', xff: '' }, plan: b.plan };
}

const PLANNERS: Record<SpawnedProfile, (rng: Rng, b: PlanBuilder, t0: number) => Omit<ClientSpec, 'ip'>> = {
  browser, app, crawler, preview, feed, staff, author,
};

export function planBenign(rng: Rng, profile: SpawnedProfile, t0: number, ctx: BenignContext): BenignPlan {
  const b = new PlanBuilder(t0, new Budget(ctx.limits, ctx.budgetWindowMs));
  const spec = PLANNERS[profile](rng, b, t0);
  return { spec, plan: b.plan };
}
