// The e2e run's second phase (infra/e2e/attack.mjs), at FlatRun's default
// thresholds like the first: what an operator sees who lifts a block and
// watches the same attacker come back.
//
//   one address, tool after tool     ffuf, gobuster, wfuzz (their own user agents), whatweb
//                                    -a 4 (nikto is not packaged in Debian main: whatweb's
//                                    heavy mode stands for the scanner), ffuf with a browser's
//                                    user agent, hydra, hydra behind a proxy that rewrites its
//                                    user agent to a browser's; each one refused by nginx, then
//                                    its block lifted through the API (DELETE
//                                    /api/security/blocked-ips/<ip>), and the next one started
//                                    once nginx lets the address through again
//   a browser visitor, throughout    a page and its 8 assets, about 2 requests/s; conditional
//                                    repeats when nginx sends validators → never refused
//   two slow brute forces            hydra -c 3 and -c 5 (a failed login every ~4 s and ~6 s:
//                                    15 and 10 a minute), each from its own address, its user
//                                    agent a browser's → refused; the slower one never reaches
//                                    the threshold within the window: the offence memory blocks it
//   a /64-rotating scanner           2001:db8:77:1::<n>, a new address every 3 requests, distinct
//                                    missing paths, presented from 127.0.0.1 with
//                                    X-Forwarded-For (the test nginx trusts it from there) →
//                                    refused as the range: an unused address of the /64 is
//                                    refused too, another /64 is not, and the API lists the
//                                    block as the CIDR
//
// Judged from nginx's own access log: the requests of the tools' address are
// counted per tool by time (from the tool's start to the lift of its block).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { disguisingProxy, forwarder, get, printTable, request, runTool, stopChild, until } from './harness.mjs';

const ADDR = {
  tools: '127.0.120.1',
  slow: '127.0.120.2',
  slower: '127.0.120.3',
  browser: '127.0.120.50',
  routeCheck: '127.0.120.98',
  /** The scanner's /64; its addresses reach nginx through the trusted proxy address. */
  v6Net: '2001:db8:77:1::',
  v6Unused: '2001:db8:77:1:ffff:ffff:ffff:fffe',
  v6Other: '2001:db8:77:2::1',
  trustedProxy: '127.0.0.1',
};
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const WORDS = '/usr/share/dirb/wordlists/common.txt';
// The phase's bounds: a tool must be refused by nginx within `refuseMs` of its first start (one
// that exits before is run again, up to `maxRuns`); a slow brute force needs 25-odd failed logins,
// about 100 s at -c 3 and 170 s at -c 5 (`slowMs`); a lifted block lets the address through within
// `liftedMs`; a block is listed by the API within `listedMs`.
const BOUNDS = { refuseMs: 45_000, maxRuns: 3, lingerMs: 1_500, slowMs: 240_000, liftedMs: 30_000, listedMs: 60_000 };

export const SAME_ADDRESS_TOOLS = ['ffuf', 'gobuster', 'wfuzz', 'whatweb', 'hydra'];

/**
 * Runs the phase; `ctx` is the run's: nginx, api, log (AccessLog), work, logsDir,
 * say, fail, cleanups, missing (tool → why it is missing). Prints its table.
 */
