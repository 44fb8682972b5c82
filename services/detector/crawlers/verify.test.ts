// The crawler verifier against a real DNS server on loopback (dnsmasq with the
// test's own PTR and A/AAAA records, answering NXDOMAIN for everything else),
// plus two loopback sockets that stand for a broken resolver: one never
// answers, one answers SERVFAIL. Every resolver here is 127.0.0.1:<port>.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { requireDnsmasq, startTestDns, type TestDns } from '../../../shared/testing/dnsmasq.js';
import { until } from '../../../shared/testing/wait.js';
import { CrawlerCatalog, KNOWN_CRAWLERS } from './catalog.js';
import { registry } from '../../../shared/metrics.js';
import { countThreadStats, CrawlerVerifier, type VerifierOptions, type VerifierStats } from './verify.js';

const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BINGBOT = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

const REAL_GOOGLEBOT = '66.249.66.1';
const REAL_GOOGLEBOT_V6 = '2001:4860:4801:10::1';
const FAKE_GOOGLEBOT = '203.0.113.7'; // PTR says googlebot.com, the name resolves elsewhere
const NO_PTR = '198.51.100.9';
const FOREIGN_PTR = '198.51.100.20'; // PTR outside every crawler's domain
const BINGBOT_IP = '157.55.39.1';
const EXTRA_IP = '192.0.2.44';

const defaults = (over: Partial<VerifierOptions>): VerifierOptions => ({
  enabled: true,
  resolvers: [],
  verified_ttl_ms: 86_400_000,
  failed_ttl_ms: 3_600_000,
  unavailable_retry_ms: 60_000,
  max_entries: 1000,
  lookups_per_second: 1000,
  timeout_ms: 1000,
  extra: [],
  ...over,
});

/** A UDP socket on loopback that reads queries and answers none, or answers each with SERVFAIL. */
async function brokenResolver(answer: 'never' | 'servfail'): Promise<{ server: string; close(): void }> {
  const s: Socket = createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    if (answer === 'never' || msg.length < 12) return;
    const reply = Buffer.from(msg);
    reply[2] = 0x80 | ((msg[2] as number) & 0x01); // QR, opcode 0, RD echoed
    reply[3] = 0x82; // RA, RCODE 2 (SERVFAIL)
    s.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return { server: `127.0.0.1:${s.address().port}`, close: () => s.close() };
}

