// Live streams for Server-Sent Events: one bus subscription per topic and API
// process (started with the first listener, closed with the last), fanned out
// to every connected client. A group of its own, starting at the end of the
// topic: a stream shows what happens from now on; history is GET /events.
import { hostname } from 'node:os';
import type { RecordCodec } from '../../shared/avro/codec.js';
import type { Bus, Subscription } from '../../shared/bus/types.js';
import { componentLogger } from '../../shared/log.js';

const log = componentLogger('api');

export type Listener<T> = (record: T) => void;

export class TopicStream<T extends object> {
  private readonly listeners = new Set<Listener<T>>();
  private sub: Subscription | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly topic: string,
    private readonly codec: RecordCodec<T>,
    private readonly clientId: string,
  ) {}

  get size(): number {
    return this.listeners.size;
  }

  /** Adds a listener; resolves once the subscription is live. Returns the function that removes it. */
  async listen(fn: Listener<T>): Promise<() => void> {
    this.listeners.add(fn);
    if (!this.sub) {
      this.starting ??= this.start().finally(() => {
        this.starting = undefined;
      });
      try {
        await this.starting;
      } catch (err) {
        this.listeners.delete(fn);
        throw err;
      }
    }
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) void this.stop();
    };
  }

  private async start(): Promise<void> {
    this.sub = await this.bus.subscribe({
      groupId: `${this.clientId}-api-stream-${hostname()}-${process.pid}-${Date.now().toString(36)}`,
      topics: [this.topic],
      fromBeginning: false,
      onBatch: (batch) => {
        for (const m of batch.messages) {
          let rec: T;
          try {
            rec = this.codec.decode(m.value);
          } catch {
            continue;
          }
          for (const fn of this.listeners) fn(rec);
        }
        return Promise.resolve();
      },
    });
  }

  private async stop(): Promise<void> {
    const sub = this.sub;
    this.sub = undefined;
    await sub?.close().catch((err: unknown) => log.warn({ err: String(err) }, 'stream close failed'));
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.stop();
  }
}