export async function sameAddressPhase(ctx) {
  const { nginx, api, log, work, fail, cleanups } = ctx;
  const inV6Net = (ip) => ip.startsWith('2001:db8:77:1:');
  log.keep = (ip) => ip === ADDR.tools || ip === ADDR.slow || ip === ADDR.slower || ip === ADDR.browser || inV6Net(ip);
  const t0 = Date.now();
  const target = { host: '127.0.0.1', port: nginx.port };

  const password = randomBytes(12).toString('hex');
  const route = await api('POST', '/api/security/protected-routes', { path: '/vault', method: 'ALL', auth_type: 'basic', credentials: `vault:${password}` });
  if (route.status !== 201) throw new Error(`POST /api/security/protected-routes: ${route.status} ${JSON.stringify(route.body)}`);
  await until('nginx to ask for credentials on /vault', async () => (await get(`${nginx.url}/vault`, ADDR.routeCheck, { 'user-agent': CHROME })) === 401, 30_000);
  const passwords = join(work, 'vault-passwords.txt');
  writeFileSync(passwords, `${Array.from({ length: 400 }, (_, i) => `${['hunter', 'summer', 'welcome', 'secret'][i % 4]}${i}`).join('\n')}\n`);
  const hydraArgs = (host, port, extra = []) => ['-l', 'vault', '-P', passwords, '-s', String(port), ...extra, '-I', host, 'http-get', '/vault'];
  const own = async (make) => {
    const s = await make();
    cleanups.push(() => s.close());
    return s.port;
  };
  const fwd = await own(() => forwarder(ADDR.tools, target));
  const disguised = await own(() => disguisingProxy(ADDR.tools, target, CHROME));

  const browser = startBrowser(nginx);
  const slow = [
    { name: 'slow brute force', label: 'hydra -c 3 (browser UA)', ip: ADDR.slow, pace: '3' },
    { name: 'slower brute force', label: 'hydra -c 5 (browser UA)', ip: ADDR.slower, pace: '5' },
  ].map(async (b) => startSlowBrute(ctx, b, hydraArgs('127.0.0.1', nginx.port, ['-t', '1', '-c', b.pace]), await own(() => disguisingProxy(b.ip, target, CHROME))));
  const scanner = v6Scanner(nginx);

  const steps = [
    { name: 'ffuf', tool: 'ffuf', cmd: ['ffuf', ['-u', `http://127.0.0.1:${fwd}/missing/FUZZ`, '-w', WORDS, '-t', '5', '-p', '0.02', '-s']] },
    { name: 'gobuster', tool: 'gobuster', cmd: ['gobuster', ['dir', '-u', `http://127.0.0.1:${fwd}/missing/`, '-w', WORDS, '-q', '-t', '5', '--delay', '20ms', '--no-error']] },
    // -s (a delay) makes wfuzz send one request at a time.
    { name: 'wfuzz', tool: 'wfuzz', cmd: ['wfuzz', ['-w', WORDS, '--hc', '404', '-s', '0.01', `http://127.0.0.1:${fwd}/missing/FUZZ`]] },
    // Aggression 4: every plugin's URLs, a nikto-like walk of known paths (about 6 a second).
    // Not nmap's http-enum: against this nginx, which answers 200 anywhere, it stops after its
    // three-request 404 check ("ambiguous response").
    { name: 'whatweb -a 4', tool: 'whatweb', cmd: ['whatweb', ['-a', '4', '--no-errors', `http://127.0.0.1:${fwd}/`]] },
    { name: 'ffuf (browser UA)', tool: 'ffuf', cmd: ['ffuf', ['-u', `http://127.0.0.1:${fwd}/missing/FUZZ`, '-w', WORDS, '-t', '5', '-p', '0.02', '-s', '-H', `User-Agent: ${CHROME}`]] },
    { name: 'hydra', tool: 'hydra', cmd: ['hydra', hydraArgs('127.0.0.1', fwd, ['-t', '4'])] },
    { name: 'hydra (browser UA)', tool: 'hydra', cmd: ['hydra', hydraArgs('127.0.0.1', nginx.port, ['-t', '4']), { ...process.env, HYDRA_PROXY_HTTP: `http://127.0.0.1:${disguised}` }] },
  ];
  const results = [];
  for (const s of steps) {
    if (ctx.missing[s.tool]) {
      results.push({ ...s, skipped: ctx.missing[s.tool] });
      continue;
    }
    const r = await runStep(ctx, s);
    results.push(r);
    if (r.stats.refused === 0) {
      fail(`same address: ${s.name}: none of its ${r.stats.requests} requests refused by nginx within ${BOUNDS.refuseMs / 1000} s (${r.runs} run(s))`);
      continue;
    }
    try {
      await lift(ctx, r);
    } catch (err) {
      fail(`same address: ${s.name}: ${err.message}`);
      break;
    }
  }

  const slowResults = await Promise.all(slow);
  await stepDetectors(api, results);
  for (const sr of slowResults) {
    if (sr.skipped) continue;
    sr.stats = log.between((ip) => ip === sr.ip, t0);
    if (sr.stats.refused === 0) {
      fail(`same address: ${sr.name}: none of its ${sr.stats.requests} requests refused by nginx within ${BOUNDS.slowMs / 1000} s`);
      continue;
    }
    sr.block = await until(`the ${sr.name}'s block listed by the API`, async () => {
      const b = await api('GET', `/api/security/blocked-ips/${sr.ip}`);
      return b.status === 200 ? b.body.data : undefined;
    }, BOUNDS.listedMs).catch((err) => void fail(`same address: ${sr.name}: ${err.message}`));
  }
  const v6 = await scanner;
  await checkRange(ctx, v6);
  browser.running = false;
  await browser.done;
  await sleep(300);
  log.poll();

  // The browser: nginx answered every request 200 or 304, and nothing was decided against it.
  const b = log.between((ip) => ip === ADDR.browser, t0);
  const bad = Object.entries(b.statuses).filter(([st]) => st !== '200' && st !== '304');
  if (b.requests === 0) fail('same address: browser visitor: no request in nginx\'s log');
  if (bad.length > 0 || b.refused > 0) fail(`same address: browser visitor: nginx answered ${JSON.stringify(b.statuses)} (refused ${b.refused})`);
  if (browser.other.length > 0) fail(`same address: browser visitor: it saw ${browser.other.length} answers other than 200/304: ${[...new Set(browser.other)].join(', ')}`);
  const held = (await api('GET', `/api/security/blocked-ips?ip=${ADDR.browser}`)).body.data ?? [];
  if (held.length > 0) fail(`same address: browser visitor: blocked: ${JSON.stringify(held)}`);

  const v6Stats = log.between(inV6Net, t0);
  if (v6Stats.refused === 0) fail(`same address: /64 scanner: none of its ${v6Stats.requests} requests refused by nginx`);

  const events = (await api('GET', `/api/security/events?ip=${ADDR.browser}`)).body.data ?? [];
  if (events.length > 0) fail(`same address: browser visitor: events: ${events.map((e) => e.detector).join(', ')}`);

  printPhase({ results, slowResults, v6, v6Stats, b, browser, t0 });
  const ran = results.filter((r) => !r.skipped);
  const slowRan = slowResults.filter((sr) => !sr.skipped);
  return { checks: [...ran.map((r) => r.name), ...slowRan.map((sr) => sr.name), '/64 scanner', 'browser visitor'], skipped: results.length - ran.length + slowResults.length - slowRan.length };
}