describe('crawler verification against a loopback dnsmasq', { skip: requireDnsmasq() }, () => {
  let dns: TestDns;
  let opts: (over?: Partial<VerifierOptions>) => VerifierOptions;
  const verifiers: CrawlerVerifier[] = [];
  const make = (over: Partial<VerifierOptions> = {}): CrawlerVerifier => {
    const v = new CrawlerVerifier(opts(over));
    verifiers.push(v);
    return v;
  };

  before(async () => {
    dns = await startTestDns({
      host: [
        ['crawl-66-249-66-1.googlebot.com', REAL_GOOGLEBOT],
        ['crawl-2001-4860-4801-10--1.googlebot.com', REAL_GOOGLEBOT_V6],
        ['msnbot-157-55-39-1.search.msn.com', BINGBOT_IP],
        ['crawl-192-0-2-44.crawl.example.org', EXTRA_IP],
        ['crawl-203-0-113-8.googlebot.com', '203.0.113.8'],
      ],
      ptr: [
        [FAKE_GOOGLEBOT, 'crawl-203-0-113-8.googlebot.com'],
        [FOREIGN_PTR, 'host-20.example.net'],
      ],
      address: [['host-20.example.net', FOREIGN_PTR]],
    });
    opts = (over = {}) => defaults({ resolvers: [dns.server], ...over });
  });
  after(async () => {
    for (const v of verifiers) v.close();
    await dns?.stop();
  });

  test('a real Googlebot is pending, then verified; its address is listed as a verified crawler', async () => {
    const v = make();
    assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'pending');
    const verdict = await until('verification', () => (v.status(REAL_GOOGLEBOT, GOOGLEBOT) === 'pending' ? undefined : v.check(REAL_GOOGLEBOT, GOOGLEBOT)), 5000, 10);
    assert.deepEqual(verdict, { status: 'verified', crawler: 'googlebot', hostname: 'crawl-66-249-66-1.googlebot.com' });
    const listed = v.verifiedClients();
    assert.equal(listed.length, 1);
    assert.deepEqual({ ...listed[0], expires_at: 0 }, { ip: REAL_GOOGLEBOT, crawler: 'googlebot', hostname: 'crawl-66-249-66-1.googlebot.com', expires_at: 0 });
    assert.deepEqual(v.stats(), { entries: 1, lookups: { verified: 1, failed: 0, unavailable: 0, deferred: 0 } });
  });

  test('IPv6 crawlers are confirmed by AAAA; Bingbot by search.msn.com; each lookup is reported as it ends', async () => {
    const seen: unknown[] = [];
    const v = make({ onLookup: (ip, result) => seen.push({ ip, ...result }) });
    assert.equal((await v.verify(REAL_GOOGLEBOT_V6, GOOGLEBOT)).status, 'verified');
    assert.deepEqual(await v.verify(BINGBOT_IP, BINGBOT), { status: 'verified', crawler: 'bingbot', hostname: 'msnbot-157-55-39-1.search.msn.com' });
    assert.equal((await v.verify(NO_PTR, BINGBOT)).status, 'failed');
    assert.deepEqual(seen, [
      { ip: REAL_GOOGLEBOT_V6, outcome: 'verified', crawler: 'googlebot', hostname: 'crawl-2001-4860-4801-10--1.googlebot.com' },
      { ip: BINGBOT_IP, outcome: 'verified', crawler: 'bingbot', hostname: 'msnbot-157-55-39-1.search.msn.com' },
      { ip: NO_PTR, outcome: 'failed' },
    ]);
  });

  test('claims DNS refutes fail: forged PTR, no PTR, a PTR outside the domain, the wrong crawler', async () => {
    const v = make();
    assert.deepEqual(await v.verify(FAKE_GOOGLEBOT, GOOGLEBOT), { status: 'failed', crawler: 'googlebot', hostname: 'crawl-203-0-113-8.googlebot.com' });
    assert.deepEqual(await v.verify(NO_PTR, GOOGLEBOT), { status: 'failed', crawler: 'googlebot' });
    assert.deepEqual(await v.verify(FOREIGN_PTR, GOOGLEBOT), { status: 'failed', crawler: 'googlebot', hostname: 'host-20.example.net' });
    // A real Bingbot address claiming to be Googlebot.
    assert.equal((await v.verify(BINGBOT_IP, GOOGLEBOT)).status, 'failed');
    assert.equal(v.status(FAKE_GOOGLEBOT, GOOGLEBOT), 'failed');
    assert.deepEqual(v.verifiedClients().map((c) => c.ip), [BINGBOT_IP]);
  });

  test('a browser claims nothing and costs no lookup; operator crawlers verify by their domains', async () => {
    const v = make({ extra: [{ name: 'ExampleBot', user_agent: 'ExampleBot/\\d', domains: ['crawl.example.org'] }] });
    assert.equal(v.status(REAL_GOOGLEBOT, BROWSER), 'not-claimed');
    assert.equal(v.status(REAL_GOOGLEBOT, undefined), 'not-claimed');
    assert.equal(v.stats().entries, 0);
    assert.deepEqual(await v.verify(EXTRA_IP, 'ExampleBot/1.0 (+https://example.org/bot)'), { status: 'verified', crawler: 'examplebot', hostname: 'crawl-192-0-2-44.crawl.example.org' });
  });

  test('verdicts expire after their TTL and are looked up again', async () => {
    const v = make({ verified_ttl_ms: 300, failed_ttl_ms: 300 });
    assert.equal((await v.verify(REAL_GOOGLEBOT, GOOGLEBOT)).status, 'verified');
    assert.equal((await v.verify(NO_PTR, GOOGLEBOT)).status, 'failed');
    assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'verified');
    await sleep(400);
    assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'pending');
    assert.equal(v.status(NO_PTR, GOOGLEBOT), 'pending');
    assert.equal((await v.verify(REAL_GOOGLEBOT, GOOGLEBOT)).status, 'verified');
    assert.equal((await v.verify(NO_PTR, GOOGLEBOT)).status, 'failed');
    assert.deepEqual(v.stats().lookups, { verified: 2, failed: 2, unavailable: 0, deferred: 0 });
  });

  test('over lookups_per_second a claim stays pending, and is looked up once the budget allows', async () => {
    const v = make({ lookups_per_second: 2 });
    const ips = ['66.249.66.1', '66.249.66.2', '66.249.66.3', '66.249.66.4', '66.249.66.5'];
    for (const ip of ips) assert.equal(v.status(ip, GOOGLEBOT), 'pending');
    const s = v.stats();
    assert.equal(s.entries, 2, 'two lookups started');
    assert.equal(s.lookups.deferred, 3, 'three deferred');
    // verify() waits for the budget instead of deferring.
    assert.equal((await v.verify('66.249.66.5', GOOGLEBOT)).status, 'failed');
    assert.equal(v.status('66.249.66.1', GOOGLEBOT), 'verified');
  });

  test('memory is bounded: the least recently used address goes first', async () => {
    const v = make({ max_entries: 3 });
    for (const ip of [REAL_GOOGLEBOT, NO_PTR, FOREIGN_PTR, FAKE_GOOGLEBOT, BINGBOT_IP]) await v.verify(ip, GOOGLEBOT);
    assert.equal(v.stats().entries, 3);
    assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'pending', 'evicted, looked up again');
    assert.equal(v.status(BINGBOT_IP, GOOGLEBOT), 'failed', 'kept');
    assert.equal(v.stats().entries, 3);
  });

  test('a resolver that never answers: pending, never blocking, retried later', async () => {
    const silent = await brokenResolver('never');
    try {
      const v = make({ resolvers: [silent.server], timeout_ms: 200, unavailable_retry_ms: 300 });
      const t0 = Date.now();
      assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'pending');
      assert.ok(Date.now() - t0 < 200, 'status() does not wait for DNS');
      assert.deepEqual(await v.verify(REAL_GOOGLEBOT, GOOGLEBOT), { status: 'pending', crawler: 'googlebot' });
      assert.equal(v.stats().lookups.unavailable, 1);
      assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'pending');
      assert.equal(v.stats().entries, 1, 'no new lookup before unavailable_retry');
      await sleep(350);
      await v.verify(REAL_GOOGLEBOT, GOOGLEBOT);
      assert.equal(v.stats().lookups.unavailable, 2, 'retried after unavailable_retry');
    } finally {
      silent.close();
    }
  });

  // piscina's default (atomics: 'sync') parks an idle thread in Atomics.wait: its event loop does
  // not run between tasks, so DNS answers are never read (tried: no verdict within 5 s of polling).
  // A pool whose threads verify needs atomics: 'async'.
  test('in a shard thread (piscina, synchronous tasks, atomics: async) verdicts arrive between tasks', async () => {
    const pool = new Piscina({
      filename: new URL('./testing/shard-thread.js', import.meta.url).href,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      atomics: 'async',
      workerData: { crawlers: opts() },
    });
    try {
      const batch = [
        { ip: REAL_GOOGLEBOT, user_agent: GOOGLEBOT },
        { ip: FAKE_GOOGLEBOT, user_agent: GOOGLEBOT },
        { ip: REAL_GOOGLEBOT, user_agent: BROWSER },
      ];
      type Answer = { statuses: string[]; stats: VerifierStats };
      const first = (await pool.run(batch)) as Answer;
      assert.deepEqual(first.statuses, ['pending', 'pending', 'not-claimed']);
      const settled = await until('verdicts in the shard thread', async () => {
        const a = (await pool.run(batch)) as Answer;
        return a.statuses.includes('pending') ? undefined : a;
      }, 5000, 20);
      assert.deepEqual(settled.statuses, ['verified', 'failed', 'not-claimed']);
      assert.equal(settled.stats.entries, 2);
      // The thread's counts reach this thread's registry through countThreadStats.
      const value = async (name: string, outcome?: string): Promise<number> =>
        (await registry.getSingleMetric(name)?.get())?.values.find((x) => outcome === undefined || x.labels.outcome === outcome)?.value ?? 0;
      const before = await value('logwarden_detector_crawler_lookups_total', 'verified');
      const entriesBefore = await value('logwarden_detector_crawler_cache_entries');
      countThreadStats(undefined, first.stats);
      countThreadStats(first.stats, settled.stats);
      assert.equal((await value('logwarden_detector_crawler_lookups_total', 'verified')) - before, 1);
      assert.equal((await value('logwarden_detector_crawler_cache_entries')) - entriesBefore, 2);
      countThreadStats(settled.stats, { entries: 0, lookups: settled.stats.lookups });
    } finally {
      await pool.destroy();
    }
  });

  test('SERVFAIL is not a verdict: the claim stays pending', async () => {
    const broken = await brokenResolver('servfail');
    try {
      const v = make({ resolvers: [broken.server] });
      assert.deepEqual(await v.verify(REAL_GOOGLEBOT, GOOGLEBOT), { status: 'pending', crawler: 'googlebot' });
      assert.deepEqual(v.stats().lookups, { verified: 0, failed: 0, unavailable: 1, deferred: 0 });
    } finally {
      broken.close();
    }
  });
});

