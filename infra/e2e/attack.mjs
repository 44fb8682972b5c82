#!/usr/bin/env node
/* global fetch, AbortSignal */
// End to end under real attack tools, distributed mode on one machine, all on
// loopback: the real Kafka broker, the ingester, the detector and the enforcer
// as separate `logwarden` processes, the sink and the API in one more
// (sink-api.mjs: the embedded ClickHouse engine is one process's), and the
// test nginx with the Lua module and its control endpoint. Detection runs at
// FlatRun's defaults (the `security:` block is not touched: auto_block_threshold
// 50, rate_threshold 100, detection_window 2m, ...). Then Debian's attack tools
// against that nginx, each from a source address of its own (harness.mjs):
//
//   dirb                 directory scan                        → unique paths / signatures block it
//   hydra, disguised     basic-auth brute force on a route      → auth_failure blocks it
//                        protected through the API (its User-Agent rewritten
//                        by a forward proxy: hydra 9.4 cannot change it, and
//                        its own one is a signature)
//   hydra                the same, as shipped                   → its signature blocks it
//   sqlmap               injection scan of /?id=1               → its signature blocks it
//   wrk                  flood of /                             → its volume (repeated hits, rate) blocks it
//   benign (4 visitors)  a browser's pace over a dozen pages    → 200 throughout
//
// What counts is nginx's own access log: for each tool, its requests nginx
// refused for its block must be more than none, within the tool's time
// (a tool that ends before it is refused is run again, up to MAX_RUNS); the
// benign visitors' requests must all be 200. Each block and the events behind
// it must reach ClickHouse and be listed by the API. Then a second phase
// (same-address.mjs): ffuf, gobuster, wfuzz, whatweb, ffuf with a browser's
// user agent and hydra one after another from ONE address, its block lifted through the API
// between them (each must be refused again), a browser visitor with its
// assets throughout (never refused), two slow brute forces and a scanner
// rotating through an IPv6 /64 (refused, the /64 as a range). Prints a summary table;
// exits non-zero on any failure. A missing tool is installed by
// infra/tools/attack-tools.sh where it can be; otherwise it is skipped with a message,
// and under CI=true it fails the run, named. Bounded: a watchdog ends the run
// after RUN_LIMIT_MS.
//
//   npm run test:e2e            (builds first)
//   node infra/e2e/attack.mjs   (uses dist/ as it is; LOGWARDEN_TEST_KAFKA_BROKERS=host:port
//                                uses that running broker instead of infra/kafka/kafka.sh's)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AccessLog, Processes, disguisingProxy, ensureTools, forwarder, freeUdpPort, get, onPath, printTable, runTool, stopChild, until } from './harness.mjs';
import { SAME_ADDRESS_TOOLS, sameAddressPhase } from './same-address.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
if (!existsSync(join(root, 'dist', 'services', 'cli', 'main.js'))) {
  console.error('e2e: dist/ is missing: run `npm run build` (or `npm run test:e2e`, which builds)');
  process.exit(2);
}
const { startTestNginx, freePort } = await import(dist('shared/testing/nginx.js'));
const { hashToken } = await import(dist('shared/auth/tokens.js'));
const { signNodeRequest } = await import(dist('shared/node-auth.js'));

const CI = process.env.CI === 'true';
const RUN_LIMIT_MS = 6 * 60_000;
const READY_WITHIN_MS = 120_000;
/** A tool must be refused by nginx this long after its first start. */
const REFUSE_WITHIN_MS = 45_000;
/** A tool that exits before it is refused is started again, this many times in all. */
const MAX_RUNS = 3;
/** How long a tool may go on once it is refused (to see it being refused), before it is stopped. */
const LINGER_MS = 2_000;
/** How long the sink may take to show events and blocks through the API. */
const STORED_WITHIN_MS = 60_000;
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

const stamp = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'logwarden-e2e-'));
const logsDir = join(work, 'logs');
mkdirSync(logsDir);
const say = (s) => console.log(`e2e: ${s}`);
const procs = new Processes(root, logsDir, READY_WITHIN_MS);

