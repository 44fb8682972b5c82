#!/usr/bin/env node
/* global fetch, AbortSignal */
// End to end under real attack tools, distributed mode on one machine, all on
// loopback: the real Kafka broker (infra/kafka/kafka.sh), the ingester, the
// detector and the enforcer as separate `logwarden` processes, the sink and
// the API in one more (sink-api.mjs: the embedded ClickHouse engine is one
// process's), and the test nginx with the Lua module and its control endpoint.
// Then Debian's attack tools against that nginx, one client address each:
//
//   dirb                 directory scan                        → refused (403)
//   hydra, disguised     basic-auth brute force on a route      → auth_failure blocks it
//                        protected through the API (its User-Agent rewritten
//                        by a forward proxy: hydra 9.4 cannot change it, and
//                        its own one is a signature)
//   hydra                the same, as shipped                   → its signature blocks it
//   sqlmap               injection scan of /?id=1               → signatures / unique paths
//   wrk                  flood                                  → rate blocks it
//   benign               a slow loop of ordinary requests        → 200 throughout
//
// Each attacker must be refused by nginx within REFUSE_WITHIN_MS of its start;
// its events and block must reach ClickHouse and be listed by the API. Prints
// a summary table; exits non-zero on any failure. A tool apt cannot install is
// skipped with a message. Bounded: a watchdog ends the run after RUN_LIMIT_MS.
//
// Client addresses: the test nginx logs $remote_addr (127.0.0.1 for every tool
// here), so the ingester is told 127.0.0.1 is a trusted proxy and each tool
// sends X-Forwarded-For with its address; the test nginx's Lua takes the same
// address from X-Logwarden-Test-Client to decide. The probes that watch for
// the 403 send only the latter: nginx judges them as the attacker, but the
// pipeline sees 127.0.0.1, which is whitelisted, so they add no evidence.
//
//   npm run test:e2e            (builds first)
//   node infra/e2e/attack.mjs   (uses dist/ as it is)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
if (!existsSync(join(root, 'dist', 'services', 'cli', 'main.js'))) {
  console.error('e2e: dist/ is missing: run `npm run build` (or `npm run test:e2e`, which builds)');
  process.exit(2);
}
const { startTestNginx, freePort } = await import(dist('shared/testing/nginx.js'));
const { hashToken } = await import(dist('shared/auth/tokens.js'));
const { signControlRequest } = await import(dist('shared/control-auth.js'));

const RUN_LIMIT_MS = 6 * 60_000;
const READY_WITHIN_MS = 120_000;
/** An attacker must be refused by nginx this long after its tool started. */
const REFUSE_WITHIN_MS = 45_000;
/** How long a tool may go on once it is refused (to see it being refused), before it is stopped. */
const LINGER_MS = 2_000;
const PROBE_EVERY_MS = 100;
/** How long the sink may take to show events and blocks through the API. */
const STORED_WITHIN_MS = 60_000;
const TEST_CLIENT = 'X-Logwarden-Test-Client';

const stamp = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'logwarden-e2e-'));
const logsDir = join(work, 'logs');
mkdirSync(logsDir);
const say = (s) => console.log(`e2e: ${s}`);

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

