// Keeps a ControlState equal to the compacted control topic: every process that
// needs the control plane (enforcer, detectors, sinks, API instances) follows
// the topic from the beginning in a consumer group of its own, so each sees
// every change.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlChangeCodec } from '../avro/codec.js';
import type { Bus, Subscription } from '../bus/types.js';
import { componentLogger } from '../log.js';
import type { Topics } from '../topics.js';
import type { ControlState } from './state.js';

const log = componentLogger('control');

export interface ControlFollower {
  sub: Subscription;
  /** Resolves once every change published before the follower started is applied (or after `timeoutMs`: false). */
  caughtUp(timeoutMs?: number): Promise<boolean>;
}

export async function followControl(bus: Bus, topics: Topics, state: ControlState, clientId: string): Promise<ControlFollower> {
  // Partitions holding something to read: the first offset held (at time 0) is below the end.
  const starts = new Map((await bus.offsetsForTimestamp(topics.control, 0)).map((o) => [o.partition, BigInt(o.offset)]));
  const ends = new Map<number, bigint>();
  for (const o of await bus.endOffsets(topics.control)) {
    const end = BigInt(o.offset);
    if ((starts.get(o.partition) ?? end) < end) ends.set(o.partition, end);
  }
  const reached = new Map<number, bigint>();
  const sub = await bus.subscribe({
    groupId: `${clientId}-control-${hostname()}-${process.pid}-${Date.now().toString(36)}`,
    topics: [topics.control],
    fromBeginning: true,
    onBatch: (batch) => {
      for (const m of batch.messages) {
        try {
          state.apply(controlChangeCodec.decode(m.value));
        } catch (err) {
          // A record this version cannot read must not stop the others (a newer writer, a corrupt value).
          log.warn({ err: String(err), offset: m.offset }, 'control change skipped');
        }
      }
      reached.set(batch.partition, BigInt(batch.nextOffset));
      return Promise.resolve();
    },
  });
  const done = (): boolean => [...ends].every(([p, end]) => (reached.get(p) ?? -1n) >= end);
  return {
    sub,
    async caughtUp(timeoutMs = 15_000): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        if (Date.now() > deadline) {
          log.warn('control topic not caught up in time; continuing with what is known');
          return false;
        }
        await sleep(20);
      }
      return true;
    },
  };
}
