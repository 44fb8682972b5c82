import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ClickHouseLayerError } from './errors.js';
import { withFileLock, withProcessMutex } from './lock.js';

const dir = mkdtempSync(join(tmpdir(), 'logwarden-lock-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('withProcessMutex runs callers with the same key one at a time, in order', async () => {
  const log: string[] = [];
  const job = (name: string) => async () => {
    log.push(`${name} start`);
    await new Promise((r) => setImmediate(r));
    log.push(`${name} end`);
    return name;
  };
  const results = await Promise.all([withProcessMutex('k', job('a')), withProcessMutex('k', job('b')), withProcessMutex('k', job('c'))]);
  assert.deepEqual(results, ['a', 'b', 'c']);
  assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
  // A failure releases the mutex for the next caller.
  await assert.rejects(withProcessMutex('k', () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await withProcessMutex('k', () => Promise.resolve('after')), 'after');
});

test('a lock held by another live process excludes us until it is released', async () => {
  const file = join(dir, 'held.lock');
  const lockUrl = new URL('./lock.js', import.meta.url).href;
  const script = `
    const { withFileLock } = await import(${JSON.stringify(lockUrl)});
    const { createInterface } = await import('node:readline');
    await withFileLock(${JSON.stringify(file)}, async () => {
      console.log('held');
      const rl = createInterface({ input: process.stdin });
      for await (const _ of rl) break;
      rl.close();
    });
    console.log('released');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'held');

  const holder = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; host: string };
  assert.equal(holder.pid, child.pid);
  assert.equal(holder.host, hostname());
  await assert.rejects(withFileLock(file, () => Promise.resolve(), { timeoutMs: 200, pollMs: 20 }), (err: unknown) => {
    return err instanceof ClickHouseLayerError && err.code === 'LW_CH_MIGRATION_LOCKED' && err.message.includes(`pid ${child.pid}`);
  });

  child.stdin.write('release\n');
  assert.equal((await lines.next()).value, 'released');
  await once(child, 'exit');
  let ran = false;
  await withFileLock(file, () => {
    ran = true;
    return Promise.resolve();
  });
  assert.equal(ran, true);
  assert.equal(existsSync(file), false, 'released locks are removed');
});

test('a lock left by a dead process is taken over at once', async () => {
  const file = join(dir, 'dead.lock');
  const child = spawn(process.execPath, ['-e', '0']);
  await once(child, 'exit');
  writeFileSync(file, JSON.stringify({ pid: child.pid, host: hostname(), token: 'old', since: 'earlier' }));
  // staleMs far away: only the dead pid can make it stale.
  const out = await withFileLock(file, () => Promise.resolve(readFileSync(file, 'utf8')), { timeoutMs: 10_000, staleMs: 3_600_000 });
  assert.equal((JSON.parse(out) as { pid: number }).pid, process.pid);
});

test('a lock whose heartbeat stopped long ago is taken over, even from another host', async () => {
  const file = join(dir, 'old.lock');
  writeFileSync(file, JSON.stringify({ pid: process.ppid, host: 'some-other-host', token: 'old', since: 'earlier' }));
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(file, old, old);
  let ran = false;
  await withFileLock(file, () => Promise.resolve((ran = true)), { timeoutMs: 10_000, staleMs: 60_000 });
  assert.equal(ran, true);
});

test('release leaves a lock that is no longer ours alone', async () => {
  const file = join(dir, 'stolen.lock');
  const other = JSON.stringify({ pid: process.pid, host: hostname(), token: 'someone-else', since: 'now' });
  await withFileLock(file, () => {
    // As if another waiter had judged ours stale and taken over.
    writeFileSync(file, other);
    return Promise.resolve();
  });
  assert.equal(readFileSync(file, 'utf8'), other);
  rmSync(file);
});