/** One tool from the tools' address until nginx refuses it (or its time and runs are spent). */
async function runStep(ctx, s) {
  const { log, logsDir, work, say } = ctx;
  say(`same address: ${s.name} from ${ADDR.tools}`);
  const r = { ...s, t0: Date.now(), runs: 0, perRun: [], out: join(logsDir, `same-${s.name.replace(/\W+/g, '-')}.out`) };
  const refused = () => {
    log.poll();
    return log.between((ip) => ip === ADDR.tools, r.t0).refused > 0;
  };
  while (r.runs < BOUNDS.maxRuns && Date.now() - r.t0 < BOUNDS.refuseMs && !refused()) {
    r.runs++;
    const tRun = Date.now();
    const [cmd, args, env] = s.cmd;
    const tool = runTool(r.out, work, cmd, args, env);
    let exit;
    void tool.exited.then((e) => (exit = e));
    while (exit === undefined && Date.now() - r.t0 < BOUNDS.refuseMs && !refused()) await sleep(100);
    if (refused()) await Promise.race([tool.exited, sleep(BOUNDS.lingerMs)]);
    r.exit = await stopChild(tool.child, tool.exited);
    await sleep(100);
    log.poll();
    const run = log.between((ip) => ip === ADDR.tools, tRun);
    r.perRun.push(`${run.requests}/${run.refused}`);
  }
  await sleep(200);
  r.tEnd = Date.now();
  log.poll();
  r.stats = log.between((ip) => ip === ADDR.tools, r.t0, r.tEnd);
  return r;
}

/** The step's block, as the API lists it, lifted through the API; resolves once nginx lets the address through again. */
async function lift(ctx, r) {
  const { api, nginx } = ctx;
  r.block = await until(
    `${r.name}'s block listed by the API`,
    async () => {
      const b = await api('GET', `/api/security/blocked-ips/${ADDR.tools}`);
      return b.status === 200 && b.body.data.created_at >= r.t0 ? b.body.data : undefined;
    },
    BOUNDS.listedMs,
  );
  if (r.block.source !== 'auto') ctx.fail(`same address: ${r.name}: block source ${r.block.source}, expected auto`);
  const t = Date.now();
  const del = await api('DELETE', `/api/security/blocked-ips/${ADDR.tools}`);
  if (del.status !== 200) throw new Error(`DELETE /api/security/blocked-ips/${ADDR.tools}: ${del.status} ${JSON.stringify(del.body)}`);
  await until(`nginx to let ${ADDR.tools} through after the unblock`, async () => (await get(`${nginx.url}/`, ADDR.tools, { 'user-agent': CHROME })) === 200, BOUNDS.liftedMs);
  r.liftMs = Date.now() - t;
}

