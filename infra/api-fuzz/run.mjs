#!/usr/bin/env node
// Property-based fuzz of the management API's OpenAPI document with
// schemathesis (PyPI): every operation but the SSE streams, positive and
// negative data, checked for no 5xx and for responses that match the declared
// schemas. Bounded: at most --max-examples cases per operation and --max-time
// seconds in all. Exits non-zero on any failure.
//
//   node infra/api-fuzz/run.mjs [--max-examples N] [--max-time S] [--seed N] [--no-build]
//
// Idempotent: schemathesis goes once into a venv under node_modules/.cache
// (git-ignored, and out of eslint's way: the venv ships .js files), pinned by
// requirements.txt; the API runs in this process in embedded mode
// (in-process bus, embedded ClickHouse in a temporary data dir) on a free
// loopback port with an admin token made for this run.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { clearTimeout, setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: opt } = parseArgs({
  options: {
    'max-examples': { type: 'string', default: '25' },
    'max-time': { type: 'string', default: '100' },
    seed: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});

/** Operations passed and failed, from schemathesis' JUnit report (one testcase per operation). */
function operationCounts(dir) {
  let xml;
  try {
    const file = readdirSync(dir).find((f) => f.endsWith('.xml'));
    if (!file) return undefined;
    xml = readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
  const cases = xml.match(/<testcase\b[\s\S]*?(?:\/>|<\/testcase>)/g) ?? [];
  const failed = cases.filter((c) => /<(failure|error)\b/.test(c)).length;
  return { passed: cases.length - failed, failed };
}

function run(what, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`api-fuzz: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

// ---- schemathesis in a venv of its own, reinstalled only when requirements.txt changes
const venv = join(root, 'node_modules', '.cache', 'logwarden-api-fuzz', 'venv');
const bin = (name) => join(venv, 'bin', name);
const requirements = readFileSync(join(here, 'requirements.txt'), 'utf8');
const stamp = join(venv, '.requirements');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== requirements) {
  console.log(`▶ installing schemathesis into ${venv} (PyPI)`);
  if (!existsSync(bin('python'))) run('python3 -m venv', 'python3', ['-m', 'venv', venv]);
  run('pip install', bin('python'), ['-m', 'pip', 'install', '--quiet', '-r', join(here, 'requirements.txt')]);
  writeFileSync(stamp, requirements);
}

if (!opt['no-build']) run('build', join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: root });

// ---- the API, embedded, on a free loopback port
const { loadConfig } = await import(pathToFileURL(join(root, 'dist/shared/config/load.js')).href);
const { startRuntime } = await import(pathToFileURL(join(root, 'dist/services/runtime.js')).href);
const { rootLogger } = await import(pathToFileURL(join(root, 'dist/shared/log.js')).href);
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-api-fuzz-'));
const token = `lw_${randomBytes(32).toString('base64url')}`;
const hash = `sha256:${createHash('sha256').update(token).digest('hex')}`;
const config = loadConfig({
  env: {},
  text: [
    `kafka: { brokers: [], topic_prefix: "fuzz${process.pid}." }`,
    `clickhouse: { database: fuzz_${process.pid}_${Date.now().toString(36)} }`,
    'ingest: { udp: { enabled: false } }',
    'api:',
    '  host: 127.0.0.1',
    '  port: 0',
    '  auth_failures_per_minute: 100000',
    `  tokens: [ { name: fuzz, role: admin, hash: "${hash}" } ]`,
    `data_dir: ${JSON.stringify(dataDir)}`,
    'log_level: fatal',
  ].join('\n'),
});
rootLogger.level = 'fatal';
const rt = await startRuntime(config, new Set(['api', 'sink']));
const base = `http://127.0.0.1:${rt.apiPort}`;
console.log(`▶ API at ${base} (embedded, data in ${dataDir})`);

// ---- schemathesis
const reportDir = join(dataDir, 'report');
const args = [
  'run', `${base}/api/openapi.json`,
  '--url', base,
  '--header', `Authorization: Bearer ${token}`,
  '--checks', 'not_a_server_error,response_schema_conformance',
  '--exclude-path-regex', '/stream$',
  '--max-examples', opt['max-examples'],
  '--max-time', opt['max-time'],
  '--request-timeout', '30',
  '--workers', '1',
  '--suppress-health-check', 'too_slow,filter_too_much',
  '--report', 'junit',
  '--report-dir', reportDir,
  ...(opt.seed ? ['--seed', opt.seed] : []),
];
console.log(`▶ schemathesis ${args.map((a) => (a.startsWith('Authorization') ? "'Authorization: Bearer ***'" : a)).join(' ')}`);
const child = spawn(bin('schemathesis'), args, {
  stdio: 'inherit',
  // Reproduce lines and reports stay out of the work tree.
  cwd: dataDir,
  env: {
    ...process.env,
    SCHEMATHESIS_HOOKS: 'logwarden_formats',
    PYTHONPATH: here,
    PYTHONDONTWRITEBYTECODE: '1',
    SCHEMATHESIS_TELEMETRY: 'false',
    NO_COLOR: '1',
  },
});
// A hard stop a little past the fuzzer's own budget, in case it hangs on a request.
const killer = setTimeout(() => child.kill('SIGKILL'), (Number(opt['max-time']) + 120) * 1000);
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
clearTimeout(killer);

await rt.stop();
const counts = operationCounts(reportDir);
rmSync(dataDir, { recursive: true, force: true });
console.log(code === 0 ? 'api-fuzz: no 5xx, every response matched its schema' : `api-fuzz: FAILED (schemathesis exit ${code})`);
// One test per API operation, in the closing form test summaries use.
if (counts) console.log(`api-fuzz: ${counts.passed} passed, ${counts.failed} failed`);
process.exit(code === 0 ? 0 : 1);
