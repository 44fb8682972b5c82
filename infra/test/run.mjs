#!/usr/bin/env node
// `npm test`: typecheck+build, lint, start the real Kafka broker (unless one is
// given), then run every compiled *.test.js under node's test runner.
//
//   --unit        skip the broker; tests that need it skip themselves
//   --only PATTERN run the test files whose path contains PATTERN (or one of
//                  several, comma-separated)
//
// Environment: LOGWARDEN_TEST_KAFKA_BROKERS=host:port to use a running broker,
// LOGWARDEN_TEST_BUDGET_S (1800) to bound the test run (a hang fails, naming what ran),
// CLICKHOUSE_URL to run the storage tests against a ClickHouse server instead
// of the embedded engine.
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTestsBounded } from './bounded.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;

function step(name, cmd, cmdArgs, opts = {}) {
  const t0 = Date.now();
  console.log(`\n▶ ${name}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`✗ ${name} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
  console.log(`✓ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const npx = join(root, 'node_modules', '.bin');
step('typecheck and build (tsc, strict)', join(npx, 'tsc'), ['-p', 'tsconfig.json']);
step('lint (eslint, type-aware)', join(npx, 'eslint'), ['-c', 'infra/eslint.config.js', '.']);

const env = { ...process.env };
let startedKafka = false;
if (!unit && !env.LOGWARDEN_TEST_KAFKA_BROKERS) {
  const wasRunning = spawnSync('bash', ['infra/kafka/kafka.sh', 'status'], { cwd: root }).status === 0;
  console.log('\n▶ real Apache Kafka broker (infra/kafka)');
  const out = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  }).trim();
  const [brokers, version] = out.split(/\s+/);
  env.LOGWARDEN_TEST_KAFKA_BROKERS = brokers;
  env.LOGWARDEN_TEST_KAFKA_VERSION = version;
  startedKafka = !wasRunning;
  console.log(`✓ Apache Kafka ${version} (KRaft) at ${brokers}`);
}
if (unit) env.LOGWARDEN_TEST_UNIT_ONLY = '1';

let files = findTests(join(root, 'dist')).sort();
if (only) {
  const patterns = only.split(',').filter((p) => p !== '');
  files = files.filter((f) => patterns.some((p) => f.includes(p)));
}
if (files.length === 0) {
  console.error('no test files found under dist/');
  process.exit(1);
}
console.log(`\n▶ ${files.length} test files (node --test)`);
// A whole run takes ~5 min on this 2-core machine; the budget is for a hang, not a slow day.
const budgetMs = Number(env.LOGWARDEN_TEST_BUDGET_S ?? 1800) * 1000;
const status = await runTestsBounded(
  ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files.map((f) => relative(root, f))],
  { cwd: root, env, budgetMs, what: 'npm test' },
);

if (startedKafka && !env.LOGWARDEN_KEEP_KAFKA) {
  spawnSync('bash', ['infra/kafka/kafka.sh', 'stop'], { cwd: root, stdio: 'inherit' });
}
process.exit(status);
