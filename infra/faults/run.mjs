#!/usr/bin/env node
// `npm run test:faults`: the long fault tests (services/faults/*.fault.ts), kept
// out of `npm test` because each waits out a real outage (a broker stopped for
// 30 s, a killed consumer's session timeout). Builds, starts the shared test
// broker (tests that stop a broker start a private one), runs them one file at
// a time: they load the 2-core machine on purpose.
//
//   --only PATTERN   run the fault files whose path contains PATTERN
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTestsBounded } from '../test/bounded.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;

const build = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status || 1);

const dir = join(root, 'dist', 'services', 'faults');
let files = readdirSync(dir).filter((f) => f.endsWith('.fault.js')).map((f) => join(dir, f)).sort();
if (only) files = files.filter((f) => f.includes(only));
if (files.length === 0) {
  console.error('no fault test files found under dist/services/faults');
  process.exit(1);
}

const env = { ...process.env };
// These tests stop brokers on purpose, and kafkajs logs every refused connection at error
// level: thousands of expected lines that bury the test report. LOGWARDEN_LOG_LEVEL=warn shows them.
env.LOGWARDEN_LOG_LEVEL ??= 'fatal';
let startedKafka = false;
if (!env.LOGWARDEN_TEST_KAFKA_BROKERS) {
  const wasRunning = spawnSync('bash', ['infra/kafka/kafka.sh', 'status'], { cwd: root }).status === 0;
  const out = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' }).trim();
  env.LOGWARDEN_TEST_KAFKA_BROKERS = out.split(/\s+/)[0];
  startedKafka = !wasRunning;
}

console.log(`\n▶ ${files.length} fault test files (node --test, one at a time)`);
const t0 = Date.now();
// ~3 min on this machine; the budget is for a hang (LOGWARDEN_TEST_BUDGET_S overrides it).
const budgetMs = Number(env.LOGWARDEN_TEST_BUDGET_S ?? 900) * 1000;
const status = await runTestsBounded(['--test', '--test-concurrency=1', '--test-reporter=spec', ...files.map((f) => relative(root, f))], { cwd: root, env, budgetMs, what: 'fault tests' });
console.log(`fault tests took ${((Date.now() - t0) / 1000).toFixed(0)} s`);

if (startedKafka && !env.LOGWARDEN_KEEP_KAFKA) spawnSync('bash', ['infra/kafka/kafka.sh', 'stop'], { cwd: root, stdio: 'inherit' });
process.exit(status);
