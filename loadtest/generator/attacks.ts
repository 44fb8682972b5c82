// Attackers, one planner per kind. Each is built to be caught by one detector
// (its primary), sustained for more than one detection window so that a
// detector counting only the requests past its threshold still sees far more
// than auto_block_threshold of them; the other detectors their traffic can
// reach are not guessed here but measured from the plan (traffic.ts).
import type { Rng } from './prng.js';
import { PlanBuilder, planReq, type BundleItem, type ClientSpec, type PlanReq } from './plan.js';
import { BROWSER_UAS, BLOG_POSTS, NODES, SHOP_PRODUCTS, SITES, WEB_SITES, type Site } from './sites.js';

export type AttackKind =
  | 'flood'
  | 'not_found'
  | 'brute_force'
  | 'scanner'
  | 'repeated_hits'
  | 'sig_scanner_ua'
  | 'sig_sensitive_files'
  | 'sig_injection';

export const ATTACK_KINDS: readonly AttackKind[] = [
  'flood', 'not_found', 'brute_force', 'scanner', 'repeated_hits', 'sig_scanner_ua', 'sig_sensitive_files', 'sig_injection',
];

/**
 * Detector names as SecurityEvent.detector spells them. Signature detectors
 * are named by class (`signature:scanner_ua`, `signature:sensitive_file`,
 * `signature:injection`): the detector's own signature ids are finer, so a
 * consumer compares the class its signature id belongs to.
 */
export const PRIMARY_DETECTORS: Readonly<Record<AttackKind, readonly string[]>> = {
  flood: ['rate'],
  not_found: ['not_found'],
  brute_force: ['auth_failure'],
  scanner: ['unique_paths', 'not_found'],
  repeated_hits: ['repeated_hits'],
  sig_scanner_ua: ['signature:scanner_ua'],
  sig_sensitive_files: ['signature:sensitive_file'],
  sig_injection: ['signature:injection'],
};

export interface AttackPlan {
  spec: Omit<ClientSpec, 'ip'>;
  plan: PlanReq[];
  /** Signature classes this attack's requests may also match, beyond its primary. */
  alsoSignatures: string[];
  /** One line on what the attacker does, for the ground truth and the demo. */
  description: string;
}

const SEC = 1000;
export const NGINX_404_BYTES = 153;
const NGINX_403_BYTES = 153;
export const NGINX_401_BYTES = 179;
const NGINX_400_BYTES = 155;
const NGINX_301_BYTES = 169;

export function req(offset: number, method: string, uri: string, status: number, bytes: number, upstream: boolean, attack: boolean, extra: { referer?: string; authUser?: string } = {}): BundleItem {
  const r = planReq(offset, method, uri, status, bytes, extra.referer ?? '', upstream, attack);
  if (extra.authUser !== undefined) r.authUser = extra.authUser;
  return r;
}

/** A quick look at the site before the attack: the landing page and a few of its assets. */
export function prelude(rng: Rng, b: PlanBuilder, site: Site, host: string, at: number): void {
  const uri = site.landing(rng);
  const bundle = [req(0, 'GET', uri, 200, Math.round(rng.logNormal(site.pageBytes, 0.25)), site.dynamic, false, { referer: rng.chance(0.5) ? 'https://www.google.com/' : '' })];
  let o = rng.int(30, 150);
  for (const a of site.assets.slice(0, rng.int(0, 3))) {
    bundle.push(req(o, 'GET', a.uri, 200, a.bytes, false, false, { referer: `https://${host}${uri}` }));
    o += rng.int(10, 120);
  }
  b.add(at, bundle);
}

/** Evenly paced times with jitter: the count in any window stays close to rate x window. */
export function* paced(rng: Rng, start: number, durationMs: number, perSec: number, jitter = 0.3): Generator<number> {
  const step = 1000 / perSec;
  for (let t = start; t < start + durationMs; t += Math.max(1, Math.round(step * rng.range(1 - jitter, 1 + jitter)))) yield Math.round(t);
}