describe('crawler verification without DNS', () => {
  test('offline: a claim is unverified, nothing is looked up', async () => {
    const v = new CrawlerVerifier(defaults({ offline: true }));
    assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'unverified');
    assert.deepEqual(await v.verify(REAL_GOOGLEBOT, GOOGLEBOT), { status: 'unverified', crawler: 'googlebot' });
    assert.equal(v.status(REAL_GOOGLEBOT, BROWSER), 'not-claimed');
    assert.equal(v.stats().entries, 0);
  });

  test('switched off: nobody claims a crawler', async () => {
    const v = new CrawlerVerifier(defaults({ enabled: false }));
    assert.equal(v.status(REAL_GOOGLEBOT, GOOGLEBOT), 'not-claimed');
    assert.deepEqual(await v.verify(REAL_GOOGLEBOT, GOOGLEBOT), { status: 'not-claimed' });
  });

  test('an address that is not an IP is unverified, and nothing throws', async () => {
    const v = new CrawlerVerifier(defaults({ resolvers: ['127.0.0.1:9'] }));
    assert.equal(v.status('not-an-ip', GOOGLEBOT), 'unverified');
    assert.equal((await v.verify('', GOOGLEBOT)).status, 'unverified');
    v.close();
  });

  test('the shipped list: each crawler\'s own user agents, and browsers match none', () => {
    const catalog = new CrawlerCatalog();
    const cases: Array<[string, string]> = [
      [GOOGLEBOT, 'googlebot'],
      ['Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'googlebot'],
      ['Googlebot-Image/1.0', 'googlebot'],
      [BINGBOT, 'bingbot'],
      ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)', 'applebot'],
      ['DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)', 'duckduckbot'],
      ['Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)', 'yandexbot'],
      ['Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)', 'yandexbot'],
      ['Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)', 'baiduspider'],
    ];
    for (const [ua, name] of cases) assert.equal(catalog.claimed(ua)?.name, name, ua);
    assert.equal(catalog.claimed(BROWSER), undefined);
    assert.equal(catalog.claimed('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'), undefined);
    for (const c of KNOWN_CRAWLERS) assert.ok(c.domains.every((d) => d.includes('.')), `${c.name}: whole domains only`);
    const google = catalog.claimed(GOOGLEBOT);
    assert.ok(google);
    assert.ok(CrawlerCatalog.owns(google, 'crawl-66-249-66-1.googlebot.com.'));
    assert.ok(!CrawlerCatalog.owns(google, 'googlebot.com.evil.example'));
    assert.ok(!CrawlerCatalog.owns(google, 'evilgooglebot.com'));
  });
});
