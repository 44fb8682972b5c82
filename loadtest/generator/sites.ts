// The fleet the generated traffic visits: four deployments behind four edge
// nodes, each with its own pages, static assets, stale links and login route.
// Everything here is built once from a fixed seed, so a path list never depends
// on the run's seed (only which paths a client picks does).
//
// Benign paths and user agents are chosen so that no request signature can
// match them: no `..`, no `%2e`, no SQL or script markers, no dot-files, no
// backup or config file names, no attack-tool user agents. Attack markers
// only appear in attackers' requests (attacks.ts).
import { Rng, Weighted } from './prng.js';
import { BROWSER_UAS } from '../../services/cli/demo-site.js';

export const NODES = ['edge-fra-1', 'edge-fra-2', 'edge-ams-1', 'edge-ams-2'] as const;

export interface Asset {
  uri: string;
  bytes: number;
}

export interface LoginRoute {
  /** GET: the form. */
  page: string;
  /** POST: the credentials. */
  post: string;
  /** What a failed login answers (the auth_failure signal). */
  failStatus: 401 | 403;
  okStatus: number;
}

export interface Site {
  deployment: string;
  hosts: readonly string[];
  /** Where a session starts. */
  landing(rng: Rng): string;
  /** Any page a reader moves on to. */
  page(rng: Rng): string;
  /** Loaded with the first page of a session (then cached by the browser). */
  assets: readonly Asset[];
  /** Images of one page, beyond the shared assets. */
  images(uri: string, rng: Rng): Asset[];
  /** Links that answer 404 for ordinary visitors (stale bookmarks, removed items, old builds). */
  missing: readonly string[];
  /** Many dead links of the same kind, for the not_found attacker's broken client. */
  deadLinks: readonly string[];
  login: LoginRoute | undefined;
  /** Pages are proxied to an application (they have an upstream time). */
  dynamic: boolean;
  pageBytes: number;
  /** The path an uptime monitor checks, and how. */
  health: { method: 'GET' | 'HEAD'; uri: string; bytes: number };
}

const ADJECTIVES = [
  'alpine', 'amber', 'arctic', 'autumn', 'bold', 'breezy', 'classic', 'coastal', 'cosy', 'crimson', 'dusty', 'urban',
  'evergreen', 'field', 'forest', 'golden', 'harbour', 'highland', 'indigo', 'ivory', 'lunar', 'meadow', 'midnight',
  'misty', 'nordic', 'ocean', 'olive', 'prairie', 'quiet', 'rustic', 'sandy', 'silver', 'slate', 'solar', 'spring',
  'stone', 'summer', 'timber', 'velvet', 'wild', 'winter', 'woven',
];
const NOUNS = [
  'anorak', 'backpack', 'beanie', 'blanket', 'boots', 'cardigan', 'chinos', 'duffel', 'gloves', 'hoodie', 'jacket',
  'jumper', 'lantern', 'loafers', 'mittens', 'mug', 'parka', 'poncho', 'sandals', 'scarf', 'shirt', 'sneakers',
  'socks', 'tote', 'trainers', 'umbrella', 'vest', 'wallet', 'watch', 'bottle',
];
const TOPICS = [
  'caching', 'rate-limits', 'tls', 'http2', 'logging', 'observability', 'kafka', 'clickhouse', 'deployments',
  'rollbacks', 'feature-flags', 'queues', 'backpressure', 'retries', 'timeouts', 'indexes', 'migrations', 'sharding',
  'replication', 'dns', 'cdn', 'compression', 'websockets', 'cron', 'secrets', 'containers', 'benchmarks', 'profiling',
];

function slugs(rng: Rng, n: number, a: readonly string[], b: readonly string[]): string[] {
  const out = new Set<string>();
  while (out.size < n) out.add(`${rng.pick(a)}-${rng.pick(b)}`);
  return [...out];
}

function hash8(rng: Rng): string {
  return rng.u32().toString(16).padStart(8, '0');
}

const fixed = new Rng(0x5eed5175);

// ---- shop.example.com: a dynamic web shop ------------------------------------
const PRODUCTS = slugs(fixed, 160, ADJECTIVES, NOUNS);
const DISCONTINUED = slugs(fixed, 40, ADJECTIVES, NOUNS).filter((s) => !PRODUCTS.includes(s));
const CATEGORIES = ['shoes', 'jackets', 'bags', 'accessories', 'kids', 'home', 'outdoor', 'sale', 'new-in', 'gifts'];
const SEARCHES = ['boots', 'rain+jacket', 'wool+socks', 'backpack', 'gift+card', 'linen+shirt', 'sneakers', 'scarf', 'water+bottle', 'umbrella', 'kids+boots', 'parka'];
const SHOP_BUILD = hash8(fixed);
const SHOP_STALE_BUILD = hash8(fixed);

