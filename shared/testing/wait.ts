// Polling for tests: the condition decides, never a fixed sleep, so a slow
// machine waits longer instead of failing (no timed assertions).
import { setTimeout as sleep } from 'node:timers/promises';

/** Calls `fn` every `every` ms until it returns something other than undefined; throws after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000, every = 100): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}