export function notFoundBytes(rng: Rng, site: Site): number {
  if (site === SITES.blog) return rng.int(28_000, 32_000);
  return site.dynamic ? rng.int(3_000, 9_000) : NGINX_404_BYTES;
}

// ---- flood: far above rate_threshold on ordinary pages --------------------------
function flood(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  if (withPrelude) prelude(rng, b, site, host, start - rng.int(20, 90) * SEC);
  const perSec = rng.range(3.75, 7.5);
  const duration = rng.range(150, 240) * SEC;
  const targets = Array.from({ length: 5 }, () => site.page(rng));
  for (const t of paced(rng, start, duration, perSec, 0.5)) {
    const uri = rng.chance(0.6) ? '/' : rng.pick(targets);
    b.add(t, [req(0, 'GET', uri, 200, Math.round(rng.logNormal(site.pageBytes, 0.2)), site.dynamic, true)]);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: rng.pick(BROWSER_UAS), protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `HTTP flood: ~${Math.round(perSec * 120)} requests per 2 min on ${host} for ${Math.round(duration / SEC)} s`,
  };
}

// ---- not_found: a broken client hammering a handful of dead links -------------
function notFound(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const site = rng.pick([SITES.shop, SITES.blog, SITES.docs, SITES.api]);
  const host = rng.pick(site.hosts);
  const isApi = site === SITES.api;
  const ua = isApi ? 'ShopApp/4.1.0 (com.example.shop; build:4100; iOS 15.8.3) Alamofire/5.4.4' : rng.pick(BROWSER_UAS);
  if (withPrelude && !isApi) prelude(rng, b, site, host, start - rng.int(20, 90) * SEC);
  // Few distinct paths (round robin, so none reaches repeated_hits) and a pace
  // well under rate_threshold: only the 404 count stands out.
  const dead = rng.sample(site.deadLinks, rng.int(6, 8));
  const duration = rng.range(150, 210) * SEC;
  let i = 0;
  let nextOk = start + rng.int(10, 30) * SEC;
  const perSec = rng.range(0.6, 0.7);
  for (const t of paced(rng, start, duration, perSec, 0.25)) {
    if (t >= nextOk) {
      // Now and then a request that works, as the rest of the client does.
      const uri = isApi ? '/api/v1/products?page=1&per_page=24' : site.page(rng);
      b.add(t, [req(0, 'GET', uri, 200, Math.round(rng.logNormal(site.pageBytes, 0.2)), site.dynamic, false)]);
      nextOk = t + rng.int(15, 40) * SEC;
      continue;
    }
    const uri = dead[i++ % dead.length] as string;
    b.add(t, [req(0, 'GET', uri, 404, isApi ? 62 : notFoundBytes(rng, site), site.dynamic, true)]);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: isApi ? 'HTTP/2.0' : 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `404 storm: ${dead.length} dead links on ${host}, ~${Math.round(perSec * 120)} requests per 2 min for ${Math.round(duration / SEC)} s`,
  };
}

// ---- brute_force: password guessing on a login route ---------------------------
const USERNAMES = ['admin', 'root', 'administrator', 'test', 'user', 'shop', 'manager', 'guest', 'info', 'support', 'webmaster', 'demo'];

