// Verified crawlers visible to analysts, end to end, through the wiring
// `logwarden all` runs: a real nginx (the shipped JSON log format, syslog over
// UDP) → ingester → bus → detector, whose verifier asks a real dnsmasq on
// loopback → crawler verdict on the crawlers topic → sink → crawler_verdicts
// in ClickHouse (embedded) → GET /api/security/crawlers and
// /api/security/crawlers/<ip> → the dashboard's investigation page in a real
// headless Chromium. On the in-process bus (embedded mode) and on the real
// Kafka broker (distributed mode's bus).
//
// Two clients, each a real loopback source address, both sending Googlebot's
// user agent: 127.0.0.66, whose PTR (crawl-127-0-0-66.googlebot.com) leads
// back to it, and 127.0.0.67, whose PTR names googlebot.com too but whose
// name has no address (a forged claim).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crawlerVerdictCodec } from '../../../shared/avro/codec.js';
import type { CrawlerVerdict } from '../../../shared/records.js';
import { probe } from '../../../shared/testing/bus-probe.js';
import { testConfig } from '../../../shared/testing/config.js';
import { requireDnsmasq, startTestDns, type TestDns } from '../../../shared/testing/dnsmasq.js';
import { kafkaBrokers, unitOnly } from '../../../shared/testing/kafka.js';
import { nginxRequest } from '../../../shared/testing/nginx-client.js';
import { startTestNginx, stopTestNginx, type TestNginx } from '../../../shared/testing/nginx.js';
import { pageProblems, signIn } from '../../../shared/testing/dashboard-page.js';
import { requireTool } from '../../../shared/testing/require-tool.js';
import { startRuntime, type Runtime } from '../../runtime.js';

const REAL = '127.0.0.66';
const FORGED = '127.0.0.67';
const REAL_NAME = 'crawl-127-0-0-66.googlebot.com';
const FORGED_NAME = 'crawl-127-0-0-67.googlebot.com';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const ANALYST = 'lw_crawlers-analyst-token-0123456789abcdef';
/** Debian's chromium, or the one named by LOGWARDEN_CHROMIUM (as dashboard/investigate.test.ts finds it). */
const chromium = [process.env.LOGWARDEN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));
const noChromium = requireTool('chromium is not installed (apt-get install chromium, or bash infra/docs/install-chromium.sh): the investigation page is not checked', chromium !== undefined);

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-crawlers-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

interface Listed {
  ip: string;
  crawler: string;
  hostname: string | null;
  status: string;
  first_at: number;
  last_at: number;
  deployment: string | null;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The investigation page for `ip`, as an analyst: the crawler line's text, or null when the row is hidden. */
async function investigationLine(base: string, ip: string): Promise<{ line: string | null; problems: string[] }> {
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const problems = pageProblems(page);
    await signIn(page, base, ANALYST);
    await page.fill('#inv-target', ip);
    await page.click('#inv-form button');
    await page.waitForSelector(`#investigation[data-loaded="${ip}"]`);
    assert.equal(await page.textContent('#inv-error'), '');
    const hidden = ((await page.getAttribute('#inv-crawler-row', 'class')) ?? '').split(/\s+/).includes('hidden');
    const line = hidden ? null : await page.textContent('#inv-crawler');
    return { line, problems };
  } finally {
    await browser.close();
  }
}