// ------------------------------------------------------------------ cleanup
const cleanups = [];
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`e2e: cleanup: ${err.message}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => void cleanup().finally(() => process.exit(130)));
}

const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`e2e: FAIL: ${what}`);
};

// ------------------------------------------------------------------ the tools
const t00 = Date.now();
const TOOLS = [...new Set(['dirb', 'hydra', 'sqlmap', 'wrk', ...SAME_ADDRESS_TOOLS])];
const why = ensureTools(root);
const missing = Object.fromEntries(TOOLS.filter((t) => !onPath(t)).map((t) => [t, why ?? `${t} is not on PATH`]));
// dirb's word list is the fuzzers' too (same-address.mjs).
for (const t of ['dirb', 'ffuf', 'gobuster', 'wfuzz']) if (!existsSync('/usr/share/dirb/wordlists/common.txt')) missing[t] ??= 'no /usr/share/dirb/wordlists/common.txt (package dirb)';
for (const [t, w] of Object.entries(missing)) {
  if (CI) fail(`${t} is missing (CI=true: a missing tool fails the run): ${w}`);
  else say(`SKIP ${t}: ${w}`);
}

// From here on, bounded (the installs above are not: a fresh machine downloads).
const watchdog = setTimeout(() => {
  console.error(`e2e: FAILED: the run took longer than ${RUN_LIMIT_MS / 1000} s`);
  procs.printLogTails();
  void cleanup().finally(() => process.exit(1));
}, RUN_LIMIT_MS);

// ------------------------------------------------------------------ the addresses
const ADDR = {
  canary: '127.0.100.99',
  routeCheck: '127.0.100.98',
  /** Benign visitors, one address each. */
  benign: ['127.0.100.50', '127.0.100.51', '127.0.100.52', '127.0.100.53'],
  dirb: '127.0.100.11',
  hydraDisguised: '127.0.100.12',
  hydra: '127.0.100.13',
  sqlmap: '127.0.100.14',
  wrk: '127.0.100.15',
};

/** Kafka: the broker named by LOGWARDEN_TEST_KAFKA_BROKERS, else infra/kafka/kafka.sh's, left as found. */
function kafka() {
  if (process.env.LOGWARDEN_TEST_KAFKA_BROKERS) return process.env.LOGWARDEN_TEST_KAFKA_BROKERS.split(',')[0];
  const wasRunning = spawnSync('bash', ['infra/kafka/kafka.sh', 'status'], { cwd: root, stdio: 'ignore' }).status === 0;
  const k = spawnSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
  if (k.status !== 0) throw new Error('infra/kafka/kafka.sh start failed');
  if (!wasRunning) cleanups.push(() => spawnSync('bash', ['infra/kafka/kafka.sh', 'stop'], { cwd: root, stdio: 'inherit' }));
  return k.stdout.trim().split(/\s+/)[0];
}

function writeConfig(file, { brokers, udpPort, token, controlUrl }) {
  writeFileSync(
    file,
    [
      // No `security:` block: detection runs at FlatRun's defaults.
      // Consumer groups are named after client_id, not the topic prefix: a run of its own needs its own.
      `kafka: { brokers: ["${brokers}"], client_id: "e2e-${stamp}", topic_prefix: "e2e-${stamp}.", partitions: 2, linger: 5ms }`,
      `clickhouse: { database: e2e_${stamp} }`,
      `ingest: { udp: { host: 127.0.0.1, port: ${udpPort} } }`,
      'api:',
      '  host: 127.0.0.1',
      '  port: 0',
      `  tokens: [{ name: e2e, role: admin, hash: "${hashToken(token)}" }]`,
      `nodes: [{ name: edge-1, url: "${controlUrl}", secret_env: LOGWARDEN_E2E_NODE_SECRET }]`,
      'metrics: { port: 0 }',
      `data_dir: ${JSON.stringify(join(work, 'data'))}`,
      'log_level: info',
      '',
    ].join('\n'),
  );
}

/** The pipeline: Kafka, nginx, the logwarden processes; returns what the attacks need. */
async function startPipeline() {
  const brokers = kafka();
  say(`Kafka broker ${brokers}`);
  const udpPort = await freeUdpPort();
  const controlSecret = randomBytes(24).toString('hex');
  const nginx = await startTestNginx({ syslog: `127.0.0.1:${udpPort}`, controlPort: await freePort(), controlSecret });
  cleanups.push(() => nginx.stop());
  say(`test nginx ${nginx.url}, control ${nginx.controlUrl}`);

  const token = `lw_e2e-${randomBytes(16).toString('hex')}`;
  const configFile = join(work, 'logwarden.yaml');
  writeConfig(configFile, { brokers, udpPort, token, controlUrl: nginx.controlUrl });
  const env = { ...process.env, LOGWARDEN_E2E_NODE_SECRET: controlSecret };
  delete env.LOGWARDEN_CONFIG;
  delete env.CLICKHOUSE_URL;
  const cli = join(root, 'dist', 'services', 'cli', 'main.js');
  cleanups.push(() => procs.stopAll());
  // The sink and API first: they migrate ClickHouse and publish the control plane.
  const [, apiReady] = await procs.start('sink+api', [join(root, 'infra', 'e2e', 'sink-api.mjs'), configFile], env, /READY (\{.*\})\n/);
  const apiUrl = `http://127.0.0.1:${JSON.parse(apiReady).apiPort}`;
  await Promise.all(['ingester', 'detector', 'enforcer'].map((s) => procs.start(s, [cli, s, '-c', configFile], env, /logwarden \S+ running:/)));
  say(`processes up after ${((Date.now() - t00) / 1000).toFixed(1)} s: ${procs.list.map((p) => `${p.name} (pid ${p.child.pid})`).join(', ')}; API ${apiUrl}`);

  const api = async (method, path, body) => {
    const res = await fetch(apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
    return { status: res.status, body: json };
  };
  const controlStatus = async () => {
    const res = await fetch(`${nginx.controlUrl}/status`, { headers: { authorization: signNodeRequest(controlSecret, 'GET', '/status', '') } });
    return res.json();
  };
  await until('the enforcer to push its first rule set', async () => (await controlStatus()).rules_version >= 1, READY_WITHIN_MS);
  return { nginx, api };
}