function bruteForce(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const variant = rng.pick(['shop-login', 'wp-login', 'api-token', 'shop-admin-basic'] as const);
  const site = variant === 'wp-login' ? SITES.blog : variant === 'api-token' ? SITES.api : SITES.shop;
  const host = site.hosts[0] ?? '';
  const login = site.login;
  if (login === undefined) throw new Error(`site ${site.deployment} has no login route`);
  const ua = variant === 'api-token' ? 'okhttp/4.9.3' : rng.pick(BROWSER_UAS);
  const form = `https://${host}${login.page}`;
  if (withPrelude && variant !== 'api-token') {
    b.add(start - rng.int(5, 40) * SEC, [req(0, 'GET', variant === 'shop-admin-basic' ? '/' : login.page, 200, rng.int(4_000, 9_000), true, false)]);
  }
  const duration = rng.range(150, 240) * SEC;
  const perSec = rng.range(0.5, 0.75);
  for (const t of paced(rng, start, duration, perSec, 0.3)) {
    if (variant === 'shop-admin-basic') {
      // Basic auth: nginx logs the user name it was offered, even when it refuses it.
      b.add(t, [req(0, 'GET', '/admin/', 401, NGINX_401_BYTES, false, true, { authUser: rng.pick(USERNAMES) })]);
    } else {
      b.add(t, [req(0, 'POST', login.post, login.failStatus, variant === 'api-token' ? 96 : rng.int(4_000, 9_000), true, true, { referer: variant === 'api-token' ? '' : form })]);
    }
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: variant === 'api-token' ? 'HTTP/2.0' : 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `password guessing on ${host}${variant === 'shop-admin-basic' ? '/admin/ (basic auth)' : login.post}: ~${Math.round(perSec * 120)} failures per 2 min for ${Math.round(duration / SEC)} s`,
  };
}

// ---- scanner: a content-discovery wordlist, mostly 404 --------------------------
// Ordinary words only: a dirb wordlist also holds dot-files and backups, but
// those are the sensitive-file attacker's, so each kind tests one thing.
const SCAN_WORDS = [
  'about', 'account', 'accounts', 'api', 'app', 'apps', 'archive', 'archives', 'assets', 'blog', 'blogs', 'board', 'books',
  'cache', 'calendar', 'cart', 'catalog', 'chat', 'classes', 'client', 'clients', 'cms', 'comments', 'community', 'company',
  'components', 'contact', 'content', 'contents', 'css', 'customer', 'customers', 'dashboard', 'default', 'demo', 'dev',
  'directory', 'doc', 'docs', 'download', 'downloads', 'editor', 'email', 'en', 'error', 'errors', 'events', 'export', 'faq',
  'feed', 'feeds', 'files', 'forum', 'forums', 'gallery', 'help', 'home', 'html', 'icons', 'images', 'img', 'import', 'inc',
  'include', 'includes', 'index', 'info', 'jobs', 'js', 'lib', 'library', 'links', 'list', 'media', 'members', 'menu', 'misc',
  'mobile', 'modules', 'new', 'news', 'newsletter', 'old', 'order', 'orders', 'pages', 'partners', 'photos', 'plugins',
  'portal', 'press', 'products', 'profile', 'projects', 'public', 'register', 'reports', 'resources', 'rss', 'sales',
  'scripts', 'search', 'services', 'shop', 'site', 'sitemap', 'source', 'src', 'staff', 'static', 'stats', 'store', 'styles',
  'support', 'system', 'tags', 'team', 'templates', 'terms', 'test', 'themes', 'tools', 'topics', 'uploads', 'user', 'users',
  'v1', 'v2', 'video', 'videos', 'web', 'widgets', 'wiki', 'work', 'www',
];
export const SCAN_PATHS: readonly string[] = SCAN_WORDS.flatMap((w) => [`/${w}`, `/${w}/`, `/${w}.php`, `/${w}.html`]);

export const EXISTING: ReadonlyMap<Site, { ok: ReadonlySet<string>; dirs: ReadonlySet<string> }> = new Map([
  [SITES.shop, { ok: new Set(['/products', '/search', '/cart', '/about', '/contact', '/shipping', '/checkout', '/account']), dirs: new Set(['/static', '/media']) }],
  [SITES.blog, { ok: new Set(['/feed/', '/about/', '/index.php']), dirs: new Set(['/feed', '/about']) }],
  [SITES.docs, { ok: new Set(['/search/', '/index.html']), dirs: new Set(['/search', '/assets']) }],
]);