const shopPages = new Weighted<(r: Rng) => string>([
  [() => '/', 18],
  [(r) => `/products/${r.pick(PRODUCTS)}`, 40],
  [(r) => `/category/${r.pick(CATEGORIES)}`, 14],
  [(r) => `/category/${r.pick(CATEGORIES)}?page=${r.int(2, 5)}`, 4],
  [(r) => `/search?q=${r.pick(SEARCHES)}`, 8],
  [() => '/cart', 6],
  [() => '/products', 3],
  [() => '/checkout', 2],
  [() => '/about', 1],
  [() => '/contact', 1],
  [() => '/shipping', 1],
]);
const shopLanding = new Weighted<(r: Rng) => string>([
  [() => '/', 50],
  [(r) => `/products/${r.pick(PRODUCTS)}`, 35],
  [(r) => `/category/${r.pick(CATEGORIES)}`, 15],
]);

export const SHOP_PRODUCTS: readonly string[] = PRODUCTS;

const shop: Site = {
  deployment: 'shop',
  hosts: ['shop.example.com', 'www.example.com'],
  landing: (r) => shopLanding.pick(r)(r),
  page: (r) => shopPages.pick(r)(r),
  assets: [
    { uri: `/static/css/main.${SHOP_BUILD}.css`, bytes: 48213 },
    { uri: `/static/js/main.${SHOP_BUILD}.js`, bytes: 183422 },
    { uri: `/static/js/vendor.${hash8(fixed)}.js`, bytes: 402115 },
    { uri: '/static/img/logo.svg', bytes: 3391 },
    { uri: '/static/fonts/inter-var.woff2', bytes: 98328 },
    { uri: '/favicon.ico', bytes: 15086 },
  ],
  images(uri, r) {
    if (uri.startsWith('/products/')) return [{ uri: `/media/products/${uri.slice(10)}-800.webp`, bytes: r.int(60_000, 180_000) }];
    if (uri.startsWith('/category/')) {
      const a = r.int(0, PRODUCTS.length - 1);
      const b = (a + r.int(1, PRODUCTS.length - 1)) % PRODUCTS.length;
      return [a, b].map((i) => ({ uri: `/media/products/${PRODUCTS[i] as string}-400.webp`, bytes: r.int(18_000, 45_000) }));
    }
    if (uri === '/') return [{ uri: '/media/banners/winter-2026.webp', bytes: 212_448 }];
    return [];
  },
  missing: [
    '/apple-touch-icon.png',
    '/apple-touch-icon-precomposed.png',
    `/static/js/main.${SHOP_STALE_BUILD}.js`,
    ...DISCONTINUED.slice(0, 6).map((p) => `/products/${p}`),
  ],
  deadLinks: [
    ...DISCONTINUED.map((p) => `/products/${p}`),
    ...DISCONTINUED.map((p) => `/media/products/${p}-800.webp`),
  ],
  login: { page: '/login', post: '/login', failStatus: 401, okStatus: 302 },
  dynamic: true,
  pageBytes: 38_000,
  health: { method: 'GET', uri: '/healthz', bytes: 2 },
};

// ---- blog.example.org: WordPress -------------------------------------------
const POSTS = slugs(fixed, 90, ADJECTIVES, TOPICS).map((s, i) => `/${2024 + (i % 3)}/${String(1 + (i % 12)).padStart(2, '0')}/${s}/`);
const DELETED_POSTS = slugs(fixed, 30, TOPICS, NOUNS).map((s, i) => `/${2023 + (i % 2)}/${String(1 + (i % 12)).padStart(2, '0')}/${s}/`);
const BLOG_CATEGORIES = ['engineering', 'operations', 'security', 'release-notes', 'culture', 'tutorials'];
const BLOG_SEARCHES = ['kafka', 'nginx', 'latency', 'postgres', 'caching', 'tls', 'docker', 'grafana'];

const blogPages = new Weighted<(r: Rng) => string>([
  [() => '/', 16],
  [(r) => r.pick(POSTS), 56],
  [(r) => `/category/${r.pick(BLOG_CATEGORIES)}/`, 10],
  [(r) => `/page/${r.int(2, 9)}/`, 6],
  [(r) => `/?s=${r.pick(BLOG_SEARCHES)}`, 3],
  [() => '/about/', 2],
]);

export const BLOG_POSTS: readonly string[] = POSTS;

