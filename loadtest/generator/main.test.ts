// The command line, run as a user runs it: a child process on the compiled file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAttackers, parseDuration } from './main.js';
import type { GroundTruth } from './traffic.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('write: N lines (gzipped when the name says so), the ground truth, and a summary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-gen-'));
  try {
    const out = join(dir, 'access.log.gz');
    const truthFile = join(dir, 'truth.json');
    const r = run('write', '--lines', '5000', '--seed', '11', '--format', 'combined', '--out', out, '--truth', truthFile, '--start', '2026-03-01T12:00:00Z', '--attackers', 'brute_force=1,scanner=1');
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { lines: number; start: string; attackers: Record<string, number> };
    assert.equal(summary.lines, 5000);
    assert.equal(summary.start, '2026-03-01T12:00:00.000Z');
    assert.deepEqual(summary.attackers, { flood: 0, not_found: 0, brute_force: 1, scanner: 1, repeated_hits: 0, sig_scanner_ua: 0, sig_sensitive_files: 0, sig_injection: 0 });

    const lines = gunzipSync(readFileSync(out)).toString('utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 5000);
    assert.match(lines[0] ?? '', /^\S+ - \S+ \[01\/Mar\/2026:12:00:\d\d \+0000\] "/);

    const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as GroundTruth;
    assert.equal(truth.lines, 5000);
    assert.equal(truth.seed, 11);
    const kinds = Object.values(truth.clients).filter((c) => c.label === 'attacker').map((c) => c.kind).sort();
    assert.deepEqual(kinds, ['brute_force', 'scanner']);
    assert.equal(Object.values(truth.clients).reduce((n, c) => n + c.requests, 0), 5000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('blast refuses targets off loopback, by address or by name, before sending anything', () => {
  for (const target of [['--udp', '10.0.0.1:514'], ['--udp', '8.8.8.8:53'], ['--tcp', '8.8.8.8:53'], ['--udp', 'syslog.example.com:514']]) {
    const r = run('blast', ...target, '--seed', '1', '--rate', '10', '--seconds', '1');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /refusing .*loopback/);
    assert.equal(r.stdout, '');
  }
});

test('usage errors exit 2 and say what is wrong', () => {
  assert.match(run('write', '--lines', '10').stderr, /--seed is required/);
  assert.equal(run('write', '--lines', 'x', '--seed', '1', '--out', '-').code, 2);
  assert.match(run('blast', '--udp', '127.0.0.1:5514', '--seed', '1', '--rate', '10', '--seconds', '500').stderr, /--seconds must be within \(0, 120\]/);
  assert.equal(run('nope').code, 2);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.deepEqual(parseAttackers('flood=2,sig_injection=0'), { flood: 2, sig_injection: 0 });
  assert.throws(() => parseAttackers('floods=2'), /kind=N/);
});