function scanner(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  // dirb's default user agent, which no signature list flags.
  const ua = rng.chance(0.5) ? 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)' : rng.pick(BROWSER_UAS);
  if (withPrelude) prelude(rng, b, site, host, start - rng.int(20, 90) * SEC);
  const perSec = rng.range(0.62, 0.72);
  const duration = rng.range(140, 200) * SEC;
  const paths = rng.sample(SCAN_PATHS, Math.ceil((perSec * duration) / SEC) + 30);
  const known = EXISTING.get(site);
  let i = 0;
  for (const t of paced(rng, start, duration, perSec, 0.3)) {
    const uri = paths[i++ % paths.length] as string;
    let status = 404;
    let bytes = notFoundBytes(rng, site);
    let upstream = site.dynamic;
    if (known?.ok.has(uri)) {
      status = 200;
      bytes = Math.round(rng.logNormal(site.pageBytes, 0.2));
    } else if (known?.dirs.has(uri)) {
      status = 301;
      bytes = NGINX_301_BYTES;
      upstream = false;
    }
    b.add(t, [req(0, 'GET', uri, status, bytes, upstream, true)]);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `content discovery on ${host}: ${i} wordlist paths in ${Math.round(duration / SEC)} s`,
  };
}

// ---- repeated_hits: one path, over and over, under the rate threshold -----------
function repeatedHits(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const variant = rng.pick(['price-watch', 'stock-sniper', 'view-inflater'] as const);
  const site = variant === 'stock-sniper' ? SITES.api : variant === 'view-inflater' ? SITES.blog : SITES.shop;
  const host = site.hosts[0] ?? '';
  const target =
    variant === 'stock-sniper' ? `/api/v1/products/${rng.int(1000, 1160)}` : variant === 'view-inflater' ? rng.pick(BLOG_POSTS) : `/products/${rng.pick(SHOP_PRODUCTS)}`;
  const ua = variant === 'stock-sniper' ? 'okhttp/4.12.0' : rng.pick(BROWSER_UAS);
  if (withPrelude && site !== SITES.api) prelude(rng, b, site, host, start - rng.int(20, 90) * SEC);
  const perSec = rng.range(0.7, 0.76);
  const duration = rng.range(200, 300) * SEC;
  let nextOther = start + rng.int(15, 40) * SEC;
  for (const t of paced(rng, start, duration, perSec, 0.2)) {
    b.add(t, [req(0, 'GET', target, 200, site === SITES.api ? rng.int(2_000, 5_000) : Math.round(rng.logNormal(site.pageBytes, 0.1)), true, true)]);
    if (t >= nextOther) {
      b.add(t + rng.int(200, 900), [req(0, 'GET', site.page(rng), 200, Math.round(rng.logNormal(site.pageBytes, 0.2)), site.dynamic, false)]);
      nextOther = t + rng.int(20, 45) * SEC;
    }
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: site === SITES.api ? 'HTTP/2.0' : 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `${variant}: ${host}${target} ~${Math.round(perSec * 120)} times per 2 min for ${Math.round(duration / SEC)} s`,
  };
}

// ---- signatures: an attack tool's user agent --------------------------------------
interface Tool {
  name: string;
  ua: string;
  protocol: string;
  requests(rng: Rng, site: Site): Array<[string, string, number]>;
}

