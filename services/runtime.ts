// Starts a set of services in this process over one bus and one ClickHouse
// connection. `logwarden all` (embedded mode) starts them all; distributed
// deployments start one per process. The CLI and the end-to-end tests both go
// through here, so the tests exercise the wiring operators run.
//
// Composition only: this opens what the services share (the bus, ClickHouse
// and its migrations, the control plane), starts the selected services in
// order with one context (context.ts), and stops them in reverse, each stage
// bounded (stop-sequence.ts). What a service does lives in its folder.
import { createBus } from '../shared/bus/index.js';
import { ensureTopicsInBackground } from './topics-in-background.js';
import type { Bus } from '../shared/bus/types.js';
import type { ClickHouse } from '../shared/clickhouse/client.js';
import { migrateConfigured, openConfigured } from '../shared/clickhouse/configured.js';
import type { Config } from '../shared/config/load.js';
import { configRuleSet } from '../shared/config/security-filter.js';
import { followControl } from '../shared/control/follower.js';
import { realtimeCapture } from '../shared/control/settings.js';
import { ControlState } from '../shared/control/state.js';
import { ControlStore } from '../shared/control/store.js';
import { componentLogger } from '../shared/log.js';
import { topicNames, topicSpecs, type Topics } from '../shared/topics.js';
import * as api from './api/index.js';
import type { ServiceContext, StorageContext } from './context.js';
import * as detector from './detector/index.js';
import * as enforcer from './enforcer/index.js';
import * as feeds from './feeds/index.js';
import type { Enforcer } from './enforcer/index.js';
import * as ingester from './ingester/index.js';
import * as notifier from './notifier/index.js';
import type { Notifier, SiemPush } from './notifier/index.js';
import type { IngestPipeline } from './ingester/index.js';
import * as sink from './sink/index.js';
import { StopSequence } from './stop-sequence.js';

// Imported from here by the CLI, the demo and tests.
export { topicSpecs } from '../shared/topics.js';

const log = componentLogger('runtime');