const blog: Site = {
  deployment: 'blog',
  hosts: ['blog.example.org'],
  landing: (r) => (r.chance(0.6) ? r.pick(POSTS) : '/'),
  page: (r) => blogPages.pick(r)(r),
  assets: [
    { uri: '/wp-content/themes/twentytwentyfour/style.css?ver=1.2', bytes: 21470 },
    { uri: '/wp-includes/css/dist/block-library/style.min.css?ver=6.7.1', bytes: 116892 },
    { uri: '/wp-includes/js/jquery/jquery.min.js?ver=3.7.1', bytes: 87533 },
    { uri: '/wp-includes/js/jquery/jquery-migrate.min.js?ver=3.4.1', bytes: 13577 },
    { uri: '/wp-content/themes/twentytwentyfour/assets/fonts/inter/Inter-VariableFont_slnt,wght.woff2', bytes: 325_424 },
    { uri: '/favicon.ico', bytes: 5430 },
  ],
  images(uri, r) {
    if (/^\/20\d\d\//.test(uri)) {
      const parts = uri.split('/');
      return [{ uri: `/wp-content/uploads/${parts[1] ?? '2025'}/${parts[2] ?? '01'}/${parts[3] ?? 'cover'}-1024x576.jpg`, bytes: r.int(70_000, 240_000) }];
    }
    return [];
  },
  missing: ['/apple-touch-icon.png', '/apple-touch-icon-precomposed.png', ...DELETED_POSTS.slice(0, 6)],
  deadLinks: [...DELETED_POSTS, ...DELETED_POSTS.map((p) => `${p}feed/`)],
  login: { page: '/wp-login.php', post: '/wp-login.php', failStatus: 403, okStatus: 302 },
  dynamic: true,
  pageBytes: 52_000,
  health: { method: 'HEAD', uri: '/', bytes: 0 },
};

// ---- docs.example.com: a static documentation site ---------------------------
const GUIDES = slugs(fixed, 60, ['getting-started', 'configure', 'deploy', 'tune', 'monitor', 'secure', 'upgrade', 'scale'], TOPICS);
const REFERENCES = slugs(fixed, 40, ['api', 'cli', 'config', 'metrics', 'schema'], TOPICS);
const DOCS_BUILD = hash8(fixed);

const docsPages = new Weighted<(r: Rng) => string>([
  [() => '/', 8],
  [(r) => `/guide/${r.pick(GUIDES)}/`, 52],
  [(r) => `/reference/${r.pick(REFERENCES)}/`, 34],
  [() => '/changelog/', 4],
  [() => '/search/', 2],
]);

const docs: Site = {
  deployment: 'docs',
  hosts: ['docs.example.com'],
  landing: (r) => (r.chance(0.7) ? `/guide/${r.pick(GUIDES)}/` : '/'),
  page: (r) => docsPages.pick(r)(r),
  assets: [
    { uri: `/assets/css/docs.${DOCS_BUILD}.css`, bytes: 61_204 },
    { uri: `/assets/js/docs.${DOCS_BUILD}.js`, bytes: 142_881 },
    { uri: `/assets/js/search.${hash8(fixed)}.js`, bytes: 38_019 },
    { uri: '/assets/img/logo.svg', bytes: 4_112 },
    { uri: '/favicon.svg', bytes: 1_208 },
  ],
  images(uri, r) {
    if (uri.startsWith('/guide/') && r.chance(0.4)) return [{ uri: `/assets/img/diagrams/${uri.split('/')[2] ?? 'overview'}.svg`, bytes: r.int(8_000, 40_000) }];
    if (uri === '/search/') return [{ uri: '/assets/search-index.json', bytes: 1_402_117 }];
    return [];
  },
  missing: ['/apple-touch-icon.png', '/favicon.ico', ...REFERENCES.slice(0, 5).map((r) => `/reference/v1/${r}/`)],
  deadLinks: [...REFERENCES.map((r) => `/reference/v1/${r}/`), ...GUIDES.map((g) => `/v1/guide/${g}/`)],
  login: undefined,
  dynamic: false,
  pageBytes: 24_000,
  health: { method: 'HEAD', uri: '/', bytes: 0 },
};

// ---- api.example.net: the shop's JSON API for its mobile apps -----------------
const api: Site = {
  deployment: 'api',
  hosts: ['api.example.net'],
  landing: () => '/api/v1/products?page=1&per_page=24',
  page: (r) => apiCall(r).uri,
  assets: [],
  images: () => [],
  missing: ['/api/v1/products/0'],
  deadLinks: [
    '/api/v1/legacy/feed',
    '/api/v1/legacy/recommendations',
    '/api/v1/promotions/black-friday-2025',
    '/api/v1/stores/nearby',
    '/api/v1/wishlist/sync',
    '/api/v1/loyalty/points',
    '/api/v1/push/register',
    '/api/v1/config/mobile-v3',
    '/api/v0/session',
    '/api/v0/products',
  ],
  login: { page: '/api/auth/token', post: '/api/auth/token', failStatus: 401, okStatus: 200 },
  dynamic: true,
  pageBytes: 9_000,
  health: { method: 'GET', uri: '/healthz', bytes: 2 },
};

