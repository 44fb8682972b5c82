// The CHALLENGE response on a real nginx (lua/logwarden/challenge.lua): a
// headless Chromium passes the page without any interaction and then gets the
// content; curl, which runs no JavaScript, never passes; a cookie earned at
// one address does not pass from another; after a key rotation the previous
// key's cookie still passes, after two it does not; ffuf and sqlmap, run
// against a challenged address, only ever get the page. Clients are presented
// through the test nginx's realip (X-Forwarded-For from 127.0.0.1). The
// access log (syslog to a local UDP socket) carries each outcome.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CHALLENGE } from '../../shared/security-filter/index.js';
import { signedControl, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { requireTool } from '../../shared/testing/require-tool.js';
import { syslogSink, type SyslogSink } from '../../shared/testing/syslog-sink.js';
import { until } from '../../shared/testing/wait.js';

const run = promisify(execFile);
const chromium = [process.env.LOGWARDEN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p !== undefined && existsSync(p));
const curlOk = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
const luaDir = fileURLToPath(new URL('../../../lua/logwarden/', import.meta.url));

const BROWSER_CLIENTS = 5;
const CURL_ATTEMPTS = 20;
// Rotation periods: the node derives each period's key and the previous one from its own secret.
const P1 = 1000;
const P2 = P1 + 1;
const P3 = P1 + 2;

let nginx: TestNginx | undefined;
let sink: SyslogSink | undefined;

async function control(method: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await signedControl(nginx as TestNginx, method, path, body);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function keys(period: number): Promise<void> {
  const r = await control('PUT', '/challenge', { period, rotation: 3600, difficulty: CHALLENGE.difficultyBits.default, cookie_ttl: 600 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const key = createHmac('sha1', (nginx as TestNginx).controlSecret as string).update(`logwarden-challenge\n3600\n${period}`).digest('hex');
  assert.ok(!JSON.stringify(r.json).includes(key), 'the node never echoes a key');
  assert.equal(r.json.keys, 2, 'the period\'s key and the previous one');
}

/** curl as a client at `ip`, sending `cookie` (a "name=value" or a cookie jar file, which it also writes); resolves to [status, body]. */
async function curl(ip: string, cookie?: string): Promise<[number, string]> {
  const jar = cookie !== undefined && !cookie.includes('=') ? ['-c', cookie] : [];
  const args = ['-s', '-H', `X-Forwarded-For: ${ip}`, '-w', '\n%{http_code}', ...(cookie === undefined ? [] : ['-b', cookie]), ...jar, `${(nginx as TestNginx).url}/page`];
  const { stdout } = await run('curl', args, { encoding: 'utf8' });
  const cut = stdout.lastIndexOf('\n');
  return [Number(stdout.slice(cut + 1)), stdout.slice(0, cut)];
}

/** The access log's outcomes for one client address. */
function outcomes(ip: string): string[] {
  return (sink as SyslogSink).datagrams
    .map((d) => JSON.parse(d.slice(d.indexOf('{'))) as { client_ip: string; logwarden_challenge: string })
    .filter((r) => r.client_ip === ip)
    .map((r) => r.logwarden_challenge);
}

before(async () => {
  sink = await syslogSink();
  nginx = await startTestNginx({ control: true, syslog: sink.address });
});
after(async () => {
  await nginx?.stop();
  sink?.close();
});

test('the page script is the one its Content-Security-Policy hash allows', () => {
  const script = readFileSync(`${luaDir}challenge.js`, 'utf8');
  const lua = readFileSync(`${luaDir}challenge.lua`, 'utf8');
  const hash = createHash('sha256').update(script).digest('base64');
  assert.ok(lua.includes(`local SCRIPT_SHA256 = "${hash}"`), `challenge.lua names sha256 ${hash} of challenge.js`);
});

test('PUT /challenge refuses bad settings (and any key: nodes derive their own), naming the field', async () => {
  for (const [body, field] of [
    [{ period: 0, rotation: 3600, difficulty: 16, cookie_ttl: 600 }, 'period'],
    [{ period: 1.5, rotation: 3600, difficulty: 16, cookie_ttl: 600 }, 'period'],
    [{ period: P1, rotation: 1, difficulty: 16, cookie_ttl: 600 }, 'rotation'],
    [{ period: P1, difficulty: 16, cookie_ttl: 600 }, 'rotation'],
    [{ keys: ['a'.repeat(64)], period: P1, rotation: 3600, difficulty: 16, cookie_ttl: 600 }, 'keys'],
    [{ period: P1, rotation: 3600, difficulty: CHALLENGE.difficultyBits.max + 1, cookie_ttl: 600 }, 'difficulty'],
    [{ period: P1, rotation: 3600, difficulty: 16, cookie_ttl: 1 }, 'cookie_ttl'],
    [{ period: P1, rotation: 3600, difficulty: 16, cookie_ttl: 600, extra: 1 }, 'extra'],
  ] as const) {
    const r = await control('PUT', '/challenge', body);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.field, field);
  }
});

test('Chromium passes the challenge and gets the page; curl never does', { skip: requireTool('chromium and curl are needed (apt-get install chromium curl, or bash infra/docs/install-chromium.sh)', chromium !== undefined && curlOk), timeout: 180_000 }, async (t) => {
  const { chromium: pw } = await import('playwright-core');
  await keys(P1);
  const browserIps = Array.from({ length: BROWSER_CLIENTS }, (_, i) => `127.0.91.${i + 1}`);
  const curlIp = '127.0.92.1';
  const set = [...browserIps, curlIp].map((ip) => ({ ip, ttl: 600, reason: 'test challenge', action: 'challenge' }));
  const r = await control('POST', '/blocks', { set });
  assert.equal(r.status, 200, JSON.stringify(r.json));

  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  let passed = 0;
  let cookieOfFirst = '';
  try {
    for (const ip of browserIps) {
      const context = await browser.newContext({ extraHTTPHeaders: { 'x-forwarded-for': ip } });
      const page = await context.newPage();
      const problems: string[] = [];
      // The challenge page's own 403 is reported as a failed load; anything else (a CSP refusal) is a problem.
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      const first = await page.goto(`${(nginx as TestNginx).url}/page`);
      assert.equal(first?.status(), CHALLENGE.httpStatus, 'the first answer is the challenge');
      // No click, no key: the page's script does the work and reloads.
      await page.waitForFunction('document.body.innerText.trim() === "ok"', undefined, { timeout: 30_000 });
      const again = await page.goto(`${(nginx as TestNginx).url}/other`);
      assert.equal(again?.status(), 200, 'with the cookie, the next page comes at once');
      const cookie = (await context.cookies()).find((c) => c.name === 'lw_challenge');
      assert.ok(cookie !== undefined && cookie.httpOnly, 'lw_challenge is set, HttpOnly');
      assert.deepEqual(problems, [], 'no script error and no CSP violation');
      if (cookieOfFirst === '') cookieOfFirst = `lw_challenge=${cookie.value}`;
      passed++;
      await context.close();
    }
  } finally {
    await browser.close();
  }

  // curl keeps a cookie jar across its attempts, as a scripted client would: there is nothing to keep.
  let curlPassed = 0;
  const jarDir = mkdtempSync(join(tmpdir(), 'lw-curl-jar-'));
  t.after(() => rmSync(jarDir, { recursive: true, force: true }));
  for (let i = 0; i < CURL_ATTEMPTS; i++) {
    const [status, body] = await curl(curlIp, join(jarDir, 'jar'));
    if (status === 200) curlPassed++;
    else assert.ok(status === CHALLENGE.httpStatus && body.includes('id="lw-challenge"'), `curl is answered with the page (${status})`);
  }
  t.diagnostic(`pass rate: Chromium ${passed}/${BROWSER_CLIENTS} clients, curl ${curlPassed}/${CURL_ATTEMPTS} attempts`);
  assert.equal(passed, BROWSER_CLIENTS);
  assert.equal(curlPassed, 0);

  // The first browser's cookie: from curl at another address it fails; at its own address it passes.
  const owner = browserIps[0] as string;
  assert.equal((await curl(curlIp, cookieOfFirst))[0], CHALLENGE.httpStatus, 'a cookie is bound to its address');
  assert.equal((await curl(owner, cookieOfFirst))[0], 200, 'the cookie passes at its own address');
  // Rotation: the previous key is still accepted, the one before is not.
  await keys(P2);
  assert.equal((await curl(owner, cookieOfFirst))[0], 200, 'after one rotation the cookie still passes');
  await keys(P3);
  assert.equal((await curl(owner, cookieOfFirst))[0], CHALLENGE.httpStatus, 'after two rotations it no longer does');

  // The access log carries every outcome.
  await until('the access log lines', () => (outcomes(curlIp).length >= CURL_ATTEMPTS + 1 && outcomes(owner).length >= 5 ? true : undefined), 10_000);
  const mine = outcomes(owner);
  for (const o of ['issued', 'passed', 'valid', 'failed']) assert.ok(mine.includes(o), `${owner} logged ${o}: ${mine.join(',')}`);
  assert.ok(outcomes(curlIp).every((o) => o === 'issued' || o === 'failed'), 'curl was only ever issued the page (or failed with a foreign cookie)');
});

test('a security_filter CHALLENGE rule challenges its clients only', { skip: requireTool('curl is needed (apt-get install curl)', curlOk) }, async () => {
  await keys(P1);
  const rules = { version: Date.now(), whitelist: { ips: [], paths: [] }, deployments: {}, routes: [], security_filter: { version: 1, property: { enabled: true, filter_rules: [{ id: 'odd-net', match: { ips: ['127.0.93.0/24'] }, response_handling: { on_filtered: 'CHALLENGE' } }] } } };
  assert.equal((await control('PUT', '/rules', rules)).status, 200);
  const [status, body] = await curl('127.0.93.9');
  assert.equal(status, CHALLENGE.httpStatus);
  assert.ok(body.includes('challenge:filter:odd-net<'), body.slice(0, 300));
  assert.equal((await curl('127.0.94.9'))[0], 200, 'a client the rule does not name passes');
});

// Attack tools run no JavaScript either: every request of theirs from a challenged address is held at the page.
const onPath = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const TOOLS: Record<string, (url: string, ip: string, dir: string) => string[]> = {
  ffuf: (url, ip, dir) => ['ffuf', '-u', `${url}/FUZZ`, '-w', `${dir}/words`, '-H', `X-Forwarded-For: ${ip}`, '-mc', 'all', '-s'],
  sqlmap: (url, ip, dir) => ['sqlmap', '-u', `${url}/?id=1`, `--headers=X-Forwarded-For: ${ip}`, '--batch', '--technique=B', '--level', '1', '--risk', '1', '--flush-session', '--output-dir', `${dir}/sqlmap`],
};
for (const [tool, args] of Object.entries(TOOLS)) {
  test(`${tool} never passes the challenge`, { skip: requireTool(`${tool} is not installed (infra/tools/attack-tools.sh install)`, onPath(tool)), timeout: 120_000 }, async (t) => {
    await keys(P1);
    const ip = tool === 'ffuf' ? '127.0.96.1' : '127.0.96.2';
    assert.equal((await control('POST', '/blocks', { set: [{ ip, ttl: 600, action: 'challenge' }] })).status, 200);
    const dir = mkdtempSync(join(tmpdir(), `lw-challenge-${tool}-`));
    try {
      writeFileSync(join(dir, 'words'), 'admin\nbackup\nindex.html\nlogin\nconfig\n');
      const [bin, ...rest] = args((nginx as TestNginx).url, ip, dir) as [string, ...string[]];
      await new Promise<void>((resolve) => {
        execFile(bin, rest, { timeout: 90_000, cwd: dir, env: { ...process.env, HOME: dir } }, () => resolve());
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const seen = await until(`${tool}'s requests in the access log`, () => (outcomes(ip).length > 0 ? outcomes(ip) : undefined), 10_000);
    t.diagnostic(`${tool}: ${seen.length} requests, ${seen.filter((o) => o === 'passed' || o === 'valid').length} passed`);
    assert.ok(seen.every((o) => o === 'issued'), `${tool} was only ever issued the page: ${[...new Set(seen)].join(',')}`);
  });
}
