// What a service's start() is given, and what it gives back. runtime.ts
// builds one context per process, once: the connections and the control
// plane as this process follows it. Each service folder exposes
// `start(ctx) → { stop }` from its index.ts and owns everything else about
// its role; the runtime only decides which start, in which order.
import type { Bus } from '../shared/bus/types.js';
import type { ClickHouse } from '../shared/clickhouse/client.js';
import type { Config } from '../shared/config/load.js';
import type { ControlState } from '../shared/control/state.js';
import type { ControlStore } from '../shared/control/store.js';
import type { Topics } from '../shared/topics.js';

export interface ServiceContext {
  readonly config: Config;
  readonly bus: Bus;
  readonly topics: Topics;
  /** The control plane as this process sees it, caught up with the control topic before any service starts. */
  readonly control: ControlState;
  /** Open when a service of this process needs storage (sink, api). */
  readonly ch: ClickHouse | undefined;
  /** Writes to the control plane; present with `ch`. */
  readonly store: ControlStore | undefined;
}

/** The context of a service that stores or reads ClickHouse. */
export interface StorageContext extends ServiceContext {
  readonly ch: ClickHouse;
  readonly store: ControlStore;
}

export interface Started {
  /**
   * Stops the service. `withinMs` is how long the runtime waits for it before
   * it moves on: a part with a grace of its own (the ingester's last sends)
   * fits that grace inside it.
   */
  readonly stop: (withinMs: number) => Promise<void>;
}
