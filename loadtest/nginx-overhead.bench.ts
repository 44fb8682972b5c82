// What the Lua module costs nginx: wrk against a plain nginx (no Lua, `return
// 200`) and against the test nginx with logwarden's snippets and the access
// check holding N blocked addresses, M blocked ranges, F security_filter rules
// and R protected routes (all pushed through the control endpoint, as the
// enforcer does), same worker count, same machine, same run. Prints
// requests/s, the ratio, and p50/p99 latency and the p99 added.
//   node dist/loadtest/nginx-overhead.bench.js [--ips 100000] [--ranges 1000] [--filters 100] [--routes 50] [--seconds 8]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { signControlRequest } from '../shared/control-auth.js';
import type { NodeRules } from '../shared/control/node-rules.js';
import type { FilterRule } from '../services/detector/security-filter.js';
import { hashCredential } from '../shared/credential-hash.js';
import { figure } from './report-figures.js';
import { freePort, startTestNginx } from '../shared/testing/nginx.js';

const { values } = parseArgs({
  options: {
    ips: { type: 'string', default: '100000' },
    ranges: { type: 'string', default: '1000' },
    filters: { type: 'string', default: '100' },
    routes: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '8' },
  },
});
const filterCount = Number(values.filters);
const routeCount = Number(values.routes);
const ips = Number(values.ips);
const ranges = Number(values.ranges);
const seconds = Math.min(Number(values.seconds), 30);
const root = fileURLToPath(new URL('../..', import.meta.url));

try {
  execFileSync('bash', ['loadtest/peers/apt-install.sh', 'wrk'], { cwd: root, stdio: 'inherit' });
} catch {
  console.log('wrk is not installed (needs root on Debian): benchmark skipped');
  process.exit(0);
}

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
  errors: string;
}

/** wrk's latency text ("687.00us", "4.40ms", "1.02s") in ms. */
function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

function wrk(url: string): WrkResult {
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${seconds}s`, '--latency', url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '?';
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?';
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  return { rps, p50, p99, errors };
}

// Both nginx run from configs written here, identical but for logwarden:
// the same worker count, static file, and one syslog access-log line per
// request; the module variant adds the shipped includes (log format, shared
// dicts, access check, control listener), rendered by the project's test
// nginx (started once for that, then stopped).
const secret = 'overhead-bench-secret-0123456789';
const controlPort = await freePort();
const rendered = await startTestNginx({ controlPort, controlSecret: secret });
const renderedConf = readFileSync(join(rendered.dir, 'conf', 'nginx.conf'), 'utf8');
const workers = /worker_processes\s+(\d+)/.exec(renderedConf)?.[1] ?? '1';
const loadModules = renderedConf.split('\n').filter((l) => l.startsWith('load_module ')).join('\n');
const cpath = /lua_package_cpath[^\n]*/.exec(renderedConf)?.[0] ?? '';
const confDir = mkdtempSync(join(tmpdir(), 'overhead-conf-'));
for (const f of ['logwarden-http.conf', 'logwarden-server.conf', 'logwarden-control.conf']) {
  writeFileSync(join(confDir, f), readFileSync(join(rendered.dir, 'conf', f), 'utf8'));
}
await rendered.stop();

const nginxBin = ['/usr/sbin/nginx', '/usr/local/openresty/nginx/sbin/nginx'].find((p) => {
  try {
    execFileSync(p, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}) as string;
const user = process.getuid?.() === 0 ? 'user root root;' : '';
const syslogTarget = /syslog:server=([^,\s;]+)/.exec(readFileSync(join(confDir, 'logwarden-server.conf'), 'utf8'))?.[1] ?? '127.0.0.1:5514';

function startNginx(name: string, withModule: boolean, port: number): { prefix: string; stop(): void } {
  const prefix = mkdtempSync(join(tmpdir(), `${name}-nginx-`));
  mkdirSync(join(prefix, 'logs'));
  mkdirSync(join(prefix, 'www'));
  writeFileSync(join(prefix, 'www', 'index.html'), 'ok\n');
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `${withModule ? loadModules : ''}
${user}
worker_processes ${workers};
daemon on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  ${withModule ? `${cpath}\n  include ${confDir}/logwarden-http.conf;\n  include ${confDir}/logwarden-control.conf;` : ''}
  server {
    listen 127.0.0.1:${port};
    root ${prefix}/www;
    ${withModule ? `include ${confDir}/logwarden-server.conf;` : `access_log syslog:server=${syslogTarget},tag=nginx combined;`}
    location / { }
  }
}
`,
  );
  execFileSync(nginxBin, ['-p', prefix, '-c', join(prefix, 'nginx.conf')]);
  return {
    prefix,
    stop: () => {
      execFileSync(nginxBin, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-s', 'stop']);
    },
  };
}

const plainPort = await freePort();
const modPort = await freePort();
const plainNginx = startNginx('plain', false, plainPort);
const modNginx = startNginx('module', true, modPort);
await new Promise((r) => setTimeout(r, 800));

async function control(body: unknown, method = 'POST', path = '/blocks'): Promise<{ applied?: number; forcible?: number }> {
  const text = JSON.stringify(body);
  const res = await fetch(`http://127.0.0.1:${controlPort}${path}`, {
    method,
    headers: { authorization: signControlRequest(secret, method, path, text), 'content-type': 'application/json' },
    body: text,
  });
  const out = (await res.json()) as { applied?: number; forcible?: number };
  if (!res.ok) throw new Error(`control: HTTP ${res.status} ${JSON.stringify(out)}`);
  return out;
}

