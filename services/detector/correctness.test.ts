// Correctness at default thresholds, on the project's traffic generator
// (deterministic, seeded): ≥100k lines of benign clients and labelled
// attackers of every kind, IPv4 and IPv6. Every attacker must be blocked and
// caught by its own detector; no benign client may be blocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../shared/config/load.js';
import { networkOfIp } from '../../shared/ip.js';
import { backtest } from './backtest.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

interface Truth {
  clients: Record<string, { label: 'benign' | 'attacker'; kind?: string; expected_detectors?: string[] }>;
}

/** The generator names signature detectors by class; ours are finer ids within the class. */
function matches(expected: string, actual: string): boolean {
  if (expected === 'signature:scanner_ua') return actual.startsWith('signature:ua-');
  if (expected === 'signature:sensitive_file') return actual.startsWith('signature:file-');
  if (expected === 'signature:injection') return /^signature:(sqli|xss|xss-handler|cmdi|traversal|log4shell)$/.test(actual);
  return expected === actual;
}

for (const seed of [42, 7]) {
  test(`generated traffic (seed ${seed}, 120k lines): every attacker blocked by its detector, no benign client blocked`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'correctness-'));
    try {
      const log = join(dir, 'access.log');
      const truthFile = join(dir, 'truth.json');
      execFileSync(process.execPath, ['dist/loadtest/generator/main.js', 'write', '--lines', '120000', '--seed', String(seed), '--format', 'json', '--out', log, '--truth', truthFile], { cwd: root, stdio: 'ignore' });
      const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as Truth;
      const report = await backtest(loadConfig({ text: '', env: {} }), [log]);
      assert.equal(report.lines, 120_000);
      assert.equal(report.parsed, 120_000, 'every generated line parses');
      const blocked = new Map(report.blocked.map((b) => [b.ip, b]));
      // A client is blocked by its address, or, for IPv6, as its /64 (detection.ipv6_client_prefix).
      const blockOf = (ip: string): (typeof report.blocked)[number] | undefined => blocked.get(ip) ?? (ip.includes(':') ? blocked.get(networkOfIp(ip, 32, 64)) : undefined);
      const attackers = Object.entries(truth.clients).filter(([, c]) => c.label === 'attacker');
      const kinds = new Set(attackers.map(([, c]) => c.kind));
      assert.ok(kinds.size >= 8, `every attacker kind present (${[...kinds].join(', ')})`);
      assert.ok(attackers.some(([ip]) => ip.includes(':')) && attackers.some(([ip]) => !ip.includes(':')), 'IPv4 and IPv6 attackers');
      const missed: string[] = [];
      const wrong: string[] = [];
      for (const [ip, c] of attackers) {
        const b = blockOf(ip);
        if (!b) {
          missed.push(`${ip} (${c.kind})`);
          continue;
        }
        const got = Object.keys(b.detectors);
        if (!(c.expected_detectors ?? []).some((e) => got.some((a) => matches(e, a)))) wrong.push(`${ip} (${c.kind}): ${got.join(', ')}`);
      }
      assert.deepEqual(missed, [], 'attackers not blocked');
      assert.deepEqual(wrong, [], 'attackers blocked by the wrong detector');
      const benignBlocked = Object.entries(truth.clients).filter(([ip, c]) => c.label !== 'attacker' && blockOf(ip) !== undefined);
      const strangers = [...blocked.keys()].filter((key) => !Object.keys(truth.clients).some((ip) => blockOf(ip) === blocked.get(key)));
      const falsePositives = [...benignBlocked.map(([ip]) => ip), ...strangers];
      assert.deepEqual(falsePositives, [], 'benign clients blocked');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