/** A canary through the whole pipeline before any attack: nginx → ingester → Kafka → detector → Kafka → sink → ClickHouse → API. */
async function canary(nginx, api) {
  // A request for a backup file is a light signature (weight 10 of 50: no block).
  const tCanary = Date.now();
  let sent = 0;
  await until(
    'the canary event in ClickHouse (pipeline flowing)',
    async () => {
      // Again only if lost.
      if (Date.now() - tCanary >= sent * 20_000) {
        sent++;
        await get(`${nginx.url}/site-backup.zip`, ADDR.canary, { 'user-agent': `${BROWSER} e2e-canary` });
      }
      const r = await api('GET', `/api/security/events?ip=${ADDR.canary}`);
      return r.status === 200 && r.body.data.length > 0;
    },
    READY_WITHIN_MS,
  );
  say(`pipeline flowing: canary request → event listed by the API in ${Date.now() - tCanary} ms`);
}

/** Benign visitors at a browser's pace (a page every 1.5 s over a dozen pages: 80 in 2m), under every default threshold. */
function startBenign(nginx) {
  const pages = ['/', '/products', '/products/boots', '/products/scarf', '/cart', '/about', '/contact', '/search?q=boots', '/blog', '/blog/caching', '/help', '/products?page=2'];
  const benign = { ok: 0, other: [], running: true };
  const visit = async (ip, first) => {
    for (let i = first; benign.running; i++) {
      const s = await get(`${nginx.url}${pages[i % pages.length]}`, ip, { 'user-agent': BROWSER });
      if (s === 200) benign.ok++;
      else benign.other.push(`${ip}: ${s}`);
      for (let w = 0; w < 15 && benign.running; w++) await sleep(100);
    }
  };
  benign.done = Promise.all(ADDR.benign.map((ip, n) => sleep(n * 350).then(() => visit(ip, n * 3))));
  return benign;
}

