// An ingester-only process starts without Kafka: what nginx sends while the
// brokers are away (a broker upgrade, a partition, a cold start of the whole
// fleet in the wrong order) goes to the ingester's disk buffer instead of
// being refused, and the topics are created once Kafka answers. Every other
// role needs Kafka from its first step (it reads from it), so only the
// ingester starts this way.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, TopicSpec } from '../shared/bus/types.js';
import { componentLogger } from '../shared/log.js';

const log = componentLogger('runtime');

/** The first retry's wait; doubled after each failure up to MAX_WAIT_MS. */
const FIRST_WAIT_MS = 1_000;
const MAX_WAIT_MS = 30_000;

export interface BackgroundTopics {
  /** Resolves once the topics exist (never, if stopped first). */
  readonly ready: Promise<void>;
  readonly stop: () => Promise<void>;
}

/** Creates the topics, retrying with backoff while Kafka is unavailable, until it succeeds or stop() is called. */
export function ensureTopicsInBackground(bus: Bus, specs: TopicSpec[]): BackgroundTopics {
  const stopping = new AbortController();
  let done: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (done = resolve));
  const loop = (async () => {
    for (let attempt = 1, wait = FIRST_WAIT_MS; !stopping.signal.aborted; attempt++, wait = Math.min(MAX_WAIT_MS, wait * 2)) {
      try {
        await bus.ensureTopics(specs);
        if (attempt > 1) log.info({ attempts: attempt }, 'Kafka answered: topics ready; the ingester sends what it buffered');
        done();
        return;
      } catch (err) {
        if (stopping.signal.aborted) return;
        log.warn({ err, attempt, retry_in_ms: wait }, 'Kafka unavailable at start: the ingester buffers (memory, then disk) and retries');
      }
      try {
        await sleep(wait, undefined, { signal: stopping.signal });
      } catch {
        return;
      }
    }
  })();
  return {
    ready,
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
}
