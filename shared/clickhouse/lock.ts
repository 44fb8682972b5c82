// Serialising migrations on one host.
//
// - Within a process: a promise chain per key, so two migrate() calls in one
//   process take turns without polling.
// - Across processes (embedded mode): a lock file created with an atomic
//   open(..., 'wx'). It records the holder's pid, host and a random token.
//   A lock is stale when its holder on this host is no longer running, or
//   when its heartbeat (the file's mtime, refreshed while held) is older than
//   `staleMs` (a holder on another host, or a reused pid). A stale lock is
//   taken over by renaming it away first, so two waiters cannot both break
//   it and both think they won.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLayerError } from './errors.js';

const chains = new Map<string, Promise<void>>();

/** Run `fn` after every earlier call with the same key (in this process) has settled. */
export async function withProcessMutex<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = chains.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  chains.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (chains.get(key) === tail) chains.delete(key);
  }
}

export interface FileLockOptions {
  /** Give up waiting for a live holder after this long. */
  timeoutMs?: number;
  /** A lock whose heartbeat is older than this is stale. */
  staleMs?: number;
  /** How often to look again while the lock is held by someone else. */
  pollMs?: number;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
  since: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseHolder(text: string): Holder | undefined {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string') {
      return { pid: h.pid, host: h.host, token: h.token, since: String(h.since ?? '') };
    }
  } catch {
    // Empty or half-written: its writer is between open() and write().
  }
  return undefined;
}

async function readLock(file: string): Promise<{ text: string; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { text, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStale(text: string, mtimeMs: number, staleMs: number): boolean {
  const h = parseHolder(text);
  if (h && h.host === hostname() && !pidAlive(h.pid)) return true;
  return Date.now() - mtimeMs > staleMs;
}

/** Move a stale lock out of the way, unless someone replaced it meanwhile. */
async function breakStale(file: string, staleText: string): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== staleText) {
    // We moved a fresh lock another waiter had just taken: put it back.
    // link() fails if a lock exists again, which then is the valid one.
    await link(aside, file).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

/**
 * Hold `file` as an exclusive lock while `fn` runs. Waits (polling) while a
 * live holder has it; takes over a stale one; throws LW_CH_MIGRATION_LOCKED
 * after `timeoutMs`.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const staleMs = opts.staleMs ?? 60_000;
  const pollMs = opts.pollMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  const me: Holder = { pid: process.pid, host: hostname(), token: randomBytes(12).toString('hex'), since: new Date().toISOString() };
  const myText = JSON.stringify(me);

  for (;;) {
    try {
      const fh = await open(file, 'wx');
      try {
        await fh.writeFile(myText);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = await readLock(file);
    if (!current) continue;
    if (isStale(current.text, current.mtimeMs, staleMs)) {
      await breakStale(file, current.text);
      continue;
    }
    if (Date.now() >= deadline) {
      const h = parseHolder(current.text);
      const who = h ? `pid ${h.pid} on ${h.host} since ${h.since}` : 'a process that has not written its name yet';
      throw new ClickHouseLayerError('LW_CH_MIGRATION_LOCKED', `migration lock ${file} is held by ${who}; waited ${timeoutMs} ms`);
    }
    await sleep(pollMs);
  }

  // The heartbeat keeps a long migration from looking stale to other hosts.
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, Math.max(1000, Math.floor(staleMs / 3)));
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    // Remove only our own lock: if it was broken as stale meanwhile, the
    // file is someone else's now.
    const current = await readLock(file).catch(() => undefined);
    if (current?.text === myText) await unlink(file).catch(() => undefined);
  }
}