const TOOLS: readonly Tool[] = [
  {
    name: 'sqlmap',
    ua: 'sqlmap/1.8.11#stable (https://sqlmap.org)',
    protocol: 'HTTP/1.1',
    // sqlmap's connection and stability checks come before any payload.
    requests: (rng) => Array.from({ length: rng.int(3, 6) }, () => ['GET', `/products?id=${rng.int(1, 40)}`, 200] as [string, string, number]),
  },
  {
    name: 'nikto',
    ua: 'Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)',
    protocol: 'HTTP/1.1',
    requests: (rng) => rng.sample([['GET', '/', 200], ['GET', '/robots.txt', 200], ['GET', '/favicon.ico', 200], ['OPTIONS', '/', 405], ['GET', '/index.html', 404], ['HEAD', '/', 200]] as Array<[string, string, number]>, rng.int(3, 6)),
  },
  {
    name: 'nmap',
    ua: 'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
    protocol: 'HTTP/1.1',
    requests: (rng) => rng.sample([['GET', '/', 200], ['OPTIONS', '/', 405], ['GET', '/robots.txt', 200], ['GET', '/favicon.ico', 200], ['POST', '/', 405]] as Array<[string, string, number]>, rng.int(2, 5)),
  },
  { name: 'masscan', ua: 'masscan/1.3 (https://github.com/robertdavidgraham/masscan)', protocol: 'HTTP/1.0', requests: () => [['GET', '/', 200]] },
  { name: 'zgrab', ua: 'Mozilla/5.0 zgrab/0.x', protocol: 'HTTP/1.1', requests: (rng) => (rng.chance(0.5) ? [['GET', '/', 200]] : [['GET', '/', 200], ['GET', '/', 200]]) },
  {
    name: 'wpscan',
    ua: 'WPScan v3.8.27 (https://wpscan.com/wordpress-security-scanner)',
    protocol: 'HTTP/1.1',
    requests: (rng) => rng.sample([['GET', '/', 200], ['GET', '/feed/', 200], ['GET', '/wp-json/', 200], ['GET', '/wp-login.php', 200], ['GET', '/wp-content/themes/twentytwentyfour/style.css?ver=1.2', 200]] as Array<[string, string, number]>, rng.int(3, 5)),
  },
];

function sigScannerUa(rng: Rng, b: PlanBuilder, start: number): AttackPlan {
  const tool = rng.pick(TOOLS);
  const site = tool.name === 'wpscan' ? SITES.blog : tool.name === 'sqlmap' ? SITES.shop : rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  let t = start;
  for (const [method, uri, status] of tool.requests(rng, site)) {
    const bytes = status === 200 ? (method === 'HEAD' ? 0 : Math.round(rng.logNormal(site.pageBytes, 0.3))) : status === 404 ? notFoundBytes(rng, site) : 166;
    b.add(t, [req(0, method, uri, status, bytes, site.dynamic && status !== 405, true)]);
    t += rng.int(50, 4_000);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua: tool.ua, protocol: tool.protocol, xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `${tool.name} against ${host}`,
  };
}

// ---- signatures: sensitive-file probes ------------------------------------------
const SENSITIVE: ReadonlyArray<[string, number]> = [
  ['/.env', 404], ['/.env.production', 404], ['/.env.bak', 404], ['/.git/config', 403], ['/.git/HEAD', 403], ['/.svn/entries', 403],
  ['/.htpasswd', 403], ['/.aws/credentials', 403], ['/.DS_Store', 403], ['/wp-config.php', 200], ['/wp-config.php.bak', 404],
  ['/wp-config.php~', 404], ['/config.php.bak', 404], ['/backup.zip', 404], ['/backup.sql', 404], ['/db.sql', 404],
  ['/database.sql.gz', 404], ['/site.tar.gz', 404], ['/phpinfo.php', 404], ['/config.json.bak', 404], ['/web.config.old', 404],
];

function sigSensitiveFiles(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const site = rng.pick(WEB_SITES);
  const host = rng.pick(site.hosts);
  const ua = rng.chance(0.4) ? 'curl/8.5.0' : rng.pick(BROWSER_UAS);
  if (withPrelude) prelude(rng, b, site, host, start - rng.int(10, 60) * SEC);
  let t = start;
  // Fewer probes than not_found_threshold: the signature alone must catch them.
  for (const [uri, st] of rng.sample(SENSITIVE, rng.int(4, 8))) {
    // nginx denies dot-files with 403; WordPress runs wp-config.php and prints nothing.
    const status = uri === '/wp-config.php' && site !== SITES.blog ? 404 : st;
    const bytes = status === 200 ? 0 : status === 403 ? NGINX_403_BYTES : notFoundBytes(rng, site);
    b.add(t, [req(0, 'GET', uri, status, bytes, status !== 403 && site.dynamic, true)]);
    t += rng.int(200, 3_000);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    alsoSignatures: [],
    description: `sensitive-file probes on ${host}`,
  };
}

