// The dashboard's investigation view and query console in a real headless
// Chromium (Debian's `chromium`, driven by playwright-core) against the real
// wiring: API and sink in one process over the in-process bus and the embedded
// ClickHouse (or CLICKHOUSE_URL). A seeded address's story (events, a block
// made and lifted by hand with who and why, captured requests) on one page,
// as an analyst; a saved query and ad-hoc SQL from the console, its CSV
// download; no script error and no CSP violation. Without chromium the test
// is skipped, saying why; under CI=true it fails (requireTool).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testConfig } from '../../shared/testing/config.js';
import { pageProblems, signIn } from '../../shared/testing/dashboard-page.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { startRuntime, type Runtime } from '../runtime.js';

const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-investigate-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const ADMIN = 'lw_investigate-admin-token-0123456789abcdef';
const ANALYST = 'lw_investigate-analyst-token-0123456789abcdef';
/** Debian's chromium, or the one named by LOGWARDEN_CHROMIUM (as dashboard.test.ts finds it). */
const chromium = [process.env.LOGWARDEN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));
type Doc = { document: { querySelector(s: string): { textContent: string } | null } };

test('investigate an address and query from the console, as an analyst, in Chromium', { skip: requireTool('chromium is not installed (apt-get install chromium, or bash infra/docs/install-chromium.sh): the browser test cannot run', chromium !== undefined), timeout: 240_000 }, async () => {
  const { chromium: pw } = await import('playwright-core');
  const config = testConfig('investigate', { dataDir, tokens: { admin: ADMIN, analyst: ANALYST }, sections: { ingest: { udp: { enabled: false } } } });
  const rt: Runtime = await startRuntime(config, new Set(['api', 'sink'] as const));
  const base = `http://127.0.0.1:${rt.apiPort}`;
  const call = async (method: string, path: string, body?: unknown): Promise<number> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    // ---- seed one address's story: events, a block made and lifted by hand, captured requests.
    const ip = '203.0.113.77';
    const now = Date.now();
    const ev = (id: string, ts: number, type: string, detector: string, path: string) => ({
      id, ts, type, detector, ip, deployment: 'shop', count: 30, window_start: ts - 60_000, window_end: ts, sample_paths: [path], details: {},
    });
    await rt.ch?.insert('events', [ev('inv-1', now - 5 * 60_000, 'scan_detected', 'unique_paths', '/.env'), ev('inv-2', now - 4 * 60_000, 'suspicious', 'signature:file-secrets', '/<script>alert(1)</script>')]);
    await rt.ch?.insert('requests', [{
      ts: now - 5 * 60_000, node: 'edge-1', deployment: 'shop', client_ip: ip, method: 'GET', host: 'shop.example', path: '/.git/config', query: '', status: 404,
      bytes: 10, request_time: 0.001, upstream_time: null, user_agent: 'sqlmap/1.8', referer: '', country: 'NL', auth_user: null, request_id: 'inv-r1', blocked_by: null, filter_alert: null, extra: {},
    }]);
    assert.equal(await call('POST', '/api/security/blocked-ips', { ip, reason: 'scanning secrets', duration: 3600 }), 201);
    assert.equal(await call('DELETE', `/api/security/blocked-ips/${ip}`), 200);
    assert.equal(await call('POST', '/api/security/blocked-ips', { ip, reason: 'back again', duration: 3600 }), 201);

    const page = await browser.newPage({ viewport: { width: 1360, height: 1600 } });
    const problems = pageProblems(page);
    await signIn(page, base, ANALYST);

    // ---- click the address in the events table: the investigation opens for it.
    await page.click(`#events tbody tr[data-id="inv-1"] button.link`);
    await page.waitForSelector(`#investigation[data-loaded="${ip}"]`);
    assert.equal(await page.textContent('#inv-error'), '');
    assert.match((await page.textContent('#inv-block')) ?? '', /blocked \(203\.0\.113\.77, manual\): back again/);
    assert.equal(await page.textContent('#inv-country'), 'NL');
    const story = (await page.textContent('#inv-story tbody')) ?? '';
    for (const s of ['block 203.0.113.77', 'unblock 203.0.113.77', 'scanning secrets', 'manual unblock', 'back again', 'scan_detected', 'signature:file-secrets', 'events per hour']) {
      assert.ok(story.includes(s), `the story shows ${s}: ${story}`);
    }
    // An attacker's path is shown as text, not run as markup.
    assert.ok(story.includes('/<script>alert(1)</script>'));
    const detectors = (await page.textContent('#inv-detectors tbody')) ?? '';
    assert.ok(detectors.includes('unique_paths') && detectors.includes('signature:file-secrets'), detectors);
    assert.ok(((await page.textContent('#inv-requests tbody')) ?? '').includes('/.git/config'));

    // ---- typed: a CIDR shows the events inside it.
    await page.fill('#inv-target', '203.0.113.0/24');
    await page.click('#inv-form button');
    await page.waitForSelector('#investigation[data-loaded="203.0.113.0/24"]');
    assert.ok(((await page.textContent('#inv-story tbody')) ?? '').includes('scan_detected'));

    // ---- the console: a saved query with its parameter, then CSV.
    await page.selectOption('#console-saved', 'address_story');
    await page.fill('#console-params input[data-param="ip"]', ip);
    await page.click('#console-form button[type="submit"]');
    await page.waitForFunction(() => /rows in/.test((globalThis as unknown as Doc).document.querySelector('#console-status')?.textContent ?? ''));
    assert.ok(((await page.textContent('#console-result tbody')) ?? '').includes('scanning secrets'));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#console-csv')]);
    const csv = readFileSync(await download.path(), 'utf8');
    assert.match(csv, /^ts,kind,what,by,deployment,detail\r\n/);
    assert.ok(csv.includes('unblock 203.0.113.77'), csv);
    assert.equal(download.suggestedFilename(), 'address_story.csv');

    // ---- ad-hoc SQL, and a refused one shown as an error.
    await page.selectOption('#console-saved', '');
    // A field appears for each {name:Type} of the text; its value is bound by ClickHouse.
    await page.fill('#console-sql', 'SELECT count() AS n FROM events WHERE ip = {ip:IPv6}');
    await page.fill('#console-params input[data-param="ip"]', ip);
    await page.click('#console-form button[type="submit"]');
    await page.waitForFunction(() => /1 rows in/.test((globalThis as unknown as Doc).document.querySelector('#console-status')?.textContent ?? ''));
    assert.equal(((await page.textContent('#console-result tbody')) ?? '').trim(), '2');
    const before = problems.length;
    await page.fill('#console-sql', 'DROP TABLE events');
    await page.click('#console-form button[type="submit"]');
    await page.waitForFunction(() => ((globalThis as unknown as Doc).document.querySelector('#console-error')?.textContent ?? '') !== '');
    assert.match((await page.textContent('#console-error')) ?? '', /only a SELECT/);
    // The refused call is the one 4xx expected here.
    assert.deepEqual(problems.slice(0, before), [], 'no script error and no CSP violation in the page');
    // (the response, and the browser's console line about it)
    assert.deepEqual(problems.slice(before).filter((p) => !/^400 .*\/api\/soc\/query$/.test(p) && p !== 'Failed to load resource: the server responded with a status of 400 (Bad Request)'), []);
    await page.close();
  } finally {
    await browser.close();
    await rt.stop();
  }
});
