// A replay's records in log order while crawler verdicts are awaited: the lines
// after a pending claim are taken (up to the hold) instead of stalling the
// reader, their own claims are looked up at once, and every record reaches the
// engine in its order with the verdict DNS gave, the same as when each pending
// claim stalls the reader (a hold of one). DNS from a real dnsmasq on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessRecord } from '../../shared/records.js';
import { requireDnsmasq, startTestDns, type TestDns } from '../../shared/testing/dnsmasq.js';
import { CrawlerVerifier, type CrawlerVerdict } from './crawlers/verify.js';
import { HOLD_MAX, InOrder } from './replay-order.js';

const GOOGLEBOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BINGBOT_UA = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const GOOGLEBOT = '66.249.66.1';
const BINGBOT = '157.55.39.1';
const FAKE = '203.0.113.66';
const skip = requireDnsmasq();

let dns: TestDns | undefined;
before(async () => {
  if (skip) return;
  dns = await startTestDns({
    host: [
      ['crawl-66-249-66-1.googlebot.com', GOOGLEBOT],
      ['msnbot-157-55-39-1.search.msn.com', BINGBOT],
    ],
    ptr: [[FAKE, 'crawl-203-0-113-66.googlebot.com']],
  });
});
after(async () => {
  await dns?.stop();
});

const rec = (i: number, client_ip: string, user_agent: string): AccessRecord => ({
  ts: 1_764_000_000_000 + i, node: 'e', deployment: '', client_ip, method: 'GET', host: 'h', path: `/p/${i}`, query: '', status: 200, bytes: 0,
  request_time: 0, upstream_time: null, user_agent, referer: '', country: null, auth_user: null, request_id: String(i), blocked_by: null, filter_alert: null, extra: {},
});

/** Browsers, with three claims among them: the first of each address waits for DNS. */
function log(): AccessRecord[] {
  const out: AccessRecord[] = [];
  for (let i = 0; i < 40; i++) {
    const who = i === 3 || i === 20 ? [GOOGLEBOT, GOOGLEBOT_UA] : i === 5 ? [FAKE, GOOGLEBOT_UA] : i === 9 ? [BINGBOT, BINGBOT_UA] : [`127.0.0.${10 + (i % 7)}`, BROWSER_UA];
    out.push(rec(i, who[0] as string, who[1] as string));
  }
  return out;
}

const verifier = (): CrawlerVerifier =>
  new CrawlerVerifier({
    enabled: true, resolvers: [(dns as TestDns).server], verified_ttl_ms: 86_400_000, failed_ttl_ms: 3_600_000, unavailable_retry_ms: 60_000,
    max_entries: 1000, lookups_per_second: 1000, timeout_ms: 2000, extra: [],
  });

/** Offers every record as a replay's reader does (waiting when told to); what reached the engine, and how often the reader waited. */
async function replay(holdMax: number): Promise<{ seen: Array<[string, string]>; waits: number; lookupsBeforeDetected: number }> {
  const v = verifier();
  const seen: Array<[string, string]> = [];
  let lookupsBeforeDetected = 0;
  const order = new InOrder(v, (r: AccessRecord, verdict: CrawlerVerdict) => {
    seen.push([r.request_id, verdict.status]);
    // How many addresses had a lookup started (or done) when the first claim was detected.
    if (r.request_id === '3') lookupsBeforeDetected = v.stats().entries;
  }, holdMax);
  let waits = 0;
  for (const r of log()) {
    const wait = order.offer(r);
    if (wait) {
      waits++;
      await wait;
    }
  }
  await order.done();
  v.close();
  return { seen, waits, lookupsBeforeDetected };
}

test('records reach the engine in log order with DNS verdicts; lines after a pending claim do not stall the reader', { skip, timeout: 30_000 }, async () => {
  assert.ok(HOLD_MAX >= 64 && HOLD_MAX <= 1024, `hold ${HOLD_MAX}: a few hundred lines, never a standing lookahead`);
  const held = await replay(HOLD_MAX);
  assert.deepEqual(held.seen.map(([id]) => id), log().map((r) => r.request_id), 'log order');
  const verdicts = Object.fromEntries(held.seen.filter(([, s]) => s !== 'not-claimed'));
  assert.deepEqual(verdicts, { 3: 'verified', 5: 'failed', 9: 'verified', 20: 'verified' });
  assert.equal(held.waits, 0, 'the reader never waited: 40 lines fit in the hold');
  // The claims held behind the first one were looked up before it was detected (overlapping lookups).
  assert.equal(held.lookupsBeforeDetected, 3);

  // A hold of one is the reader stalled at every pending claim: the same records, order and verdicts.
  const stalled = await replay(1);
  assert.deepEqual(stalled.seen, held.seen);
  assert.ok(stalled.waits >= 1, `the reader waited ${stalled.waits} times`);
  // A small hold: the reader waits when it is full, and nothing changes.
  const small = await replay(4);
  assert.deepEqual(small.seen, held.seen);
  assert.ok(small.waits >= 1);
});
