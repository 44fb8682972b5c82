// The SOC dashboard in a real headless Chromium (Debian's `chromium`, driven
// by playwright-core), against the real wiring: ingester, detectors, sinks and
// API in one process over the in-process bus and the embedded ClickHouse.
// Attack lines go in through syslog, other events and blocks through the bus
// and the API; the page must show them, follow the live stream, and lift a
// block with its Unblock button. Without chromium the test is skipped, saying
// why, and under CI=true it fails instead (.ci/run installs it:
// infra/docs/install-chromium.sh).
//
// LOGWARDEN_UPDATE_SCREENSHOT=1 also writes the README's picture
// (infra/docs/dashboard.png); otherwise the screenshot goes to a temporary folder.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { securityEventCodec } from '../../shared/avro/codec.js';
import type { SecurityEvent } from '../../shared/records.js';
import { uniqueName } from '../../shared/testing/kafka.js';
import { testConfig } from '../../shared/testing/config.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { pageProblems } from '../../shared/testing/dashboard-page.js';
import { until } from '../../shared/testing/wait.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-dashboard-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const ADMIN = 'lw_dashboard-admin-token-0123456789abcdef';
const ANALYST = 'lw_dashboard-analyst-token-0123456789abcdef';

/** Debian's chromium, or the one named by LOGWARDEN_CHROMIUM. */
export function chromiumPath(): string | undefined {
  for (const p of [process.env.LOGWARDEN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return undefined;
}


function syslogLine(ip: string, path: string, status: number, ua: string, ts: number): string {
  return `<190>Nov 21 06:00:44 edge-1 nginx: ${JSON.stringify({
    ts: (ts / 1000).toFixed(3), node: 'edge-1', deployment: 'shop', client_ip: ip, xff: '', method: 'GET', host: 'shop.example',
    uri: path, status: String(status), bytes: '162', request_time: '0.001', upstream_time: '', user_agent: ua,
    referer: '', country: '', auth_user: '', request_id: uniqueName('r').replace(/[^a-z0-9]/gi, ''), blocked_by: '', filter_alert: '',
  })}`;
}

async function sendUdp(port: number, lines: string[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (const l of lines) await new Promise<void>((resolve, reject) => s.send(l, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  s.close();
}

const chromium = chromiumPath();

test('the dashboard shows a seeded run, follows the live stream, and unblocks from the page', { skip: requireTool('chromium is not installed (apt-get install chromium, or bash infra/docs/install-chromium.sh): the browser test cannot run', chromium !== undefined), timeout: 240_000 }, async (t) => {
  const { chromium: pw } = await import('playwright-core');
  const config = testConfig('dash', { dataDir, tokens: { admin: ADMIN, analyst: ANALYST }, sections: { ingest: { udp: { port: 0 } } } });
  const rt: Runtime = await startRuntime(config, new Set(['ingester', 'detector', 'sink', 'api'] as const));
  const base = `http://127.0.0.1:${rt.apiPort}`;
  const call = async (method: string, path: string, body?: unknown, token = ADMIN): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    // ---- seed: a real attack through syslog (detected and auto-blocked), events on the bus, manual blocks, a filter rule.
    const now = Date.now();
    const attacker = '203.0.113.66';
    await sendUdp(rt.udpPort as number, [
      syslogLine('198.51.100.7', '/', 200, 'Mozilla/5.0', now - 2000),
      syslogLine(attacker, '/.env', 404, 'sqlmap/1.8.11#stable (https://sqlmap.org)', now - 1000),
      syslogLine(attacker, '/.git/config', 403, 'sqlmap/1.8.11#stable (https://sqlmap.org)', now - 900),
    ]);
    const filter = await call('PUT', '/api/security/filter/property', {
      security_filter: { enabled: true, filter_rules: [{ id: 'bad-bots', match: { user_agents: ['BadBot*'] } }], response_handling: { on_filtered: 'WARN' } },
    });
    assert.equal(filter.status, 200, JSON.stringify(filter.json));
    const seeded: SecurityEvent[] = [
      ['rate_limited', 'rate', '198.51.100.20', '/api/cart'], ['auth_failed', 'auth_failure', '198.51.100.21', '/login'],
      ['suspicious', 'filter:bad-bots', '198.51.100.22', '/'], ['scan_detected', 'unique_paths', '2001:db8::bad', '/wp-admin/'],
      ['challenge', 'challenge:passed', '198.51.100.23', '/shop'],
    ].map(([type, detector, ip, path], i) => ({
      id: `seed-${i}`, ts: now - (5 - i) * 60_000, type: type as SecurityEvent['type'], detector: detector as string, ip: ip as string, deployment: 'shop',
      count: 10 + i, window_start: now - 5 * 60_000, window_end: now - (4 - i) * 60_000, sample_paths: [path as string], details: {},
      ...(i < 2 ? { country: 'BR', asn: 64500, as_org: 'Exemplo Telecom' } : {}),
    }));
    await rt.bus.publish(rt.topics.events, seeded.map((e) => ({ key: e.ip, value: securityEventCodec.encode(e) })));
    for (const [ip, reason, action] of [['198.51.100.20', 'request flood', 'block'], ['198.51.100.21', 'credential stuffing', 'block'], ['198.51.100.24', 'odd client', 'challenge']] as const) {
      const r = await call('POST', '/api/security/blocked-ips', { ip, reason, duration: 3600, action });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
    let last = '';
    await until('the seeded events and the auto-block in the API', async () => {
      const ev = await call('GET', '/api/security/events?limit=100');
      const blocks = await call('GET', '/api/security/blocked-ips');
      const ids = (ev.json.data as SecurityEvent[]).map((e) => e.id);
      const ips = (blocks.json.data as Array<{ ip: string }>).map((b) => b.ip);
      last = `events ${ids.join(',')}; blocks ${ips.join(',')}`;
      return seeded.every((e) => ids.includes(e.id)) && ips.includes(attacker) && ips.length >= 3 ? true : undefined;
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${last}`);
    });

    // ---- the page, signed in as admin
    const page = await browser.newPage({ viewport: { width: 1360, height: 1500 } });
    // The stream's reconnects aside, every call of the page succeeds.
    const problems = pageProblems(page);
    const res = await page.goto(`${base}/dashboard/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.fill('#token', ADMIN);
    await page.click('#login-form button');
    await page.waitForSelector('body[data-loaded="true"]');
    assert.equal(await page.textContent('#whoami'), 'ops (admin)');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('logwarden.token')), ADMIN, 'token kept in sessionStorage');
    assert.ok(!page.url().includes(ADMIN), 'token never in the URL');

    await page.waitForSelector(`#events tbody tr[data-id="seed-4"]`);
    const eventsText = (await page.textContent('#events tbody')) ?? '';
    for (const s of ['rate_limited', 'auth_failure', '2001:db8::bad', attacker, 'challenge:passed']) assert.ok(eventsText.includes(s), `events table shows ${s}`);
    const blocksText = (await page.textContent('#blocks tbody')) ?? '';
    assert.ok(blocksText.includes(attacker) && blocksText.includes('auto'), `the auto-block is listed: ${blocksText}`);
    assert.ok(blocksText.includes('credential stuffing'), 'with its reason');
    assert.ok(blocksText.includes('198.51.100.24') && blocksText.includes('manual (challenge)'), `a challenge is listed as one: ${blocksText}`);
    const chartTotal = Number(await page.getAttribute('#chart', 'data-total'));
    assert.ok(chartTotal >= seeded.length, `the chart drew the events (${chartTotal})`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document.querySelector('#rules tbody')?.textContent.includes('bad-bots'));
    const rulesText = (await page.textContent('#rules tbody')) ?? '';
    assert.match(rulesText, /bad-bots.*property.*WARN.*1/, 'the filter rule and that it fired');
    assert.ok(((await page.textContent('#top-ips tbody')) ?? '').includes(attacker), 'top offending addresses');
    assert.match((await page.textContent('#top-countries tbody')) ?? '', /BR\s*221/, 'top countries in events: the two seeded BR events (10 + 11 requests)');
    assert.match((await page.textContent('#top-asns tbody')) ?? '', /AS64500\s*Exemplo Telecom\s*221/, 'top autonomous systems in events');
    assert.ok(((await page.textContent('#pipeline tbody')) ?? '').includes('lines received'), 'pipeline health');
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document.querySelector('#live')?.textContent.includes('live'));

    // ---- live: an event published now appears without a reload.
    const liveEvent: SecurityEvent = { ...seeded[0] as SecurityEvent, id: 'live-1', ts: Date.now(), ip: '198.51.100.99', sample_paths: ['/live'] };
    // The stream subscribes from the end of the topic: publish until the page has it (a publish before its subscription is live is not replayed).
    await until('the live event on the page', async () => {
      await rt.bus.publish(rt.topics.events, [{ key: liveEvent.ip, value: securityEventCodec.encode(liveEvent) }]);
      return (await page.$('#events tbody tr[data-id="live-1"]')) ? true : undefined;
    }, 20_000);

    const shot = join(dataDir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.LOGWARDEN_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(root, 'infra', 'docs', 'dashboard.png'));
    t.diagnostic(`screenshot: ${shot}`);

    // ---- unblock from the page: the block is gone from the API.
    await page.click(`#blocks tr[data-ip="198.51.100.20"] button.unblock`);
    await page.waitForSelector(`#blocks tr[data-ip="198.51.100.20"]`, { state: 'detached' });
    assert.equal((await call('GET', '/api/security/blocked-ips/198.51.100.20')).status, 404, 'unblocked in the API');
    assert.equal((await call('GET', `/api/security/blocked-ips/${attacker}`)).status, 200, 'the other blocks stay');
    assert.deepEqual(problems, [], 'no script error and no CSP violation in the page');
    await page.close();

    // ---- an analyst sees the blocks, cannot unblock.
    const p2 = await browser.newPage();
    await p2.goto(`${base}/dashboard/`);
    await p2.fill('#token', ANALYST);
    await p2.click('#login-form button');
    await p2.waitForSelector(`#blocks tr[data-ip="${attacker}"]`);
    assert.equal(await p2.isDisabled(`#blocks tr[data-ip="${attacker}"] button.unblock`), true, 'Unblock disabled for the analyst role');
    // ---- a wrong token is refused and not kept.
    await p2.click('#signout');
    await p2.fill('#token', 'lw_wrong-token-0123456789abcdef');
    await p2.click('#login-form button');
    await p2.waitForFunction(() => ((globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document.querySelector('#login-error')?.textContent ?? '') !== '');
    assert.equal(await p2.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('logwarden.token')), null);
    await p2.close();
  } finally {
    await browser.close();
    await rt.stop();
  }
});