describe('crawler verdicts reach ClickHouse, the API and the investigation page', { skip: requireDnsmasq() }, () => {
  let dns: TestDns;
  before(async () => {
    dns = await startTestDns({ host: [[REAL_NAME, REAL]], ptr: [[FORGED, FORGED_NAME]] });
  });
  after(async () => dns?.stop());

  for (const kind of ['memory', 'kafka'] as const) {
    test(`a verified Googlebot and a forged one (${kind} bus)`, { skip: kind === 'kafka' && unitOnly() && 'unit-only run', timeout: 180_000 }, async (t) => {
      const config = testConfig(`crawlers-${kind}`, {
        dataDir,
        ...(kind === 'kafka' ? { brokers: kafkaBrokers() } : {}),
        tokens: { analyst: ANALYST },
        sections: { ingest: { udp: { port: 0 }, tcp: { enabled: false } }, detection: { crawlers: { resolvers: [dns.server] } } },
      });
      const rt: Runtime = await startRuntime(config, new Set(['ingester', 'detector', 'sink', 'api'] as const));
      let nginx: TestNginx | undefined;
      const sub = await probe(rt.bus, rt.topics.crawlers, (m) => crawlerVerdictCodec.decode(m.value));
      try {
        nginx = await startTestNginx({ syslog: `127.0.0.1:${rt.udpPort as number}` });
        const port = nginx.port;
        // 20 pages each: one claim, many requests.
        for (let i = 0; i < 20; i++) {
          for (const client of [REAL, FORGED]) await nginxRequest({ port, path: `/page-${i}`, client, headers: { 'user-agent': GOOGLEBOT } });
        }
        const base = `http://127.0.0.1:${rt.apiPort as number}`;
        const get = async (path: string): Promise<{ status: number; body: { data: unknown } }> => {
          const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ANALYST}` } });
          return { status: res.status, body: (await res.json()) as { data: unknown } };
        };
        const listed = await waitFor('both verdicts listed by the API', async () => {
          const r = await get('/api/security/crawlers?crawler=GoogleBot');
          const rows = r.body.data as Listed[];
          return rows.length >= 2 ? rows : undefined;
        });
        const byIp = new Map(listed.map((r) => [r.ip, r]));
        assert.deepEqual(
          { ...byIp.get(REAL), first_at: 0, last_at: 0 },
          // The crawler as the shipped list names it; the deployment as the test nginx logs it.
          { ip: REAL, crawler: 'googlebot', hostname: REAL_NAME, status: 'verified', first_at: 0, last_at: 0, deployment: 'logwarden-test' },
        );
        assert.deepEqual({ ...byIp.get(FORGED), first_at: 0, last_at: 0 }, { ip: FORGED, crawler: 'googlebot', hostname: FORGED_NAME, status: 'failed', first_at: 0, last_at: 0, deployment: 'logwarden-test' });
        const real = byIp.get(REAL) as Listed;
        assert.ok(real.first_at > 0 && real.first_at <= real.last_at && real.last_at <= Date.now());

        // Published once per address, not per request: 20 requests each, one record each.
        assert.deepEqual(sub.items.map((v: CrawlerVerdict) => `${v.ip} ${v.status}`).sort(), [`${REAL} verified`, `${FORGED} failed`].sort());

        // Stored in ClickHouse, one row per address and crawler.
        const rows = await rt.ch?.query<{ ip: string; status: string; hostname: string }>(
          "SELECT replaceRegexpOne(IPv6NumToString(ip), '^::ffff:', '') AS ip, toString(status) AS status, hostname FROM {db:Identifier}.crawler_verdicts FINAL ORDER BY ip",
          { db: config.clickhouse.database },
        );
        assert.deepEqual(rows, [{ ip: REAL, status: 'verified', hostname: REAL_NAME }, { ip: FORGED, status: 'failed', hostname: FORGED_NAME }]);

        // Filters, the per-address view, and errors naming the field.
        assert.deepEqual(((await get('/api/security/crawlers?status=failed')).body.data as Listed[]).map((r) => r.ip), [FORGED]);
        assert.deepEqual(((await get('/api/security/crawlers?status=verified&limit=1')).body.data as Listed[]).map((r) => r.ip), [REAL]);
        assert.deepEqual((await get('/api/security/crawlers?crawler=bingbot')).body.data, []);
        const one = await get(`/api/security/crawlers/${REAL}`);
        assert.equal(one.status, 200);
        assert.deepEqual({ ...(one.body.data as { verified_crawler: { at: number } }).verified_crawler, at: 0 }, { crawler: 'googlebot', hostname: REAL_NAME, status: 'verified', at: 0 });
        assert.deepEqual((await get('/api/security/crawlers/192.0.2.1')).body.data, { ip: '192.0.2.1', verified_crawler: null });
        for (const [path, field] of [['/api/security/crawlers?limit=5000', 'limit'], ['/api/security/crawlers?status=maybe', 'status'], ['/api/security/crawlers/not-an-ip', 'ip']] as const) {
          const bad = await get(path);
          assert.equal(bad.status, 400, path);
          assert.equal((bad.body as unknown as { field?: string }).field, field, `${path}: ${JSON.stringify(bad.body)}`);
        }
        const anonymous = await fetch(`${base}/api/security/crawlers`);
        assert.equal(anonymous.status, 401);
        await anonymous.arrayBuffer();

        // The investigation page, in Chromium (embedded mode; the page does not depend on the bus).
        if (kind === 'memory') {
          if (noChromium) {
            t.skip(noChromium);
            return;
          }
          const verified = await investigationLine(base, REAL);
          assert.equal(verified.line, `Verified crawler: Googlebot (${REAL_NAME})`);
          assert.deepEqual(verified.problems, [], 'no script error, no CSP violation, no failed call');
          assert.equal((await investigationLine(base, FORGED)).line, 'claims Googlebot — DNS says no');
          assert.equal((await investigationLine(base, '192.0.2.1')).line, null, 'nothing for an address that claimed no crawler');
        }
      } finally {
        await sub.close();
        await stopTestNginx(nginx);
        await rt.stop();
      }
    });
  }
});
