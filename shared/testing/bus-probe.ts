// A test's window on a topic: a consumer group of its own, from the beginning,
// collecting every message (decoded, when a decoder is given) until closed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, BusMessage } from '../bus/types.js';
import { uniqueName } from './kafka.js';

export interface Probe<T> {
  /** What arrived so far, in order of arrival. */
  items: T[];
  /** Waits until `n` items arrived (or `ms` passed); returns the items. */
  atLeast(n: number, ms?: number): Promise<T[]>;
  close(): Promise<void>;
}

export async function probe<T = BusMessage>(bus: Bus, topic: string, decode: (m: BusMessage) => T = (m) => m as T, groupId = uniqueName('probe')): Promise<Probe<T>> {
  const items: T[] = [];
  const sub = await bus.subscribe({
    groupId,
    topics: [topic],
    fromBeginning: true,
    onBatch: (b) => {
      for (const m of b.messages) items.push(decode(m));
      return Promise.resolve();
    },
  });
  return {
    items,
    atLeast: async (n, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (items.length < n && Date.now() < deadline) await sleep(50);
      return items;
    },
    close: () => sub.close(),
  };
}