// ------------------------------------------------------------------ attack tools from Debian
let aptUpdated = false;
function apt(args) {
  return spawnSync('apt-get', ['-q', '-o', 'DPkg::Lock::Timeout=300', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: 600_000,
  });
}
const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
/** undefined when the tool is there (installed now if need be), else why not. */
function ensureTool(bin, pkg) {
  if (onPath(bin)) return undefined;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) return `${bin} is not installed and this is not root on a Debian system (apt-get install ${pkg})`;
  say(`installing ${pkg} (apt-get)`);
  let r = apt(['install', '-y', '--no-install-recommends', pkg]);
  if (r.status !== 0 && !aptUpdated) {
    aptUpdated = true;
    apt(['update']);
    r = apt(['install', '-y', '--no-install-recommends', pkg]);
  }
  if (r.status !== 0 || !onPath(bin)) return `apt-get could not install ${pkg}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return undefined;
}

// ------------------------------------------------------------------ processes
const procs = [];
function startProcess(name, args, env, ready) {
  const file = join(logsDir, `${name}.log`);
  const log = createWriteStream(file);
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { name, file, child, exited: false };
  procs.push(proc);
  let seen = '';
  let done = false;
  const readyP = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within ${READY_WITHIN_MS / 1000} s (log: ${file})`)), READY_WITHIN_MS);
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      if (done) return;
      seen = (seen + chunk.toString('utf8')).slice(-65_536);
      const m = ready.exec(seen);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.stderr.on('data', (chunk) => log.write(chunk));
    child.on('exit', (code, signal) => {
      proc.exited = true;
      log.end();
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before it was ready (log: ${file})`));
      }
    });
  });
  return readyP;
}
async function stopProcess(p) {
  if (p.exited) return;
  const gone = new Promise((resolve) => p.child.once('exit', resolve));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  await gone;
  clearTimeout(t);
}
function printLogTails() {
  for (const p of procs) {
    let text;
    try {
      text = readFileSync(p.file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.trimEnd().split('\n').slice(-25);
    console.error(`\n--- ${p.name} (last ${lines.length} lines of ${p.file})\n${lines.join('\n')}`);
  }
}

/** Runs an attack tool; output to a file; resolves when it exits. */
function runTool(name, cmd, args, env = process.env) {
  const file = join(logsDir, `${name}.out`);
  const out = createWriteStream(file);
  const child = spawn(cmd, args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  const exited = new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: null, error: err.message }));
    child.on('close', (code, signal) => {
      out.end();
      resolve({ code, signal });
    });
  });
  return { child, exited, file };
}

// ------------------------------------------------------------------ HTTP helpers
async function status(url, headers) {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`e2e: FAIL: ${what}`);
};

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------ the run
const t00 = Date.now();
const tools = [
  { bin: 'dirb', pkg: 'dirb' },
  { bin: 'hydra', pkg: 'hydra' },
  { bin: 'sqlmap', pkg: 'sqlmap' },
  { bin: 'wrk', pkg: 'wrk' },
];
const missing = {};
for (const t of tools) {
  const why = ensureTool(t.bin, t.pkg);
  if (why) {
    missing[t.bin] = why;
    say(`SKIP ${t.bin}: ${why}`);
  }
}

// From here on, bounded (apt installs above are not: a fresh machine downloads).
const watchdog = setTimeout(() => {
  console.error(`e2e: FAILED: the run took longer than ${RUN_LIMIT_MS / 1000} s`);
  printLogTails();
  void cleanup().finally(() => process.exit(1));
}, RUN_LIMIT_MS);

try {
  // Kafka: left as found.
  const kafkaWasRunning = spawnSync('bash', ['infra/kafka/kafka.sh', 'status'], { cwd: root, stdio: 'ignore' }).status === 0;
  const k = spawnSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
  if (k.status !== 0) throw new Error('infra/kafka/kafka.sh start failed');
  if (!kafkaWasRunning) cleanups.push(() => spawnSync('bash', ['infra/kafka/kafka.sh', 'stop'], { cwd: root, stdio: 'inherit' }));
  const brokers = k.stdout.trim().split(/\s+/)[0];
  say(`Kafka broker ${brokers}${kafkaWasRunning ? ' (already running)' : ''}`);

  const udpPort = await freeUdpPort();
  const controlSecret = randomBytes(24).toString('hex');
  const nginx = await startTestNginx({ syslog: `127.0.0.1:${udpPort}`, controlPort: await freePort(), controlSecret });
  cleanups.push(() => nginx.stop());
  say(`test nginx ${nginx.url}, control ${nginx.controlUrl}`);

  const token = `lw_e2e-${randomBytes(16).toString('hex')}`;
  const configFile = join(work, 'logwarden.yaml');
  writeFileSync(
    configFile,
    [
      // Small thresholds and durations: a run of seconds, not minutes.
      'security:',
      '  scan_interval: 1s',
      '  detection_window: 20s',
      '  rate_threshold: 300',
      '  auto_block_threshold: 20',
      '  auto_block_duration: 10m',
      '  not_found_threshold: 10',
      '  auth_failure_threshold: 5',
      '  unique_paths_threshold: 20',
      // The probes and the benign loop hit a few paths again and again.
      '  repeated_hits_threshold: 100000',
      'detection:',
      '  whitelist: { ips: ["127.0.0.1"] }',
      // Consumer groups are named after client_id, not the topic prefix: a run of its own needs its own.
      `kafka: { brokers: ["${brokers}"], client_id: "e2e-${stamp}", topic_prefix: "e2e-${stamp}.", partitions: 2, linger: 5ms }`,
      `clickhouse: { database: e2e_${stamp} }`,
      'ingest:',
      `  udp: { host: 127.0.0.1, port: ${udpPort} }`,
      '  trusted_proxies: ["127.0.0.1/32"]',
      'api:',
      '  host: 127.0.0.1',
      '  port: 0',
      `  tokens: [{ name: e2e, role: admin, hash: "${hashToken(token)}" }]`,
      `nodes: [{ name: edge-1, url: "${nginx.controlUrl}", secret_env: LOGWARDEN_E2E_NODE_SECRET }]`,
      'metrics: { port: 0 }',
      `data_dir: ${JSON.stringify(join(work, 'data'))}`,
      'log_level: info',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, LOGWARDEN_E2E_NODE_SECRET: controlSecret };
  delete env.LOGWARDEN_CONFIG;
  delete env.CLICKHOUSE_URL;
  const cli = join(root, 'dist', 'services', 'cli', 'main.js');
  cleanups.push(async () => {
    await Promise.all(procs.map((p) => stopProcess(p)));
  });

  // The sink and API first: they migrate ClickHouse and publish the control plane.
  const [, apiReady] = await startProcess('sink+api', [join(root, 'infra', 'e2e', 'sink-api.mjs'), configFile], env, /READY (\{.*\})\n/);
  const apiPort = JSON.parse(apiReady).apiPort;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await Promise.all(['ingester', 'detector', 'enforcer'].map((s) => startProcess(s, [cli, s, '-c', configFile], env, /logwarden \S+ running:/)));
  say(`processes up after ${((Date.now() - t00) / 1000).toFixed(1)} s: ${procs.map((p) => `${p.name} (pid ${p.child.pid})`).join(', ')}; API ${apiUrl}`);

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
    const res = await fetch(`${nginx.controlUrl}/status`, { headers: { authorization: signControlRequest(controlSecret, 'GET', '/status', '') } });
    return res.json();
  };
  const until = async (what, fn, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
      await sleep(200);
    }
  };
  const edge = (path, ip, extra = {}) => status(`${nginx.url}${path}`, { [TEST_CLIENT]: ip, ...extra });

  await until('the enforcer to push its first rule set', async () => (await controlStatus()).rules_version >= 1, READY_WITHIN_MS);

  // A canary through the whole pipeline before any attack: a request for a
  // backup file is a light signature (no block), so its event shows that
  // nginx → ingester → Kafka → detector → Kafka → sink → ClickHouse → API flows.
  const canary = '192.0.2.99';
  const tCanary = Date.now();
  let canarySent = 0;
  await until(
    'the canary event in ClickHouse (pipeline flowing)',
    async () => {
      // Again only if lost: two of them would reach the block threshold.
      if (Date.now() - tCanary >= canarySent * 20_000) {
        canarySent++;
        await status(`${nginx.url}/site-backup.zip`, { [TEST_CLIENT]: canary, 'x-forwarded-for': canary, 'user-agent': 'Mozilla/5.0 e2e-canary' });
      }
      const r = await api('GET', `/api/security/events?ip=${canary}`);
      return r.status === 200 && r.body.data.length > 0;
    },
    READY_WITHIN_MS,
  );
  say(`pipeline flowing: canary request → event listed by the API in ${Date.now() - tCanary} ms`);

  // Benign traffic, from its own address, throughout.
  const benignIp = '192.0.2.50';
  const benign = { ok: 0, other: [], running: true };
  const benignPaths = ['/', '/products', '/about?page=2'];
  const benignLoop = (async () => {
    for (let i = 0; benign.running; i++) {
      const s = await status(`${nginx.url}${benignPaths[i % benignPaths.length]}`, {
        [TEST_CLIENT]: benignIp,
        'x-forwarded-for': benignIp,
        'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      });
      if (s === 200) benign.ok++;
      else benign.other.push(s);
      await sleep(200);
    }
  })();

  // A route protected through the API, for the brute forcers.
  const routePassword = randomBytes(12).toString('hex');
  const route = await api('POST', '/api/security/protected-routes', { path: '/admin', method: 'ALL', auth_type: 'basic', credentials: `admin:${routePassword}` });
  if (route.status !== 201) throw new Error(`POST /api/security/protected-routes: ${route.status} ${JSON.stringify(route.body)}`);
  await until('nginx to ask for credentials on /admin', async () => (await edge('/admin', '192.0.2.98')) === 401, 30_000);
  const passwords = join(work, 'passwords.txt');
  writeFileSync(passwords, `${Array.from({ length: 400 }, (_, i) => `${['letmein', 'admin', 'password', 'qwerty', 'dragon'][i % 5]}${i}`).join('\n')}\n`);

  // hydra 9.4 always sends its own User-Agent, a signature; a forward proxy
  // (HYDRA_PROXY_HTTP) rewrites it, standing for a brute forcer in disguise.
  const disguise = http.createServer((req, res) => {
    const target = new URL(req.url, nginx.url);
    const headers = { ...req.headers, 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36' };
    delete headers['proxy-connection'];
    const up = http.request({ host: '127.0.0.1', port: nginx.port, method: req.method, path: target.pathname + target.search, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((resolve) => disguise.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => disguise.close(() => resolve())));
  disguise.unref();

  const hdr = (ip) => ({ xff: `X-Forwarded-For: ${ip}`, test: `${TEST_CLIENT}: ${ip}` });
  const hydraArgs = (ip) => ['-l', 'admin', '-P', passwords, '-s', String(nginx.port), '-t', '4', '-I', '127.0.0.1', 'http-get', `/admin:H=X-Forwarded-For\\: ${ip}:H=${TEST_CLIENT}\\: ${ip}`];
  const attacks = [
    {
      name: 'dirb',
      tool: 'dirb',
      ip: '198.51.100.11',
      what: 'directory scan',
      tell: /DOWNLOADED:.*/,
      // A 10 ms pause between requests: without it dirb's word list is done before any block could land.
      cmd: (ip) => ['dirb', [`${nginx.url}/`, '/usr/share/dirb/wordlists/common.txt', '-H', hdr(ip).xff, '-H', hdr(ip).test, '-r', '-S', '-w', '-z', '10']],
      expect: () => undefined,
    },
    {
      name: 'hydra (disguised)',
      tool: 'hydra',
      ip: '198.51.100.12',
      what: 'basic-auth brute force',
      tell: /\d+ of \d+ target.*|\[http-get\].*/,
      cmd: (ip) => ['hydra', hydraArgs(ip), { ...process.env, HYDRA_PROXY_HTTP: `http://127.0.0.1:${disguise.address().port}` }],
      expect: (detectors, block) =>
        !detectors.includes('auth_failure') ? 'no auth_failure event' : !/auth_failure/.test(block.reason) ? `block reason does not name auth_failure: ${block.reason}` : undefined,
    },
    {
      name: 'hydra',
      tool: 'hydra',
      ip: '198.51.100.13',
      what: 'basic-auth brute force',
      tell: /\d+ of \d+ target.*|\[http-get\].*/,
      cmd: (ip) => ['hydra', hydraArgs(ip)],
      expect: (detectors) => (detectors.includes('signature:ua-hydra') ? undefined : 'no signature:ua-hydra event'),
    },
    {
      name: 'sqlmap',
      tool: 'sqlmap',
      ip: '198.51.100.14',
      what: 'SQL injection scan',
      tell: /\[(CRITICAL|ERROR)\].*/,
      cmd: (ip) => [
        'sqlmap',
        ['-u', `${nginx.url}/?id=1`, '--batch', `--headers=${hdr(ip).xff}\n${hdr(ip).test}`, '--delay=0.1', '--timeout=5', '--retries=0',
          '--flush-session', '--disable-coloring', `--output-dir=${join(work, 'sqlmap')}`],
      ],
      expect: (detectors) => (detectors.some((d) => /^signature:|^unique_paths$/.test(d)) ? undefined : 'no signature or unique_paths event'),
    },
    {
      name: 'wrk',
      tool: 'wrk',
      ip: '198.51.100.15',
      what: 'flood',
      tell: /Non-2xx.*|Requests\/sec.*/,
      cmd: (ip) => ['wrk', ['-t', '2', '-c', '16', '-d', '6s', '-H', hdr(ip).xff, '-H', hdr(ip).test, `${nginx.url}/`]],
      expect: (detectors, block) => (!detectors.includes('rate') ? 'no rate event' : !/\brate\b/.test(block.reason) ? `block reason does not name rate: ${block.reason}` : undefined),
    },
  ];

  const results = [];
  for (const a of attacks) {
    if (missing[a.tool]) {
      results.push({ ...a, skipped: missing[a.tool] });
      continue;
    }
    say(`${a.name} (${a.what}) from ${a.ip}`);
    const [cmd, args, toolEnv] = a.cmd(a.ip);
    const t0 = Date.now();
    let refusedAt;
    const tool = runTool(a.name.replace(/\W+/g, '-'), cmd, args, toolEnv);
    let exit;
    void tool.exited.then((e) => (exit = e));
    // Probe as the attacker every PROBE_EVERY_MS until nginx refuses it (or time is up).
    while (Date.now() - t0 < REFUSE_WITHIN_MS) {
      const s = await edge('/', a.ip, { 'user-agent': 'logwarden-e2e-probe' });
      if (s === 403) {
        refusedAt = Date.now();
        break;
      }
      await sleep(PROBE_EVERY_MS);
    }
    if (exit === undefined) {
      await Promise.race([tool.exited, sleep(refusedAt === undefined ? 0 : LINGER_MS)]);
      if (exit === undefined) {
        tool.child.kill('SIGTERM');
        const hard = setTimeout(() => tool.child.kill('SIGKILL'), 5_000);
        await tool.exited;
        clearTimeout(hard);
      }
    }
    const r = { ...a, t0, refusedAt, exit, out: tool.file };
    results.push(r);
    if (refusedAt === undefined) {
      fail(`${a.name}: ${a.ip} still served by nginx ${REFUSE_WITHIN_MS / 1000} s after the attack started`);
      continue;
    }
    // In ClickHouse, through the API: the block in force and the events.
    try {
      r.block = await until(
        `${a.name}'s block listed by the API`,
        async () => {
          const b = await api('GET', `/api/security/blocked-ips?ip=${a.ip}`);
          return b.status === 200 ? b.body.data.find((x) => x.ip === a.ip) : undefined;
        },
        STORED_WITHIN_MS,
      );
      r.events = await until(
        `${a.name}'s events listed by the API`,
        async () => {
          const e = await api('GET', `/api/security/events?ip=${a.ip}&limit=500`);
          if (e.status !== 200 || e.body.data.length === 0) return undefined;
          const detectors = [...new Set(e.body.data.map((x) => x.detector))].sort();
          // The sink batches: give a wanted detector time to show up before judging.
          return a.expect(detectors, r.block) === undefined || Date.now() - refusedAt > 15_000 ? e.body.data : undefined;
        },
        STORED_WITHIN_MS,
      );
      r.detectors = [...new Set(r.events.map((x) => x.detector))].sort();
      const wrong = a.expect(r.detectors, r.block);
      if (wrong) fail(`${a.name}: ${wrong} (detectors: ${r.detectors.join(', ')})`);
      if (r.block.source !== 'auto') fail(`${a.name}: block source ${r.block.source}, expected auto`);
    } catch (err) {
      fail(`${a.name}: ${err.message}`);
    }
  }

  benign.running = false;
  await benignLoop;
  const benignBlocks = (await api('GET', `/api/security/blocked-ips?ip=${benignIp}`)).body.data ?? [];
  const benignEvents = (await api('GET', `/api/security/events?ip=${benignIp}`)).body.data ?? [];

  // What each tool sent and how much of it nginx refused, from nginx's own access log (X-Forwarded-For = the tool).
  const sent = new Map();
  for (const line of readFileSync(join(nginx.dir, 'logs', 'access.log'), 'utf8').split('\n')) {
    const m = /"xff":"([^"]*)".*"status":"(\d+)".*"blocked_by":"([^"]*)"/.exec(line);
    if (!m) continue;
    const s = sent.get(m[1]) ?? { total: 0, refused: 0, ok: 0 };
    s.total++;
    if (m[2] === '200') s.ok++;
    if (m[3] !== '' && m[2] === '403') s.refused++;
    sent.set(m[1], s);
  }

  // hydra reads nginx's 403s as found passwords: nginx itself must never have let one in.
  for (const r of results) {
    if (r.tool === 'hydra' && !r.skipped && (sent.get(r.ip)?.ok ?? 0) > 0) fail(`${r.name}: nginx answered 200 to ${sent.get(r.ip)?.ok} of its requests`);
  }

  // ---------------------------------------------------------------- summary
  const rows = [['tool', 'client', 'refused', 'start→403', 'detection→403', 'requests (refused)', 'detectors (events in ClickHouse)']];
  for (const r of results) {
    if (r.skipped) {
      rows.push([r.name, r.ip, 'SKIPPED', '', '', '', r.skipped]);
      continue;
    }
    const s = sent.get(r.ip) ?? { total: 0, refused: 0 };
    rows.push([
      r.name,
      r.ip,
      r.refusedAt === undefined ? 'NO' : 'yes',
      r.refusedAt === undefined ? '-' : `${((r.refusedAt - r.t0) / 1000).toFixed(2)} s`,
      r.block && r.refusedAt !== undefined ? `${r.refusedAt - r.block.created_at} ms` : '-',
      `${s.total} (${s.refused})`,
      r.detectors ? r.detectors.join(', ') : '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log('\ne2e summary (detection→403: the block decision\'s event time to the first 403 a probe saw; probes every 100 ms)');
  for (const [i, row] of rows.entries()) {
    console.log(`  ${row.map((c, j) => c.padEnd(widths[j])).join('  ')}`);
    if (i === 0) console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  }
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
  const benignTotal = benign.ok + benign.other.length;
  console.log(`  benign ${benignIp}: ${benign.ok}/${benignTotal} answered 200 (${benignTotal ? ((100 * benign.ok) / benignTotal).toFixed(1) : '0'}%)${benign.other.length ? `; others: ${benign.other.join(', ')}` : ''}; events ${benignEvents.length}, blocks ${benignBlocks.length}`);
  if (benignTotal === 0) fail('benign traffic made no request');
  if (benign.other.length > 0) fail(`benign traffic got ${benign.other.length} non-200 answers: ${[...new Set(benign.other)].join(', ')}`);
  if (benignBlocks.length > 0) fail(`benign ${benignIp} was blocked: ${JSON.stringify(benignBlocks)}`);
  if (benignEvents.length > 0) fail(`benign ${benignIp} has events: ${benignEvents.map((e) => e.detector).join(', ')}`);
  for (const p of procs) if (p.exited) fail(`${p.name} exited during the run (log: ${p.file})`);

  const ran = results.filter((r) => !r.skipped);
  const passed = ran.filter((r) => !failures.some((f) => f.startsWith(`${r.name}:`))).length + (benign.other.length === 0 && benignBlocks.length === 0 && benignEvents.length === 0 && benignTotal > 0 ? 1 : 0);
  const total = ran.length + 1;
  console.log(`\ne2e: ${passed} passed, ${total - passed} failed, ${results.length - ran.length} skipped (${((Date.now() - t00) / 1000).toFixed(0)} s; logs in ${logsDir})`);
} catch (err) {
  fail(err.stack ?? String(err));
}

if (failures.length > 0) printLogTails();
await cleanup();
clearTimeout(watchdog);
if (failures.length > 0) {
  console.error(`e2e: FAILED (${failures.length}): ${failures.join('; ')}`);
  process.exit(1);
}
rmSync(work, { recursive: true, force: true });
process.exit(0);