/** The attacks, each from its own address: the tool's command line, and what its events and block must show. */
async function attacks(nginx, api) {
  const target = { host: '127.0.0.1', port: nginx.port };
  const viaOwnAddress = async (ip) => {
    const f = await forwarder(ip, target);
    cleanups.push(() => f.close());
    return `127.0.0.1:${f.port}`;
  };

  // A route protected through the API, for the brute forcers.
  const routePassword = randomBytes(12).toString('hex');
  const route = await api('POST', '/api/security/protected-routes', { path: '/admin', method: 'ALL', auth_type: 'basic', credentials: `admin:${routePassword}` });
  if (route.status !== 201) throw new Error(`POST /api/security/protected-routes: ${route.status} ${JSON.stringify(route.body)}`);
  await until('nginx to ask for credentials on /admin', async () => (await get(`${nginx.url}/admin`, ADDR.routeCheck, { 'user-agent': BROWSER })) === 401, 30_000);
  const passwords = join(work, 'passwords.txt');
  writeFileSync(passwords, `${Array.from({ length: 400 }, (_, i) => `${['letmein', 'admin', 'password', 'qwerty', 'dragon'][i % 5]}${i}`).join('\n')}\n`);
  const hydraArgs = (hostPort) => {
    const [host, port] = hostPort.split(':');
    return ['-l', 'admin', '-P', passwords, '-s', port, '-t', '4', '-I', host, 'http-get', '/admin'];
  };
  // hydra 9.4 always sends its own User-Agent, a signature; a forward proxy
  // (HYDRA_PROXY_HTTP) rewrites it, standing for a brute forcer in disguise.
  const disguise = await disguisingProxy(ADDR.hydraDisguised, target, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36');
  cleanups.push(() => disguise.close());

  const names = (r) => (r ?? '').match(/\(([^)]*)\)$/)?.[1] ?? '';
  return [
    {
      name: 'dirb',
      tool: 'dirb',
      ip: ADDR.dirb,
      what: 'directory scan',
      tell: /DOWNLOADED:.*/,
      // A 10 ms pause between requests: without it dirb's word list could be done before a block lands.
      cmd: async () => ['dirb', [`http://${await viaOwnAddress(ADDR.dirb)}/`, '/usr/share/dirb/wordlists/common.txt', '-r', '-S', '-w', '-z', '10']],
      expect: () => undefined,
    },
    {
      name: 'hydra (disguised)',
      tool: 'hydra',
      ip: ADDR.hydraDisguised,
      what: 'basic-auth brute force',
      tell: /\d+ of \d+ target.*|\[http-get\].*/,
      cmd: async () => ['hydra', hydraArgs(`127.0.0.1:${nginx.port}`), { ...process.env, HYDRA_PROXY_HTTP: `http://127.0.0.1:${disguise.port}` }],
      expect: (detectors, block) =>
        !detectors.includes('auth_failure') ? 'no auth_failure event' : !/auth_failure/.test(names(block.reason)) ? `block reason does not name auth_failure: ${block.reason}` : undefined,
    },
    {
      name: 'hydra',
      tool: 'hydra',
      ip: ADDR.hydra,
      what: 'basic-auth brute force',
      tell: /\d+ of \d+ target.*|\[http-get\].*/,
      cmd: async () => ['hydra', hydraArgs(await viaOwnAddress(ADDR.hydra))],
      expect: (detectors) => (detectors.includes('signature:ua-hydra') ? undefined : 'no signature:ua-hydra event'),
    },
    {
      name: 'sqlmap',
      tool: 'sqlmap',
      ip: ADDR.sqlmap,
      what: 'SQL injection scan',
      tell: /\[(CRITICAL|ERROR)\].*/,
      cmd: async () => [
        'sqlmap',
        ['-u', `http://${await viaOwnAddress(ADDR.sqlmap)}/?id=1`, '--batch', '--delay=0.1', '--timeout=5', '--retries=0', '--flush-session', '--disable-coloring', `--output-dir=${join(work, 'sqlmap')}`],
      ],
      expect: (detectors) => (detectors.some((d) => /^signature:|^unique_paths$/.test(d)) ? undefined : 'no signature or unique_paths event'),
    },
    {
      name: 'wrk',
      tool: 'wrk',
      ip: ADDR.wrk,
      what: 'flood',
      tell: /Non-2xx.*|Requests\/sec.*/,
      cmd: async () => ['wrk', ['-t', '2', '-c', '16', '-d', `${REFUSE_WITHIN_MS / 1000}s`, `http://${await viaOwnAddress(ADDR.wrk)}/`]],
      // One path at full speed: repeated_hits (30 hits on / within 2m) or rate (100 requests) reaches the threshold first.
      expect: (detectors, block) =>
        !detectors.some((d) => d === 'rate' || d === 'repeated_hits')
          ? 'no rate or repeated_hits event'
          : !/\brate\b|repeated_hits/.test(names(block.reason)) ? `block reason names neither rate nor repeated_hits: ${block.reason}` : undefined,
    },
  ];
}

