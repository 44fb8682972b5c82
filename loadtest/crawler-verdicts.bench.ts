// The cost of publishing crawler verdicts (services/detector/crawlers/report.ts)
// on the detector's per-request path: every request's crawler check goes
// through the VerdictReporter. Measured against the same check without it
// (a BASELINE, not a peer: what the reporter adds, nothing more), for
// browsers (no claim: the common case), a verified crawler's repeated
// requests (the publish-once path), and a forged flood (every request a new
// address claiming Googlebot, each already refuted: the worst case, as if DNS
// answered at once). The verifier is a fixed stand-in here so no DNS timing
// enters the figures; the real verifier rations lookups (lookups_per_second),
// which bounds new verdicts further. Wall-clock ns per request, best of the
// rounds; records published per request.
//
//   node dist/loadtest/crawler-verdicts.bench.js [REQUESTS]   (default 1000000 a round; 5 rounds)
import { VerdictReporter, type VerdictSource } from '../services/detector/crawlers/report.js';
import type { CrawlerVerdict } from '../services/detector/crawlers/verify.js';
import { figure } from './report-figures.js';

const REQUESTS = Number.parseInt(process.argv[2] ?? '1000000', 10);
if (!(REQUESTS > 0)) {
  console.error('usage: node dist/loadtest/crawler-verdicts.bench.js [REQUESTS]');
  process.exit(2);
}
const ROUNDS = 5;
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const OPTS = { max_entries: 100_000, verified_ttl_ms: 86_400_000, failed_ttl_ms: 3_600_000 };

const NOT_CLAIMED: CrawlerVerdict = { status: 'not-claimed' };
const VERIFIED: CrawlerVerdict = { status: 'verified', crawler: 'googlebot', hostname: 'crawl-66-249-66-1.googlebot.com' };
const FAILED: CrawlerVerdict = { status: 'failed', crawler: 'googlebot', hostname: 'crawl-203-0-113-8.googlebot.com' };
const source: VerdictSource = { check: (_ip, ua) => (ua === GOOGLEBOT ? (_ip.startsWith('66.') ? VERIFIED : FAILED) : NOT_CLAIMED) };

const ips = Array.from({ length: 65_536 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.1`);
const forged = Array.from({ length: REQUESTS }, (_, i) => `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

type Check = (ip: string, ua: string) => CrawlerVerdict;

/** Best ns per request over the rounds, and what the last round published. */
function measure(make: () => { check: Check; drain?: () => number }, ip: (i: number) => string, ua: string): { ns: number; published: number } {
  let best = Infinity;
  let published = 0;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const c = make();
    published = 0;
    const s = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) {
      if (c.check(ip(i), ua).status === 'verified') sink++;
      // The worker drains once per task (a batch); a task of 5000 records.
      if (c.drain && i % 5000 === 4999) published += c.drain();
    }
    if (c.drain) published += c.drain();
    best = Math.min(best, Number(process.hrtime.bigint() - s) / REQUESTS);
  }
  if (sink < 0) console.log(sink);
  return { ns: best, published };
}

const bare = (): { check: Check } => ({ check: (ip, ua) => source.check(ip, ua) });
const reporting = (): { check: Check; drain: () => number } => {
  const r = new VerdictReporter(source, OPTS);
  return { check: (ip, ua) => r.check(ip, ua, 'shop'), drain: () => r.drain().verdicts.length };
};

const cases: Array<{ name: string; ip: (i: number) => string; ua: string }> = [
  { name: 'browser (no claim)', ip: (i) => ips[i & 65_535] as string, ua: BROWSER },
  { name: 'verified crawler, repeated requests', ip: () => '66.249.66.1', ua: GOOGLEBOT },
  { name: 'forged flood, a new address each request', ip: (i) => forged[i] as string, ua: GOOGLEBOT },
];
console.log(`crawler verdicts: ${REQUESTS} requests a round, best of ${ROUNDS}`);
console.log('case                                          check alone   with reporter   published');
for (const c of cases) {
  const base = measure(bare, c.ip, c.ua);
  const rep = measure(reporting, c.ip, c.ua);
  console.log(`${c.name.padEnd(44)} ${base.ns.toFixed(1).padStart(8)} ns   ${rep.ns.toFixed(1).padStart(10)} ns   ${rep.published}`);
  figure({ bench: 'crawler-verdicts', name: `crawler check with verdict reporting: ${c.name}`, value: Number(rep.ns.toFixed(1)), unit: 'ns/request', peer: { name: 'the check alone (baseline, not a peer)', value: Number(base.ns.toFixed(1)) }, better: 'lower' });
  figure({ bench: 'crawler-verdicts', name: `verdicts published: ${c.name}`, value: rep.published, unit: `records per ${REQUESTS} requests`, better: 'lower', note: 'bounded per task drain by detection.crawlers.max_entries; the real verifier also rations new verdicts (lookups_per_second)' });
}