// ---- signatures: traversal and injection markers -----------------------------------
// Raw and percent-encoded forms, in the path and in the query, as clients send
// them: nginx logs $request_uri undecoded, so a detector must decode to see
// them (and nginx itself answers 400 to a path that climbs above the root).
const INJECTIONS: ReadonlyArray<[string, number, 'traversal' | 'sqli' | 'xss']> = [
  ['/../../../../etc/passwd', 400, 'traversal'],
  ['/static/..%2f..%2f..%2f..%2fetc%2fpasswd', 404, 'traversal'],
  ['/download?file=../../../../etc/passwd', 404, 'traversal'],
  ['/download?file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', 404, 'traversal'],
  ['/index.php?page=..%2F..%2F..%2F..%2Fwindows%2Fwin.ini', 404, 'traversal'],
  ['/products?id=1%20UNION%20SELECT%20NULL,username,password%20FROM%20users--', 500, 'sqli'],
  ['/products?id=1+UNION+ALL+SELECT+1,2,3,4,5--+-', 500, 'sqli'],
  ["/products?id=1'%20OR%201=1--", 200, 'sqli'],
  ['/products?id=1%27%20OR%20%271%27%3D%271', 200, 'sqli'],
  ["/search?q=x'+OR+1=1--", 200, 'sqli'],
  ['/search?q=<script>alert(1)</script>', 200, 'xss'],
  ['/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E', 200, 'xss'],
  ['/search?q="><script>alert(1)</script>', 200, 'xss'],
];

function sigInjection(rng: Rng, b: PlanBuilder, start: number, withPrelude: boolean): AttackPlan {
  const site = SITES.shop;
  const host = rng.pick(site.hosts);
  const ua = rng.chance(0.3) ? 'curl/8.5.0' : rng.pick(BROWSER_UAS);
  if (withPrelude) prelude(rng, b, site, host, start - rng.int(10, 60) * SEC);
  let t = start;
  let traversal = false;
  for (const [uri, status, cls] of rng.sample(INJECTIONS, rng.int(3, 7))) {
    traversal ||= cls === 'traversal';
    const bytes = status === 400 ? NGINX_400_BYTES : status === 404 ? notFoundBytes(rng, site) : rng.int(2_000, 40_000);
    b.add(t, [req(0, 'GET', uri, status, bytes, status !== 400, true)]);
    t += rng.int(300, 4_000);
  }
  return {
    spec: { node: rng.pick(NODES), host, deployment: site.deployment, ua, protocol: 'HTTP/1.1', xff: '' },
    plan: b.plan,
    // /etc/passwd and win.ini are sensitive files too.
    alsoSignatures: traversal ? ['signature:sensitive_file'] : [],
    description: `traversal/injection payloads on ${host}`,
  };
}

/**
 * The attack starts at `start` (its first attack request); a benign-looking
 * prelude, when there is one, comes shortly before and never before `notBefore`.
 */
export function planAttack(kind: AttackKind, rng: Rng, start: number, notBefore: number): AttackPlan {
  const b = new PlanBuilder(start, undefined);
  const withPrelude = start - 90 * SEC > notBefore && rng.chance(0.5);
  switch (kind) {
    case 'flood':
      return flood(rng, b, start, withPrelude);
    case 'not_found':
      return notFound(rng, b, start, withPrelude);
    case 'brute_force':
      return bruteForce(rng, b, start, withPrelude);
    case 'scanner':
      return scanner(rng, b, start, withPrelude);
    case 'repeated_hits':
      return repeatedHits(rng, b, start, withPrelude);
    case 'sig_scanner_ua':
      return sigScannerUa(rng, b, start);
    case 'sig_sensitive_files':
      return sigSensitiveFiles(rng, b, start, withPrelude);
    case 'sig_injection':
      return sigInjection(rng, b, start, withPrelude);
  }
}