/**
 * The detectors whose events (ClickHouse, through the API) fall within each
 * step: what that tool's own requests fired. A block's reason names every
 * detector of the client's window, the previous tools' too.
 */
async function stepDetectors(api, results) {
  const ran = results.filter((r) => !r.skipped && r.tEnd !== undefined);
  const collect = async () => {
    const e = await api('GET', `/api/security/events?ip=${ADDR.tools}&limit=1000`);
    if (e.status !== 200) return undefined;
    for (const r of ran) r.detectors = [...new Set(e.body.data.filter((x) => x.ts >= r.t0 && x.ts < r.tEnd && x.detector !== 'blocklist').map((x) => x.detector))].sort();
    return ran.every((r) => r.detectors.length > 0) || undefined;
  };
  await until("the tools' events listed by the API", collect, 20_000).catch(() => undefined);
}

/** A page and its assets, one request every 500 ms; repeats are conditional when nginx gave validators. */
function startBrowser(nginx) {
  const pages = ['/', '/products', '/blog', '/about', '/products/boots'];
  const assets = ['/static/site.css', '/static/app.js', '/static/vendor.js', '/static/logo.png', '/static/hero.png', '/static/icons.png', '/static/fonts.css', '/static/thumb.png'];
  const state = { running: true, ok: 0, notModified: 0, other: [], validators: 0 };
  const seen = new Map();
  const fetchOne = async (path) => {
    const v = seen.get(path);
    const headers = { 'user-agent': CHROME, accept: '*/*', ...(v?.etag ? { 'if-none-match': v.etag } : {}), ...(v?.lastModified ? { 'if-modified-since': v.lastModified } : {}) };
    const res = await request(`${nginx.url}${path}`, ADDR.browser, headers);
    if (res.status === 200) state.ok++;
    else if (res.status === 304) state.notModified++;
    else state.other.push(`${path}: ${res.status}`);
    if (res.headers.etag || res.headers['last-modified']) {
      state.validators++;
      seen.set(path, { etag: res.headers.etag, lastModified: res.headers['last-modified'] });
    }
  };
  state.done = (async () => {
    for (let i = 0; state.running; i++) {
      for (const path of [pages[i % pages.length], ...assets]) {
        if (!state.running) break;
        const t = Date.now();
        await fetchOne(path);
        await sleep(Math.max(0, 500 - (Date.now() - t)));
      }
    }
  })();
  return state;
}

/** hydra at one failed login every 3 s from its own address, its user agent a browser's; until nginx refuses it. */
async function startSlowBrute(ctx, b, args, proxyPort) {
  const { log, logsDir, work, say } = ctx;
  if (ctx.missing.hydra) return { ...b, skipped: ctx.missing.hydra };
  say(`same address: ${b.name} (${b.label}) from ${b.ip}`);
  const t0 = Date.now();
  const tool = runTool(join(logsDir, `same-${b.name.replace(/\W+/g, '-')}.out`), work, 'hydra', args, { ...process.env, HYDRA_PROXY_HTTP: `http://127.0.0.1:${proxyPort}` });
  let exit;
  void tool.exited.then((e) => (exit = e));
  const refused = () => {
    log.poll();
    return log.between((ip) => ip === b.ip, t0).refused > 0;
  };
  while (exit === undefined && Date.now() - t0 < BOUNDS.slowMs && !refused()) await sleep(250);
  if (refused()) await Promise.race([tool.exited, sleep(BOUNDS.lingerMs)]);
  return { ...b, exit: await stopChild(tool.child, tool.exited), t0 };
}

/** Distinct missing paths from a new address of one /64 every 3 requests, 4 a second, until refused (and 3 more). */
async function v6Scanner(nginx) {
  const state = { sent: 0, refused: 0, addresses: new Set(), t0: Date.now() };
  await sleep(2_000);
  while (state.refused < 4 && Date.now() - state.t0 < BOUNDS.refuseMs) {
    const addr = `${ADDR.v6Net}${(Math.floor(state.sent / 3) + 1).toString(16)}`;
    state.addresses.add(addr);
    const s = await get(`${nginx.url}/missing/probe-${state.sent}-${randomBytes(3).toString('hex')}`, ADDR.trustedProxy, { 'user-agent': CHROME, 'x-forwarded-for': addr });
    state.sent++;
    if (s === 403) state.refused++;
    await sleep(250);
  }
  return state;
}

