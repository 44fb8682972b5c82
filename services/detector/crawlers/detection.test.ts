// Verified crawlers in detection, at the default thresholds: a real Googlebot
// (its address forward-confirmed by DNS) crawling fast, with dead links, is
// never blocked; a client that only claims to be Googlebot, crawling the same
// way, is, with the refuted claim as evidence. Through `logwarden replay
// --report`'s code (backtest) with DNS from a real dnsmasq on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../shared/config/load.js';
import { requireDnsmasq, startTestDns, type TestDns } from '../../../shared/testing/dnsmasq.js';
import { backtest } from '../backtest.js';

const REAL = '66.249.66.1';
const FAKE = '203.0.113.66';
const GOOGLEBOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const skip = requireDnsmasq();

let dns: TestDns | undefined;
const dir = mkdtempSync(join(tmpdir(), 'lw-crawlers-'));
before(async () => {
  if (skip) return;
  dns = await startTestDns({
    host: [['crawl-66-249-66-1.googlebot.com', REAL]],
    // The fake's address names googlebot.com in its PTR, but the name does not lead back to it.
    ptr: [[FAKE, 'crawl-203-0-113-66.googlebot.com']],
  });
});
after(async () => {
  await dns?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** 40 distinct pages a minute for 10 minutes, one in five a dead link (404): a crawler's day. */
function crawl(ip: string, t0: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 400; i++) {
    const ts = ((t0 + i * 1500) / 1000).toFixed(3);
    out.push(JSON.stringify({ ts, client_ip: ip, method: 'GET', host: 'shop.example', uri: `/products/${i}`, status: i % 5 === 0 ? '404' : '200', bytes: '512', user_agent: GOOGLEBOT_UA }));
  }
  return out;
}

test('a verified Googlebot is never blocked; one that only claims to be is', { skip, timeout: 60_000 }, async () => {
  const log = join(dir, 'crawl.log');
  const t0 = Date.UTC(2026, 11, 1, 10);
  writeFileSync(log, `${[...crawl(REAL, t0), ...crawl(FAKE, t0 + 200)].sort((a, b) => a.localeCompare(b)).join('\n')}\n`);
  const config = loadConfig({ text: `detection: { crawlers: { resolvers: ["${(dns as TestDns).server}"] } }\nlog_level: silent`, env: {} });

  const report = await backtest(config, [log], { dns: true, threads: 1 });
  assert.deepEqual(report.crawlers, { dns: true, verified: 1, failed: 1, unverified: 0, pending: 0 });
  assert.deepEqual(report.blocked.map((b) => b.ip), [FAKE], 'the fake only');
  assert.ok((report.blocked[0]?.detectors.fake_crawler ?? 0) > 0, 'the refuted claim is evidence');

  // Offline, both are judged by behaviour alone, and the report says so.
  const offline = await backtest(config, [log], { dns: false, threads: 1 });
  assert.deepEqual(offline.crawlers, { dns: false, verified: 0, failed: 0, unverified: 2, pending: 0 });
  // What the verification spares the real one: by its dead links alone, it would be blocked.
  assert.deepEqual(offline.blocked.map((b) => b.ip).sort(), [FAKE, REAL].sort());
});