let applied = 0;
let forcible = 0;
const BATCH = 5000;
for (let i = 0; i < ips; i += BATCH) {
  const set = [];
  for (let j = i; j < Math.min(ips, i + BATCH); j++) set.push({ ip: `100.${64 + ((j >> 16) & 63)}.${(j >> 8) & 255}.${j & 255}`, ttl: 3600 });
  const r = await control({ set });
  applied += r.applied ?? 0;
  forcible += r.forcible ?? 0;
}
const rangeSet = [];
for (let j = 0; j < ranges; j++) rangeSet.push({ ip: `${11 + (j >> 8)}.${j & 255}.0.0/16`, ttl: 3600 });
for (let i = 0; i < rangeSet.length; i += BATCH) {
  const r = await control({ set: rangeSet.slice(i, i + BATCH) });
  applied += r.applied ?? 0;
  forcible += r.forcible ?? 0;
}

// A rule set shaped like a real one, none of which refuses the benchmark's
// requests (GET / without a user agent, country unknown, from 127.0.0.1), so
// every check runs to the end: user-agent rules (exact and wildcard), geo
// rules, IP rules, spread over the property, two domains and two path levels;
// protected routes on other paths. The property level applies to GET /.
const filterRules: FilterRule[] = [];
for (let i = 0; i < filterCount; i++) {
  const id = `rule-${String(i).padStart(3, '0')}`;
  const kind = i % 4;
  const match =
    kind === 0 ? { user_agents: [`badbot-${i}/*`, `*scanner-${i}*`] } :
    kind === 1 ? { user_agents: [`ExactAgent/${i}.0`] } :
    kind === 2 ? { geo: [{ COUNTRY_CODE: ['KP', 'IR', 'SY', 'CU'][i % 4] as string }] } :
    { ips: [`203.0.${i % 256}.0/24`, `2001:db8:${i.toString(16)}::/48`] };
  filterRules.push({ id, match, response_handling: { on_filtered: i % 3 === 0 ? 'WARN' : 'BLOCK' } });
}
const propertyShare = Math.ceil(filterRules.length * 0.7);
const rules: NodeRules = {
  version: 1,
  whitelist: { ips: ['10.255.0.0/16'], paths: ['/healthz'] },
  deployments: {},
  routes: Array.from({ length: routeCount }, (_, i) => ({
    id: `route-${i}`,
    path: i % 2 === 0 ? `/admin-${i}` : `/api/${i}/*`,
    method: i % 3 === 0 ? 'ALL' : 'POST',
    auth_type: i % 2 === 0 ? ('basic' as const) : ('bearer' as const),
    deployment: '',
    credential_hash: hashCredential(`user-${i}:password-${i}`),
  })),
  security_filter: {
    version: 1,
    property: { enabled: true, filter_rules: filterRules.slice(0, propertyShare) },
    domains: { 'shop.example': { enabled: true, filter_rules: filterRules.slice(propertyShare, propertyShare + 10) } },
    paths: [
      { path: '/checkout', security_filter: { enabled: true, filter_rules: filterRules.slice(propertyShare + 10) } },
      { path: '/static/*', security_filter: { enabled: false } },
    ],
  },
};
await control(rules, 'PUT', '/rules');

try {
  wrk(`http://127.0.0.1:${plainPort}/`); // warm-up, discarded
  const plain = wrk(`http://127.0.0.1:${plainPort}/`);
  const mod = wrk(`http://127.0.0.1:${modPort}/`);
  console.log(`nginx with and without logwarden's Lua module, wrk -t2 -c64 ${seconds}s each, ${workers} worker(s), same machine`);
  console.log(`  loaded       ${applied} entries (${ips} addresses, ${ranges} ranges)${forcible ? `, ${forcible} evicted (dict full)` : ''}, ${filterCount} filter rules, ${routeCount} protected routes`);
  console.log(`  plain        ${Math.round(plain.rps).toLocaleString('en').padStart(9)} req/s   p50 ${plain.p50}   p99 ${plain.p99}   (static file, combined line to syslog)`);
  console.log(`  with module  ${Math.round(mod.rps).toLocaleString('en').padStart(9)} req/s   p50 ${mod.p50}   p99 ${mod.p99}   (static file, access check, JSON line to syslog; non-2xx: ${mod.errors})`);
  console.log(`  ratio        ${(mod.rps / plain.rps).toFixed(2)} (aim ≥ 0.9)`);
  console.log(`  p99 added    ${(ms(mod.p99) - ms(plain.p99)).toFixed(2)} ms (wrk's p99 on a shared 2-core machine is noisy: compare runs, not digits)`);
  const load = `${ips} addresses, ${ranges} ranges, ${filterCount} filter rules, ${routeCount} routes`;
  figure({ bench: 'nginx-overhead', name: `requests/s with the module (${load})`, value: mod.rps, unit: 'req/s', peer: { name: 'plain nginx, same config', value: plain.rps }, better: 'higher' });
  figure({ bench: 'nginx-overhead', name: 'requests/s, module ÷ plain', value: mod.rps / plain.rps, unit: '×', better: 'higher', aim: 0.9 });
  figure({ bench: 'nginx-overhead', name: 'p50 latency with the module', value: ms(mod.p50), unit: 'ms', peer: { name: 'plain nginx', value: ms(plain.p50) }, better: 'lower' });
  figure({ bench: 'nginx-overhead', name: 'p99 latency with the module', value: ms(mod.p99), unit: 'ms', peer: { name: 'plain nginx', value: ms(plain.p99) }, better: 'lower' });
} finally {
  for (const n of [plainNginx, modNginx]) {
    n.stop();
    rmSync(n.prefix, { recursive: true, force: true });
  }
  rmSync(confDir, { recursive: true, force: true });
}
