// Cost of one security_filter evaluation in the detector (budget: a few
// hundred ns per request when no rule matches), for a small rule set and for
// the 100-rule set the enforcement benchmark uses (issue #6), on requests that
// match nothing and on requests that match; plus the worst case a hostile user
// agent can force on a star-heavy wildcard.
//
//   node dist/loadtest/security-filter.bench.js [N]     (N evaluations per case, default 2000000)
import os from 'node:os';
import { compileRuleSet, type FilterRule, type RuleSet, type SecurityFilterEngine, type SecurityFilterRequest } from '../shared/security-filter/index.js';
import { Rng } from './generator/prng.js';
import { figure } from './report-figures.js';

const N = Number.parseInt(process.argv[2] ?? '2000000', 10);
if (!Number.isInteger(N) || N <= 0) {
  console.error('usage: node dist/loadtest/security-filter.bench.js [N]   (N > 0)');
  process.exit(2);
}
const POOL = 1024; // power of two: index with a mask
const MASK = POOL - 1;

// The traffic generator's seeded PRNG: figures are reproducible run to run.
const rng = new Rng(0x2545f491);
const rand = (): number => rng.float();
const int = (n: number): number => Math.floor(rand() * n);
function pick<T>(xs: readonly T[]): T {
  return xs[int(xs.length)]!;
}

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
];
const BENIGN_COUNTRIES = ['US', 'DE', 'FR', 'GB', 'NL', 'JP', 'BR', 'IN', null];
const HOSTS = ['shop.example', 'blog.example', 'api.example', 'www.example'];
const PATHS = ['/', '/products/42', '/cart', '/api/v1/items', '/static/app.js', '/blog/2026/11/post'];

function benignIp(): string {
  return rand() < 0.7 ? `${11 + int(100)}.${int(256)}.${int(256)}.${int(256)}` : `2a02:${int(0xffff).toString(16)}:${int(0xffff).toString(16)}::${int(0xffff).toString(16)}`;
}

/** 100 rules across the levels: user agents exact and wildcard, countries, address blocks. */
function largeRuleSet(): RuleSet {
  const rules = (prefix: string, n: number): FilterRule[] =>
    Array.from({ length: n }, (_, i): FilterRule => {
      const kind = i % 4;
      const id = `${prefix}-${i}`;
      if (kind === 0) return { id, match: { user_agents: [`BadBot-${i}/1.0`, `*scraper-${i}*`, `evil-${i}/?.*`] }, response_handling: { on_filtered: 'BLOCK' } };
      if (kind === 1) return { id, match: { geo: [{ COUNTRY_CODE: pick(['CN', 'RU', 'KP', 'IR']) }] }, except: { ips: [`10.${i}.0.0/16`] } };
      if (kind === 2) return { id, match: { ips: Array.from({ length: 20 }, (_, k) => `198.51.${(i * 20 + k) % 256}.${k * 8}/29`).concat([`2001:db8:${i.toString(16)}::/48`]) } };
      return { id, match: { user_agents: ['curl/*', 'python-requests/*'], geo: [{ COUNTRY_CODE: 'CN' }] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 429 } };
    });
  return {
    version: 1,
    property: { enabled: true, filter_rules: rules('p', 40) },
    domains: { 'shop.example': { enabled: true, filter_rules: rules('d', 40) }, 'blog.example': { enabled: false } },
    paths: [
      { host: 'shop.example', path: '/admin', security_filter: { enabled: true, filter_rules: rules('a', 10) } },
      { path: '/api/*/internal', security_filter: { enabled: true, filter_rules: rules('i', 10) } },
      { path: '/static/', security_filter: { enabled: false } },
    ],
  };
}

const small: RuleSet = {
  version: 1,
  property: {
    enabled: true,
    filter_rules: [
      { id: 'scanners', match: { user_agents: ['sqlmap*', '*nikto*', 'masscan/?.*'] }, response_handling: { on_filtered: 'BLOCK' } },
      { id: 'embargo', match: { geo: [{ COUNTRY_CODE: 'KP' }, { COUNTRY_CODE: 'IR' }] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 451 } },
      { id: 'abuse-net', match: { ips: ['198.51.100.0/24', '2001:db8:bad::/48'] } },
    ],
  },
};

/** A bad-bot list as operators copy them: 600 `*Name*` patterns in one rule. */
function botList(): RuleSet {
  const names = Array.from({ length: 600 }, (_, i) => `*${['Scan', 'Crawl', 'Grab', 'Spider', 'Harvest'][i % 5]}${String.fromCharCode(65 + (i % 26))}${i}Bot*`);
  names[0] = '*AhrefsBot*';
  return { version: 1, property: { enabled: true, filter_rules: [{ id: 'bad-bots', match: { user_agents: names }, response_handling: { on_filtered: 'BLOCK' } }] } };
}

