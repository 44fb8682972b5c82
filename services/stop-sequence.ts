// Stopping a process in stages, each bounded. A stage is what was started
// (a service, the control follower, a connection); they stop last first:
// inputs before the stages they feed, connections at the end.
//
// Every stage is bounded (a sink's last flush, a consumer leaving its group):
// with Kafka or ClickHouse gone, a stage would otherwise wait for ever, and a
// service that hangs on SIGTERM is killed by its supervisor with nothing
// flushed or logged. The whole stop is capped too, inside systemd's 90 s
// before its SIGKILL with time left to exit; stages past the cap still get a
// quarter second each, since a healthy close takes milliseconds. What a stage
// left unfinished runs on in the background: the process is about to exit,
// and what was not committed is delivered again to whoever takes over the
// partitions.
import { componentLogger } from '../shared/log.js';

const log = componentLogger('runtime');

/** Long enough for a sink's last batch and a group leave on a healthy broker. */
export const STOP_STAGE_MS = 15_000;
export const STOP_TOTAL_MS = 60_000;
const STAGE_FLOOR_MS = 250;

/** Resolves when `fn` settles or after `ms`, whichever comes first; says which. */
async function within(ms: number, fn: () => Promise<void>): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([fn().then(() => 'done' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

export class StopSequence {
  private readonly stages: Array<{ stage: string; stop: (withinMs: number) => Promise<void> }> = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly bounds: { stageMs?: number; totalMs?: number } = {}) {}

  /** A stage's stop is told how long it has. */
  add(stage: string, stop: (withinMs: number) => Promise<void>): void {
    this.stages.push({ stage, stop });
  }

  /** Stops every stage, last added first, each bounded; a second call waits for the first. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const deadline = Date.now() + (this.bounds.totalMs ?? STOP_TOTAL_MS);
      const stageMs = this.bounds.stageMs ?? STOP_STAGE_MS;
      for (const { stage, stop } of [...this.stages].reverse()) {
        const ms = Math.max(STAGE_FLOOR_MS, Math.min(stageMs, deadline - Date.now()));
        const outcome = await within(ms, () => stop(ms)).catch((err: unknown) => {
          log.error({ err, stage }, 'error while stopping');
          return 'done' as const;
        });
        if (outcome === 'timeout') log.error({ stage, waited_ms: ms }, 'stage did not stop in time; moving on');
      }
    })();
    return this.stopping;
  }
}