/** The /64 scanner's block is a range: at nginx (an unused address of it refused, another /64 not) and in the API (a CIDR). */
async function checkRange(ctx, v6) {
  const { api, nginx, fail } = ctx;
  const from = (addr) => get(`${nginx.url}/`, ADDR.trustedProxy, { 'user-agent': CHROME, 'x-forwarded-for': addr });
  v6.unused = await from(ADDR.v6Unused);
  v6.other = await from(ADDR.v6Other);
  if (v6.unused !== 403) fail(`same address: /64 scanner: an unused address of its /64 (${ADDR.v6Unused}) got ${v6.unused}, not 403`);
  if (v6.other !== 200) fail(`same address: /64 scanner: an address of another /64 (${ADDR.v6Other}) got ${v6.other}, not 200`);
  try {
    v6.block = await until(
      'the /64 block listed by the API',
      async () => {
        const b = await api('GET', `/api/security/blocked-ips?ip=${encodeURIComponent(`${ADDR.v6Net}/64`)}`);
        return b.status === 200 ? b.body.data.find((x) => x.ip.includes('/')) ?? undefined : undefined;
      },
      BOUNDS.listedMs,
    );
    if (v6.block.ip !== `${ADDR.v6Net}/64`) fail(`same address: /64 scanner: the API lists ${v6.block.ip}, expected ${ADDR.v6Net}/64`);
    if (v6.block.source !== 'auto') fail(`same address: /64 scanner: block source ${v6.block.source}, expected auto`);
  } catch (err) {
    const listed = (await api('GET', `/api/security/blocked-ips?ip=${encodeURIComponent(`${ADDR.v6Net}/64`)}`)).body.data ?? [];
    fail(`same address: /64 scanner: ${err.message}; the API lists ${JSON.stringify(listed.map((x) => x.ip))}`);
  }
}

function printPhase({ results, slowResults, v6, v6Stats, b, browser, t0 }) {
  const secs = (ms) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const toRefusal = (s) => (s.firstRefusedMs === undefined ? 'NOT refused' : secs(s.firstRefusedMs - s.firstMs));
  const reason = (block) => (block ? block.reason.replace(/^auto: /, '') : '-');
  const rows = [['tool', 'client', 'runs (requests/refused)', 'requests', 'refused', 'first request→first refusal', 'unblock→let through', 'events of its requests (besides blocklist)']];
  for (const r of results) {
    if (r.skipped) rows.push([r.name, ADDR.tools, '-', '-', '-', 'SKIPPED', '', r.skipped]);
    else rows.push([r.name, ADDR.tools, `${r.runs} (${r.perRun.join(', ')})`, r.stats.requests, r.stats.refused, toRefusal(r.stats), r.liftMs === undefined ? '-' : `${r.liftMs} ms`, (r.detectors ?? []).join(', ')]);
  }
  for (const sr of slowResults) {
    if (sr.skipped) rows.push([sr.label, sr.ip, '-', '-', '-', 'SKIPPED', '', sr.skipped]);
    else rows.push([sr.label, sr.ip, 1, sr.stats.requests, sr.stats.refused, toRefusal(sr.stats), '', `${((sr.stats.statuses['401'] ?? 0) * 60_000 / ((sr.stats.firstRefusedMs ?? Date.now()) - sr.stats.firstMs)).toFixed(1)} failed logins a minute`]);
  }
  rows.push([`/64 scanner (${v6.addresses.size} addresses)`, `${ADDR.v6Net}/64`, 1, v6Stats.requests, v6Stats.refused, toRefusal(v6Stats), '', '']);
  rows.push(['browser visitor', ADDR.browser, '-', b.requests, b.refused, `${JSON.stringify(b.statuses)} over ${secs(Date.now() - t0)}`, '', '']);
  printTable('e2e same-address phase (nginx\'s own access log; a tool\'s requests are those of the tools\' address from its start to the lift of its block)', rows);
  for (const r of results) if (r.block) console.log(`  ${r.name}: block reason: ${reason(r.block)}`);
  for (const sr of slowResults) if (sr.block) console.log(`  ${sr.name}: block reason: ${reason(sr.block)}`);
  if (v6.block) console.log(`  /64 scanner: block reason: ${reason(v6.block)}`);
  console.log(`  /64 block: an unused address of the /64 got ${v6.unused}, another /64 got ${v6.other}; the API lists ${v6.block ? `${v6.block.ip} (${v6.block.source})` : 'no range'}`);
  console.log(`  browser as it saw it: ${browser.ok} × 200, ${browser.notModified} × 304, ${browser.other.length} other; nginx sent validators on ${browser.validators} answers`);
}