/** Runs one attack until nginx's log shows it refused (or its time and runs are spent); `log` is nginx's access log. */
async function runAttack(a, log) {
  say(`${a.name} (${a.what}) from ${a.ip}`);
  const t0 = Date.now();
  const r = { ...a, t0, runs: 0, out: join(logsDir, `${a.name.replace(/\W+/g, '-')}.out`) };
  while (r.runs < MAX_RUNS && Date.now() - t0 < REFUSE_WITHIN_MS) {
    r.runs++;
    const [cmd, args, env] = await a.cmd();
    const tool = runTool(r.out, work, cmd, args, env);
    let exit;
    void tool.exited.then((e) => (exit = e));
    while (exit === undefined && Date.now() - t0 < REFUSE_WITHIN_MS) {
      log.poll();
      if (log.client(a.ip).refused > 0) break;
      await sleep(100);
    }
    if (log.client(a.ip).refused > 0) {
      r.refusedSeenAt = Date.now();
      await Promise.race([tool.exited, sleep(LINGER_MS)]);
    }
    r.exit = await stopChild(tool.child, tool.exited);
    if (r.refusedSeenAt !== undefined) break;
  }
  return r;
}

/** The block and the events of an attacker, as the API lists them from ClickHouse. */
async function stored(r, api) {
  r.block = await until(
    `${r.name}'s block listed by the API`,
    async () => {
      const b = await api('GET', `/api/security/blocked-ips?ip=${r.ip}`);
      return b.status === 200 ? b.body.data.find((x) => x.ip === r.ip) : undefined;
    },
    STORED_WITHIN_MS,
  );
  const since = Date.now();
  r.events = await until(
    `${r.name}'s events listed by the API`,
    async () => {
      const e = await api('GET', `/api/security/events?ip=${r.ip}&limit=500`);
      if (e.status !== 200 || e.body.data.length === 0) return undefined;
      const detectors = [...new Set(e.body.data.map((x) => x.detector))].sort();
      // The sink batches: give a wanted detector time to show up before judging.
      return r.expect(detectors, r.block) === undefined || Date.now() - since > 15_000 ? e.body.data : undefined;
    },
    STORED_WITHIN_MS,
  );
  r.detectors = [...new Set(r.events.map((x) => x.detector))].sort();
  const wrong = r.expect(r.detectors, r.block);
  if (wrong) fail(`${r.name}: ${wrong} (detectors: ${r.detectors.join(', ')})`);
  if (r.block.source !== 'auto') fail(`${r.name}: block source ${r.block.source}, expected auto`);
}

function printSummary(results, log, benign) {
  const secs = (ms) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const rows = [['tool', 'client', 'runs', 'requests', 'refused', 'first request→first refusal', 'decision→first refusal', 'detectors (events in ClickHouse)']];
  for (const r of results) {
    if (r.skipped) {
      rows.push([r.name, r.ip, '-', '-', '-', 'SKIPPED', '', r.skipped]);
      continue;
    }
    const c = log.client(r.ip);
    rows.push([
      r.name,
      r.ip,
      String(r.runs),
      String(c.requests),
      String(c.refused),
      c.firstRefusedMs === undefined ? 'NOT refused' : secs(c.firstRefusedMs - c.firstMs),
      r.block && c.firstRefusedMs !== undefined ? `${c.firstRefusedMs - r.block.created_at} ms` : '-',
      r.detectors ? r.detectors.join(', ') : '-',
    ]);
  }
  for (const ip of ADDR.benign) {
    const b = log.client(ip);
    rows.push(['benign', ip, '-', String(b.requests), String(b.refused), `${b.ok} answered 200`, '', '']);
  }
  printTable('e2e summary (from nginx\'s own access log; refused = answered for a block; decision→first refusal: the block decision\'s event time to nginx\'s first refusal)', rows);
  for (const r of results) {
    if (r.skipped) continue;
    if (r.block) console.log(`  ${r.name}: block reason: ${r.block.reason}`);
    // The tool's own account of it, last lines first.
    let said = [];
    try {
      said = readFileSync(r.out, 'utf8').split('\n').map((l) => r.tell.exec(l)?.[0]).filter(Boolean);
    } catch {
      // no output file: nothing to quote
    }
    if (said.length > 0) console.log(`  ${r.name} says: ${[...new Set(said)].slice(-2).join(' | ').slice(0, 300)}`);
  }
  const total = benign.ok + benign.other.length;
  console.log(`  benign visitors as they saw it: ${benign.ok}/${total} answered 200${benign.other.length ? `; others: ${benign.other.join(', ')}` : ''}`);
}