export const SERVICES = ['ingester', 'detector', 'sink', 'enforcer', 'notifier', 'api'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface Runtime {
  config: Config;
  bus: Bus;
  topics: Topics;
  ch: ClickHouse | undefined;
  /** Read-only: capture follows the control plane's realtime_capture setting (the config file until one is set). */
  state: { readonly capture: boolean };
  udpPort: number | undefined;
  tcpPort: number | undefined;
  apiPort: number | undefined;
  pipeline: IngestPipeline | undefined;
  enforcer: Enforcer | undefined;
  /** Present when this process runs the notifier and notifications.targets is not empty. */
  notifier: Notifier | undefined;
  /** Present when this process runs the notifier and siem.targets is not empty. */
  siem: SiemPush | undefined;
  /** The control plane as this process sees it (whitelist, routes, policies, filters, settings). */
  control: ControlState;
  /** Present where ClickHouse is (sink, api): writes to the control plane. */
  store: ControlStore | undefined;
  /** An admin token generated at this start (first start of the API without any token); print it once. */
  newAdminToken: string | undefined;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  /** With no token configured or stored yet, generate an admin token (embedded mode's first start). */
  generateToken?: boolean;
  /** How long stop() waits for one stage (a sink's last flush, a consumer leaving its group) before it moves on. */
  stopStageMs?: number;
  /** The cap on the whole stop(); stages past it get a last quarter second each. */
  stopTotalMs?: number;
}

/** The schema migrated, then the control plane loaded from its tables. */
async function prepareStorage(ch: ClickHouse, config: Config, bus: Bus, topics: Topics, control: ControlState): Promise<ControlStore> {
  const m = await migrateConfigured(ch, config);
  log.info({ mode: ch.mode, version: m.version, applied: m.applied.length }, 'ClickHouse ready');
  // The control tables are the source of truth: load them, and republish so every follower
  // (this process's, and other processes' after a crash between an insert and its publish) holds them.
  const store = new ControlStore(ch, bus, topics, control);
  const loaded = await store.load();
  await store.publishAll();
  log.info({ entities: loaded }, 'control plane loaded');
  return store;
}

export async function startRuntime(config: Config, services: ReadonlySet<ServiceName>, options: RuntimeOptions = {}): Promise<Runtime> {
  const topics = topicNames(config.kafka.topic_prefix);
  const bus = createBus(config);
  // The config's security_filter levels are the base the API's levels replace, level by level.
  const control = new ControlState(configRuleSet(config));
  const stages = new StopSequence({ stageMs: options.stopStageMs, totalMs: options.stopTotalMs });
  const rt: Runtime = {
    config, bus, topics, control, ch: undefined, store: undefined, state: { get capture() { return realtimeCapture(config, control); } },
    udpPort: undefined, tcpPort: undefined, apiPort: undefined, pipeline: undefined, enforcer: undefined, notifier: undefined, siem: undefined, newAdminToken: undefined,
    stop: () => stages.stop(),
  };
  // Stopped last: the connections, after every stage that uses them.
  stages.add('clickhouse', async () => rt.ch?.close());
  stages.add('kafka', () => bus.close());
  try {
    if (services.size === 1 && services.has('ingester')) {
      // The one role that can work without Kafka: it buffers until Kafka answers (topics-in-background.ts).
      stages.add('topics', ensureTopicsInBackground(bus, topicSpecs(config, topics)).stop);
    } else await bus.ensureTopics(topicSpecs(config, topics));
    let storage: StorageContext | undefined;
    if (services.has('sink') || services.has('api')) {
      const ch = (rt.ch = await openConfigured(config));
      rt.store = await prepareStorage(ch, config, bus, topics, control);
      storage = { config, bus, topics, control, ch, store: rt.store };
    }
    // Every service but the ingester acts on the control plane.
    if (SERVICES.some((s) => s !== 'ingester' && services.has(s))) {
      const follower = await followControl(bus, topics, control, config.kafka.client_id);
      stages.add('control follower', () => follower.sub.close());
      // Services start from the whole control plane, not from whatever arrived first.
      await follower.caughtUp();
    }
    const ctx: ServiceContext = storage ?? { config, bus, topics, control, ch: undefined, store: undefined };

    if (storage && services.has('sink')) stages.add('sink', (await sink.start(storage)).stop);
    // Before the producers of what it reads: its group starts at the end of each topic.
    const notifying = services.has('notifier') ? await notifier.start(ctx) : undefined;
    if (notifying) {
      rt.notifier = notifying.notifier;
      stages.add('notifier', notifying.stop);
    }
    const pushing = services.has('notifier') ? await notifier.startSiemPush(ctx) : undefined;
    if (pushing) {
      rt.siem = pushing;
      stages.add('siem push', (withinMs: number) => pushing.stop(Math.max(0, withinMs - 250)));
    }
    const enforcing = services.has('enforcer') ? await enforcer.start(ctx) : undefined;
    if (enforcing) {
      rt.enforcer = enforcing.enforcer;
      stages.add('enforcer', enforcing.stop);
    }
    if (services.has('detector')) stages.add('detector', (await detector.start(ctx)).stop);
    if (services.has('ingester')) {
      const ingesting = await ingester.start(ctx);
      rt.pipeline = ingesting.pipeline;
      rt.udpPort = ingesting.udpPort;
      rt.tcpPort = ingesting.tcpPort;
      stages.add('ingester', ingesting.stop);
    }
    const refresh = enforcing ? { refresh: () => enforcing.enforcer.refresh() } : {};
    // Blocklist feeds run beside the API, which shows their status.
    const feeding = storage && services.has('api') && config.api.enabled ? await feeds.start(storage) : undefined;
    if (feeding) stages.add('feeds', feeding.stop);
    const feedStatus = feeding ? { feeds: () => feeding.status() } : {};
    const serving = storage && services.has('api') ? await api.start(storage, { generateToken: options.generateToken === true, ...refresh, ...feedStatus }) : undefined;
    if (serving) {
      rt.apiPort = serving.port;
      rt.newAdminToken = serving.newAdminToken;
      stages.add('api', serving.stop);
    }
  } catch (err) {
    await rt.stop();
    throw err;
  }
  return rt;
}
