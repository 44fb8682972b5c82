// The CLI's pure parts: exit codes by status, durations, type inference, and what reaches a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, exitCodeForStatus } from './api-client.js';
import { durationSeconds } from './commands/common.js';
import { sinceParam } from './commands/events.js';
import { inferWhitelistType } from './commands/whitelist.js';
import { CLI_ERRORS, CliError, UsageError } from './errors.js';
import { printable, table, when } from './table.js';

test('exit codes by HTTP status', () => {
  assert.equal(exitCodeForStatus(200), EXIT.OK);
  assert.equal(exitCodeForStatus(201), EXIT.OK);
  for (const s of [401, 403, 429]) assert.equal(exitCodeForStatus(s), EXIT.AUTH, String(s));
  assert.equal(exitCodeForStatus(404), EXIT.NOT_FOUND);
  for (const s of [400, 409, 413, 415]) assert.equal(exitCodeForStatus(s), EXIT.REJECTED, String(s));
  for (const s of [500, 502, 503]) assert.equal(exitCodeForStatus(s), EXIT.FAILURE, String(s));
  assert.deepEqual(Object.values(EXIT), [0, 1, 2, 3, 4, 5]);
});

test('durations as the config file writes them, or seconds', () => {
  assert.equal(durationSeconds('24h', 'duration'), 86_400);
  assert.equal(durationSeconds('7d', 'older-than'), 604_800);
  assert.equal(durationSeconds('1h30m', 'duration'), 5_400);
  assert.equal(durationSeconds('86400', 'duration'), 86_400);
  assert.throws(() => durationSeconds('1500ms', 'duration'), UsageError);
  assert.throws(() => durationSeconds('24 hours', 'duration'), UsageError);
  assert.throws(() => durationSeconds('-5', 'duration'), UsageError);
});

test('--since takes a duration back from now, or passes a time through', () => {
  assert.equal(sinceParam('1h', 10_000_000), String(10_000_000 - 3_600_000));
  assert.equal(sinceParam('1700000000000'), '1700000000000');
  assert.equal(sinceParam('2026-01-01T00:00:00Z'), '2026-01-01T00:00:00Z');
});

test('whitelist types inferred from the value', () => {
  assert.equal(inferWhitelistType('10.0.0.1'), 'ip');
  assert.equal(inferWhitelistType('2001:db8::1'), 'ip');
  assert.equal(inferWhitelistType('10.0.0.0/8'), 'cidr');
  assert.equal(inferWhitelistType('2001:db8::/32'), 'cidr');
  assert.equal(inferWhitelistType('/healthz'), 'path');
});

test('tables: aligned columns, "-" for nothing, no control characters from the data', () => {
  const out = table(['IP', 'REASON'], [['10.0.0.1', 'scan'], ['2001:db8::1', null], ['10.0.0.2', 'a\u001b[31mred\u009b\nnext']]);
  assert.equal(out, 'IP           REASON\n10.0.0.1     scan\n2001:db8::1  -\n10.0.0.2     a?[31mred??next\n');
  assert.equal(printable('ok\tok'), 'ok?ok');
  assert.equal(when(0), '1970-01-01T00:00:00Z');
  assert.equal(when(null), '-');
});

test('the CLI error table: every key equals its code, each ends the command with a failure exit code', () => {
  for (const [k, v] of Object.entries(CLI_ERRORS)) {
    assert.equal(v.code, k);
    assert.ok((Object.values(EXIT) as number[]).includes(v.exitCode) && v.exitCode !== EXIT.OK, k);
  }
  const e = new UsageError('usage: logwarden block IP');
  assert.equal(e.code, 'LW_CLI_USAGE');
  assert.equal(e.exitCode, EXIT.USAGE);
  assert.equal(new CliError('LW_CLI_NO_TOKEN').exitCode, EXIT.AUTH);
});