// ------------------------------------------------------------------ the run
try {
  if (failures.length > 0) throw new Error('attack tools missing');
  const { nginx, api } = await startPipeline();
  const log = new AccessLog(join(nginx.dir, 'logs', 'access.log'));
  await canary(nginx, api);
  const benign = startBenign(nginx);

  const results = [];
  for (const a of await attacks(nginx, api)) {
    if (missing[a.tool]) {
      results.push({ ...a, skipped: missing[a.tool] });
      continue;
    }
    const r = await runAttack(a, log);
    results.push(r);
    if (log.client(a.ip).refused === 0) fail(`${a.name}: none of its ${log.client(a.ip).requests} requests refused by nginx within ${REFUSE_WITHIN_MS / 1000} s (${r.runs} run(s))`);
  }
  // In ClickHouse, through the API: each block in force and the events behind it.
  await Promise.all(
    results.filter((r) => !r.skipped && log.client(r.ip).refused > 0).map((r) => stored(r, api).catch((err) => fail(`${r.name}: ${err.message}`))),
  );

  benign.running = false;
  await benign.done;
  await sleep(200);
  log.poll();
  printSummary(results, log, benign);

  // hydra reads nginx's 403s as found passwords: nginx itself must never have let one in.
  for (const r of results) {
    if (r.tool === 'hydra' && !r.skipped && log.client(r.ip).ok > 0) fail(`${r.name}: nginx answered 200 to ${log.client(r.ip).ok} of its requests`);
  }
  for (const ip of ADDR.benign) {
    const b = log.client(ip);
    if (b.requests === 0) fail(`benign ${ip}: no request in nginx's log`);
    if (b.ok !== b.requests) fail(`benign ${ip}: nginx answered ${b.requests - b.ok} of its ${b.requests} requests other than 200: ${JSON.stringify(b.statuses)}`);
    const blocks = (await api('GET', `/api/security/blocked-ips?ip=${ip}`)).body.data ?? [];
    const events = (await api('GET', `/api/security/events?ip=${ip}`)).body.data ?? [];
    if (blocks.length > 0) fail(`benign ${ip} was blocked: ${JSON.stringify(blocks)}`);
    if (events.length > 0) fail(`benign ${ip} has events: ${events.map((e) => e.detector).join(', ')}`);
  }
  if (benign.other.length > 0) fail(`benign traffic got ${benign.other.length} non-200 answers: ${[...new Set(benign.other)].join(', ')}`);

  // The second phase: one address, tool after tool, its block lifted through the API between them.
  const same = await sameAddressPhase({ nginx, api, log, work, logsDir, say, fail, cleanups, missing });
  if (log.bad > 0) fail(`${log.bad} lines of nginx's access log are not JSON`);
  for (const p of procs.list) if (p.exited) fail(`${p.name} exited during the run (log: ${p.file})`);

  const ran = results.filter((r) => !r.skipped);
  const checks = [...ran.map((r) => `${r.name}:`), 'benign', ...same.checks.map((c) => `same address: ${c}:`)];
  const passed = checks.filter((c) => !failures.some((f) => f.startsWith(c))).length;
  const skipped = results.length - ran.length + same.skipped;
  console.log(`\ne2e: ${passed} passed, ${checks.length - passed} failed, ${skipped} skipped (${((Date.now() - t00) / 1000).toFixed(0)} s; logs in ${logsDir})`);
} catch (err) {
  if (failures.length === 0 || err.message !== 'attack tools missing') fail(err.stack ?? String(err));
}

if (failures.length > 0) procs.printLogTails();
await cleanup();
clearTimeout(watchdog);
if (failures.length > 0) {
  console.error(`e2e: FAILED (${failures.length}): ${failures.join('; ')}`);
  process.exit(1);
}
rmSync(work, { recursive: true, force: true });
process.exit(0);
