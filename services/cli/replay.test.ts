// `logwarden replay` as an operator runs it: the built CLI, no config file, on
// logs this project did not write in its own format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = join(root, 'dist/services/cli/main.js');

/** A scanner among visitors, in nginx's combined format. */
function combinedLog(): string {
  const out: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const s = String(Math.floor(i / 5) % 60).padStart(2, '0');
    const m = String(Math.floor(i / 300)).padStart(2, '0');
    const ts = `01/Dec/2026:10:${m}:${s} +0000`;
    out.push(
      i % 3 === 0
        ? `203.0.113.9 - - [${ts}] "GET /wp-${i}.php HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"`
        : `198.51.100.${i % 50} - - [${ts}] "GET /static/${i % 20}.css HTTP/1.1" 200 512 "https://shop.example/" "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0"`,
    );
  }
  return `${out.join('\n')}\n`;
}

function run(dir: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  // No config file in the working directory and none named: the defaults (log_format json).
  const env = { ...process.env };
  delete env.LOGWARDEN_CONFIG;
  const r = spawnSync(process.execPath, [cli, 'replay', ...args], { cwd: dir, env, encoding: 'utf8', input, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('replay --report reads a plain combined log with no config file, and from stdin and gzip', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-replay-'));
  try {
    const log = combinedLog();
    writeFileSync(join(dir, 'access.log'), log);
    writeFileSync(join(dir, 'access.log.gz'), gzipSync(log));
    for (const args of [['access.log', '--report', '--json'], ['access.log.gz', '--report', '--json'], ['-', '--report', '--json']]) {
      const r = run(dir, args, args[0] === '-' ? log : undefined);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      const report = JSON.parse(r.stdout) as { lines: number; parsed: number; formats: Array<{ format: string; how: string }>; blocked: Array<{ ip: string }> };
      assert.equal(report.lines, 3000);
      assert.equal(report.parsed, 3000, args.join(' '));
      assert.equal(report.formats[0]?.format, 'combined');
      assert.equal(report.formats[0]?.how, 'detected');
      assert.deepEqual(report.blocked.map((b) => b.ip), ['203.0.113.9'], 'the scanner, and only it');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a replay that rejects most lines fails, says how many and why, and suggests the format the file has', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-replay-'));
  try {
    writeFileSync(join(dir, 'access.log'), combinedLog());
    const wrong = run(dir, ['access.log', '--report', '--format', 'json']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /3000 of 3000 lines rejected: bad_format 3000/);
    assert.match(wrong.stderr, /looks like combined: 200 of 200 sampled lines parse\. Try --format combined/);
    const backfill = run(dir, ['access.log', '--format', 'json']);
    assert.equal(backfill.status, 1, 'the backfill too');
    assert.match(backfill.stderr, /Try --format combined/);

    writeFileSync(join(dir, 'notes.txt'), 'hello\nworld\n'.repeat(50));
    const garbage = run(dir, ['notes.txt', '--report']);
    assert.equal(garbage.status, 1);
    assert.match(garbage.stderr, /100 of 100 lines rejected/);
    assert.match(garbage.stderr, /give the log_format that wrote the file/);

    const bad = run(dir, ['access.log', '--format', '$remote_addr [$time_local]']);
    assert.equal(bad.status, 2, 'a format that cannot be compiled is a usage error');
    assert.match(bad.stderr, /--format: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