function bots(): SecurityFilterRequest[] {
  return benign().map((r, i) => (i % 2 === 0 ? { ...r, user_agent: `Mozilla/5.0 (compatible; ${i % 4 === 0 ? 'AhrefsBot/7.0' : 'CrawlB1Bot/2'}; +http://example.com/bot)` } : r));
}

function benign(): SecurityFilterRequest[] {
  return Array.from({ length: POOL }, () => ({ host: pick(HOSTS), path: pick(PATHS), user_agent: pick(BROWSERS), country: pick(BENIGN_COUNTRIES), ip: benignIp() }));
}

function attackers(): SecurityFilterRequest[] {
  return Array.from({ length: POOL }, (_, i) => {
    const r = { host: pick(HOSTS), path: pick(PATHS), user_agent: pick(BROWSERS), country: pick(BENIGN_COUNTRIES), ip: benignIp() };
    if (i % 3 === 0) r.user_agent = pick(['sqlmap/1.7.2#stable', 'Mozilla/5.0 (compatible; Nikto/2.5)', 'BadBot-0/1.0', 'x-scraper-8-y', 'curl/8.4.0']);
    if (i % 3 === 1) r.country = pick(['CN', 'KP', 'IR', 'RU']);
    if (i % 3 === 2) r.ip = pick(['198.51.100.9', '198.51.2.9', '2001:db8:bad::7', '2001:db8:2::1']);
    if (i % 3 === 0 && r.user_agent === 'curl/8.4.0') r.country = 'CN';
    return r;
  });
}

/**
 * Best and median of 5 rounds: the machine is shared, and the best round is the
 * one least disturbed by others (the median shows how disturbed the rest were).
 */
function measure(engine: SecurityFilterEngine, reqs: SecurityFilterRequest[], n: number): { best: number; median: number; matched: number } {
  let matched = 0;
  for (let i = 0; i < Math.min(n, 200_000); i++) if (engine.evaluate(reqs[i & MASK]!).action !== 'none') matched++; // warm-up
  const per = Math.max(1, Math.floor(n / 5));
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    matched = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < per; i++) if (engine.evaluate(reqs[i & MASK]!).action !== 'none') matched++;
    rounds.push(Number(process.hrtime.bigint() - t0) / per);
  }
  rounds.sort((a, b) => a - b);
  return { best: rounds[0]!, median: rounds[2]!, matched: matched / per };
}

console.log(`security_filter evaluation — node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, load ${os.loadavg()[0]!.toFixed(1)}, ${N} evaluations per case in 5 rounds`);
const cases: Array<[string, SecurityFilterEngine, SecurityFilterRequest[]]> = [
  ['no rule set', compileRuleSet(null), benign()],
  ['3 rules, no match', compileRuleSet(small), benign()],
  ['3 rules, matching requests', compileRuleSet(small), attackers()],
  ['100 rules over 3 levels, no match', compileRuleSet(largeRuleSet()), benign()],
  ['100 rules over 3 levels, matching requests', compileRuleSet(largeRuleSet()), attackers()],
  ['600 *bot* patterns, no match', compileRuleSet(botList()), benign()],
  ['600 *bot* patterns, half matching', compileRuleSet(botList()), bots()],
];
for (const [name, engine, reqs] of cases) {
  const r = measure(engine, reqs, N);
  console.log(`  ${name.padEnd(44)} ${r.best.toFixed(0).padStart(6)} ns/evaluation (median ${r.median.toFixed(0)})   ${(r.matched * 100).toFixed(0)}% filtered`);
  // The budget: a few hundred ns per request when no rule matches.
  const noMatch = name.endsWith('no match');
  figure({ bench: 'security-filter', name, value: r.best, unit: 'ns/evaluation', better: 'lower', ...(noMatch ? { aim: 500 } : {}), note: `median ${r.median.toFixed(0)} ns${noMatch ? '; aim "a few hundred ns" read as 500' : ''}` });
}

// A hostile 8 KiB user agent against a star-heavy wildcard: linear, not polynomial, in the stars.
const hostile = compileRuleSet({ version: 1, property: { enabled: true, filter_rules: [{ id: 'stars', match: { user_agents: ['*a*a*a*a*a*a*a*a*b'] } }] } });
const ua = 'a'.repeat(8192);
const reqs = Array.from({ length: POOL }, () => ({ host: 'h', path: '/', user_agent: ua, country: null, ip: '192.0.2.1' }));
const r = measure(hostile, reqs, Math.max(1, Math.floor(N / 1000)));
console.log(`  ${'hostile 8 KiB UA vs *a*a*a*a*a*a*a*a*b'.padEnd(44)} ${(r.best / 1000).toFixed(1).padStart(6)} µs/evaluation (median ${(r.median / 1000).toFixed(1)})`);
figure({ bench: 'security-filter', name: 'hostile 8 KiB UA vs *a*a*a*a*a*a*a*a*b', value: r.best / 1000, unit: 'µs/evaluation', better: 'lower' });
