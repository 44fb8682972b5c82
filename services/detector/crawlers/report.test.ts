// VerdictReporter (report.ts), as a unit: the verifier is a stand-in whose
// answers the test sets, the clock is the test's. What leaves the detector is
// one record per address, claimed crawler and verdict, not one per request.
// (The real verifier, DNS and pipeline: crawlers/published.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerdictReporter, type VerdictSource } from './report.js';
import type { CrawlerVerdict } from './verify.js';

const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BINGBOT = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';

/** Answers what `answers` holds for ip + claimed crawler; counts the questions. */
function stand(): VerdictSource & { answers: Map<string, CrawlerVerdict>; asked: number } {
  const answers = new Map<string, CrawlerVerdict>();
  const s = {
    answers,
    asked: 0,
    check(ip: string, ua: string | undefined): CrawlerVerdict {
      s.asked++;
      const crawler = ua === GOOGLEBOT ? 'Googlebot' : ua === BINGBOT ? 'Bingbot' : undefined;
      if (crawler === undefined) return { status: 'not-claimed' };
      return answers.get(`${ip} ${crawler}`) ?? { status: 'pending', crawler };
    },
  };
  return s;
}

const opts = { max_entries: 100, verified_ttl_ms: 86_400_000, failed_ttl_ms: 3_600_000 };

test('a verdict is published once per address, not per request; pending and unclaimed never', () => {
  const src = stand();
  let now = 1_000;
  const r = new VerdictReporter(src, opts, () => now);
  assert.equal(r.check('10.0.0.1', 'curl/8', 'shop').status, 'not-claimed');
  assert.equal(r.check('66.249.66.1', GOOGLEBOT, 'shop').status, 'pending');
  assert.deepEqual(r.drain(), { verdicts: [], dropped: 0 });

  src.answers.set('66.249.66.1 Googlebot', { status: 'verified', crawler: 'Googlebot', hostname: 'crawl-66-249-66-1.googlebot.com' });
  now = 2_000;
  // The lookup ended: the claim that waited for it is reported without another request.
  r.settled('66.249.66.1');
  const expected = { ip: '66.249.66.1', crawler: 'Googlebot', hostname: 'crawl-66-249-66-1.googlebot.com', status: 'verified', ts: 2_000, first_ts: 2_000, deployment: 'shop' };
  assert.deepEqual(r.drain(), { verdicts: [expected], dropped: 0 });
  for (let i = 0; i < 1000; i++) {
    now += 1000;
    assert.equal(r.check('66.249.66.1', GOOGLEBOT, 'shop').status, 'verified');
  }
  assert.deepEqual(r.drain().verdicts, [], '1000 more requests, no second record');
  r.settled('66.249.66.1');
  assert.deepEqual(r.drain().verdicts, [], 'nothing waited');
});

test('a changed verdict is published again; the same one after the verifier\'s TTL, keeping its first time', () => {
  const src = stand();
  let now = 0;
  const r = new VerdictReporter(src, opts, () => now);
  src.answers.set('203.0.113.7 Googlebot', { status: 'failed', crawler: 'Googlebot', hostname: 'crawl-203-0-113-8.googlebot.com' });
  r.check('203.0.113.7', GOOGLEBOT);
  const [first] = r.drain().verdicts;
  assert.deepEqual(first, { ip: '203.0.113.7', crawler: 'Googlebot', hostname: 'crawl-203-0-113-8.googlebot.com', status: 'failed', ts: 0, first_ts: 0, deployment: null });

  now = opts.failed_ttl_ms - 1;
  r.check('203.0.113.7', GOOGLEBOT);
  assert.deepEqual(r.drain().verdicts, []);
  now = opts.failed_ttl_ms;
  r.check('203.0.113.7', GOOGLEBOT, '');
  assert.deepEqual(r.drain().verdicts.map((v) => [v.status, v.ts, v.first_ts]), [['failed', opts.failed_ttl_ms, 0]], 'renewed: the verifier looked it up again');

  now += 10;
  src.answers.set('203.0.113.7 Googlebot', { status: 'verified', crawler: 'Googlebot', hostname: 'crawl-203-0-113-7.googlebot.com' });
  r.check('203.0.113.7', GOOGLEBOT);
  assert.deepEqual(r.drain().verdicts.map((v) => [v.status, v.hostname, v.first_ts]), [['verified', 'crawl-203-0-113-7.googlebot.com', now]], 'a new verdict starts its own first time');
});

test('one address alternating two claimed crawlers publishes one record per crawler, not per request', () => {
  const src = stand();
  const r = new VerdictReporter(src, opts, () => 5);
  src.answers.set('66.249.66.1 Googlebot', { status: 'verified', crawler: 'Googlebot', hostname: 'crawl-66-249-66-1.googlebot.com' });
  src.answers.set('66.249.66.1 Bingbot', { status: 'failed', crawler: 'Bingbot', hostname: 'crawl-66-249-66-1.googlebot.com' });
  for (let i = 0; i < 500; i++) r.check('66.249.66.1', i % 2 === 0 ? GOOGLEBOT : BINGBOT);
  assert.deepEqual(r.drain().verdicts.map((v) => `${v.crawler} ${v.status}`), ['Googlebot verified', 'Bingbot failed']);
});

test('memory and the outbox are bounded by max_entries; what the bound drops is counted', () => {
  const src = stand();
  const r = new VerdictReporter(src, { ...opts, max_entries: 10 }, () => 7);
  for (let i = 0; i < 50; i++) {
    src.answers.set(`198.51.100.${i} Googlebot`, { status: 'failed', crawler: 'Googlebot' });
    r.check(`198.51.100.${i}`, GOOGLEBOT);
  }
  const out = r.drain();
  assert.equal(out.verdicts.length, 10);
  assert.equal(out.dropped, 40);
  assert.deepEqual(r.drain(), { verdicts: [], dropped: 0 });
  // Pending claims too: 50 addresses waiting, only the newest (at most 10; past 10 the oldest eighth goes) are remembered.
  for (let i = 0; i < 50; i++) r.check(`192.0.2.${i}`, GOOGLEBOT);
  for (let i = 0; i < 50; i++) src.answers.set(`192.0.2.${i} Googlebot`, { status: 'failed', crawler: 'Googlebot' });
  const asked = src.asked;
  for (let i = 0; i < 50; i++) r.settled(`192.0.2.${i}`);
  const judged = src.asked - asked;
  assert.ok(judged >= 8 && judged <= 10, `only the remembered claims are judged again: ${judged}`);
  assert.deepEqual(r.drain().verdicts.map((v) => v.ip), Array.from({ length: judged }, (_, i) => `192.0.2.${50 - judged + i}`));
});