export interface ApiCall {
  method: 'GET' | 'POST';
  uri: string;
  bytes: number;
}

const apiCalls = new Weighted<(r: Rng) => ApiCall>([
  [(r) => ({ method: 'GET', uri: `/api/v1/products?page=${r.int(1, 8)}&per_page=24`, bytes: r.int(9_000, 16_000) }), 30],
  [(r) => ({ method: 'GET', uri: `/api/v1/products/${r.int(1000, 1160)}`, bytes: r.int(2_000, 5_000) }), 30],
  [() => ({ method: 'GET', uri: '/api/v1/categories', bytes: 1_840 }), 6],
  [(r) => ({ method: 'GET', uri: '/api/v1/cart', bytes: r.int(200, 2_400) }), 12],
  [(r) => ({ method: 'POST', uri: '/api/v1/cart/items', bytes: r.int(300, 900) }), 6],
  [(r) => ({ method: 'GET', uri: '/api/v1/me', bytes: r.int(400, 700) }), 4],
]);

export function apiCall(rng: Rng): ApiCall {
  return apiCalls.pick(rng)(rng);
}

export const SITES = { shop, blog, docs, api } as const;
export type SiteName = keyof typeof SITES;

/** Where browser sessions go. */
export const BROWSER_SITES = new Weighted<Site>([
  [shop, 45],
  [blog, 30],
  [docs, 25],
]);

/** Every site a client outside the app can reach. */
export const WEB_SITES: readonly Site[] = [shop, blog, docs];
export const ALL_SITES: readonly Site[] = [shop, blog, docs, api];

export const SHOP_ADMIN_PAGES = ['/admin/', '/admin/orders', '/admin/products', '/admin/customers', '/admin/reports/sales'];
export const SHOP_STAFF = ['alice', 'bob', 'chen', 'dana', 'emeka'];

export const WP_ADMIN_ASSETS: readonly Asset[] = [
  { uri: '/wp-admin/css/login.min.css?ver=6.7.1', bytes: 31_205 },
  { uri: '/wp-includes/css/dashicons.min.css?ver=6.7.1', bytes: 59_016 },
];

export const SEARCH_REFERERS = ['https://www.google.com/', 'https://www.bing.com/', 'https://duckduckgo.com/', 'https://www.ecosia.org/'];

// ---- user agents --------------------------------------------------------------
// The browsers' list is the demo's (product code), kept in one place.
export { BROWSER_UAS };
export const isIosUa = (ua: string): boolean => ua.includes('iPhone') || ua.includes('iPad');

export const CRAWLER_UAS: readonly string[] = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
  'DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
];

export const PREVIEW_UAS: readonly string[] = [
  'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
  'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  'Twitterbot/1.0',
  'WhatsApp/2.24.22.79 A',
  'TelegramBot (like TwitterBot)',
  'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)',
  'LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)',
];

export const FEED_UAS: readonly string[] = [
  'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 14 subscribers; like FeedFetcher-Google)',
  'Miniflux/2.2.3 (https://miniflux.app)',
  'FreshRSS/1.24.3 (Linux; https://freshrss.org)',
  'NetNewsWire (RSS Reader; https://netnewswire.com/)',
  'Tiny Tiny RSS/24.11 (https://tt-rss.org/)',
];

export const APP_UAS = new Weighted<string>([
  ['okhttp/4.12.0', 30],
  ['ShopApp/5.4.0 (com.example.shop; build:5400; iOS 18.1.0) Alamofire/5.9.1', 30],
  ['ShopApp/5.3.2 (com.example.shop; build:5320; iOS 17.6.1) Alamofire/5.9.1', 10],
  ['ShopApp/5.4.0 (Android 14; Pixel 8; build 5400)', 20],
  ['Dart/3.5 (dart:io)', 6],
  // A partner's app whose name is not ASCII: its bytes reach the log as they came.
  ['Boutique Élégance/2.1 (iPhone; iOS 18.1; Scale/3.00)', 2],
  ['ストアアプリ/1.8.2 CFNetwork/1568.200.51 Darwin/24.1.0', 2],
]);

export const MONITOR_UAS: readonly string[] = [
  'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)',
  'Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)',
  'Blackbox Exporter/0.25.0',
  'kube-probe/1.31',
];
