// Starts a set of services in this process over one bus and one ClickHouse
// connection. `logwarden all` (embedded mode) starts them all; distributed
// deployments start one per process. The CLI and the end-to-end tests both go
// through here, so the tests exercise the wiring operators run.
import { readFileSync } from 'node:fs';
import { accessRecordCodec, blockDecisionCodec, securityEventCodec } from '../shared/avro/codec.js';
import { createBus } from '../shared/bus/index.js';
import type { Bus, TopicSpec } from '../shared/bus/types.js';
import { openClickHouse, type ClickHouse } from '../shared/clickhouse/client.js';
import { migrate } from '../shared/clickhouse/migrate.js';
import type { Config } from '../shared/config/load.js';
import { componentLogger } from '../shared/log.js';
import type { AccessRecord, BlockDecision, SecurityEvent } from '../shared/records.js';
import { COMPACTED, consumerGroup, topicNames, type TopicKey, type Topics } from '../shared/topics.js';
import { followControl } from '../shared/control/follower.js';
import { ControlState } from '../shared/control/state.js';
import { withSecurityOverrides } from '../shared/control/settings.js';
import { ControlStore, controlBlockRow } from '../shared/control/store.js';
import { ensureAdminToken, readTokenFile } from '../shared/auth/tokens.js';
import { buildApi } from './api/server.js';
import { IngestPipeline } from './ingester/pipeline.js';
import { startTcpInput } from './ingester/tcp.js';
import { startUdpInput } from './ingester/udp.js';
import { DetectorService } from './detector/service.js';
import { Enforcer } from './enforcer/enforcer.js';
import { TableSink } from './sink/table-sink.js';

const log = componentLogger('runtime');

export const SERVICES = ['ingester', 'detector', 'sink', 'enforcer', 'api'] as const;
export type ServiceName = (typeof SERVICES)[number];

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Mutable run-time switches (the API flips them). */
export interface RuntimeState {
  capture: boolean;
}

export interface Runtime {
  config: Config;
  bus: Bus;
  topics: Topics;
  ch: ClickHouse | undefined;
  state: RuntimeState;
  udpPort: number | undefined;
  tcpPort: number | undefined;
  apiPort: number | undefined;
  pipeline: IngestPipeline | undefined;
  enforcer: Enforcer | undefined;
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

const DAY_MS = 86_400_000;
const DETECTOR_RESTART_DEBOUNCE_MS = 1_000;
const RULES_PUSH_DEBOUNCE_MS = 20;
// Long enough for a sink's last batch and a group leave on a healthy broker; with Kafka or
// ClickHouse gone, every stage waits it out, so the whole stop is capped too: inside
// systemd's 90 s before its SIGKILL, with time left to exit.
const STOP_STAGE_MS = 15_000;
const STOP_TOTAL_MS = 60_000;

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

/** The control plane's whitelist entries that hold for every deployment (the detectors' whitelist has no deployment scope). */
export function detectorWhitelist(control: ControlState): { ips: string[]; cidrs: string[]; paths: string[] } {
  const out = { ips: [] as string[], cidrs: [] as string[], paths: [] as string[] };
  for (const { value: w } of control.whitelist.values()) {
    if (w.deployment !== '') continue;
    (w.type === 'ip' ? out.ips : w.type === 'cidr' ? out.cidrs : out.paths).push(w.value);
  }
  return out;
}

export function topicSpecs(config: Config, topics: Topics): TopicSpec[] {
  return (Object.keys(topics) as TopicKey[]).map((key) => ({
    topic: topics[key],
    partitions: config.kafka.partitions,
    compacted: COMPACTED.has(key),
    // Access records only need to outlive a detection window (state rebuild) and consumer lag.
    ...(COMPACTED.has(key) ? {} : { retentionMs: key === 'access' ? DAY_MS : 7 * DAY_MS }),
  }));
}

/** A decision as a row of the blocks history (an expiry is recorded as such, not as a manual unblock). */
export function blockRow(d: BlockDecision): object {
  return {
    ts: d.created_at,
    action: d.action === 'unblock' && d.reason === 'expired' ? 'expire' : d.action,
    ip: d.ip,
    reason: d.reason,
    source: d.source,
    actor: d.source === 'auto' ? 'detector' : d.source,
    created_at: d.created_at,
    expires_at: d.expires_at,
    deployment: d.deployment,
    escalation_level: d.escalation_level,
  };
}

export async function startRuntime(config: Config, services: ReadonlySet<ServiceName>, options: RuntimeOptions = {}): Promise<Runtime> {
  const topics = topicNames(config.kafka.topic_prefix);
  const bus = createBus(config);
  // A stage's stop is told how long it has (a stage with a grace of its own fits it in).
  const stops: Array<{ stage: string; stop: (withinMs: number) => Promise<void> }> = [];
  const state: RuntimeState = { capture: config.security.realtime_capture };
  const control = new ControlState();
  const rt: Runtime = {
    config, bus, topics, ch: undefined, state, udpPort: undefined, tcpPort: undefined, apiPort: undefined, pipeline: undefined, enforcer: undefined,
    control, store: undefined, newAdminToken: undefined, stop: async () => {},
  };
  // Capture follows the control plane once someone set it there; until then, the config file.
  const applyCapture = (): void => {
    const v = control.setting<boolean>('realtime_capture');
    if (typeof v === 'boolean') state.capture = v;
  };
  control.on('change', (e) => {
    if (e.kind === 'setting' && e.id === 'realtime_capture') applyCapture();
  });
  const stageMs = options.stopStageMs ?? STOP_STAGE_MS;
  let stopDeadline = 0;
  const bounded = async (stage: string, stop: (withinMs: number) => Promise<void>): Promise<void> => {
    // Each stage still gets a moment past the total: a healthy close takes milliseconds.
    const ms = Math.max(250, Math.min(stageMs, stopDeadline - Date.now()));
    const outcome = await within(ms, () => stop(ms)).catch((err: unknown) => {
      log.error({ err, stage }, 'error while stopping');
      return 'done' as const;
    });
    // What is left of it runs on in the background; the process is about to exit, and what
    // was not committed is delivered again to whoever takes over the partitions.
    if (outcome === 'timeout') log.error({ stage, waited_ms: ms }, 'stage did not stop in time; moving on');
  };
  let stopping: Promise<void> | undefined;
  rt.stop = () => {
    stopping ??= (async () => {
      stopDeadline = Date.now() + (options.stopTotalMs ?? STOP_TOTAL_MS);
      // Inputs first, then the stages they feed, then the connections.
      for (const { stage, stop } of stops.reverse()) await bounded(stage, stop);
      await bounded('kafka', () => bus.close());
      await bounded('clickhouse', async () => rt.ch?.close());
    })();
    return stopping;
  };
  try {
    await bus.ensureTopics(topicSpecs(config, topics));

    if (services.has('sink') || services.has('api')) {
      const c = config.clickhouse;
      rt.ch = await openClickHouse({
        ...(c.url ? { url: c.url, username: c.username, password: c.password } : {}),
        database: c.database,
        dataDir: c.data_dir,
        ...(c.cluster ? { cluster: c.cluster } : {}),
      });
      const m = await migrate(rt.ch, {
        retentionDays: config.security.retention_days,
        requestsTtlDays: Math.max(1, Math.ceil(c.requests_ttl_ms / DAY_MS)),
      });
      log.info({ mode: rt.ch.mode, version: m.version, applied: m.applied.length }, 'ClickHouse ready');
      // The control tables are the source of truth: load them, and republish so every follower
      // (this process's, and other processes' after a crash between an insert and its publish) holds them.
      rt.store = new ControlStore(rt.ch, bus, topics, control);
      const loaded = await rt.store.load();
      await rt.store.publishAll();
      log.info({ entities: loaded }, 'control plane loaded');
    }

    if (services.has('api') || services.has('enforcer') || services.has('sink') || services.has('detector')) {
      const follower = await followControl(bus, topics, control, config.kafka.client_id);
      stops.push({ stage: 'control follower', stop: () => follower.sub.close() });
      // Services below start from the whole control plane, not from whatever arrived first.
      await follower.caughtUp();
    }

    if (services.has('sink')) {
      const ch = rt.ch as ClickHouse;
      const group = (table: string): string => consumerGroup(config.kafka, `sink-${table}`);
      // Also the insert block size of each sink (see table-sink.ts): one setting for both keeps a backlog's batches aligned.
      const maxBatchSize = config.clickhouse.sink_batch_rows;
      const sinks = [
        new TableSink<AccessRecord>({
          bus, ch, topic: topics.access, deadLetterTopic: topics.deadLetter, groupId: group('requests'), table: 'requests',
          codec: accessRecordCodec, toRow: (r) => r, enabled: () => state.capture, maxBatchSize,
        }),
        new TableSink<SecurityEvent>({
          bus, ch, topic: topics.events, deadLetterTopic: topics.deadLetter, groupId: group('events'), table: 'events',
          codec: securityEventCodec, toRow: (e) => e,
          // Event ids are deterministic: a message the producer wrote twice (a retry around a broker restart) is one event.
          uniqueKey: (e) => e.id, maxBatchSize,
        }),
        new TableSink<BlockDecision>({
          bus, ch, topic: topics.decisions, deadLetterTopic: topics.deadLetter, groupId: group('blocks'), table: 'blocks',
          codec: blockDecisionCodec, toRow: blockRow, maxBatchSize,
        }),
        // Blocks in force, whoever decided them (detectors, filters, the API): what the API lists and a restart restores.
        new TableSink<BlockDecision>({
          bus, ch, topic: topics.decisions, deadLetterTopic: topics.deadLetter, groupId: group('control-blocks'), table: 'control_blocks',
          codec: blockDecisionCodec, toRow: controlBlockRow, maxBatchSize,
        }),
      ];
      for (const sink of sinks) {
        await sink.start();
        stops.push({ stage: `sink ${sink.table}`, stop: () => sink.close() });
      }
    }

    if (services.has('enforcer') && config.nodes.length > 0) {
      const enforcer = new Enforcer({ config, bus, topics });
      rt.enforcer = enforcer;
      // The in-process topic is empty after a restart; the blocks in force are in control_blocks.
      if (bus.kind === 'memory' && rt.store) enforcer.seed(await rt.store.activeDecisions());
      await enforcer.start();
      stops.push({ stage: 'enforcer', stop: () => enforcer.close() });
      // Nodes take versions below 10^14 (what their JSON reports exactly): the control plane's
      // microsecond version in milliseconds, kept strictly increasing for this enforcer.
      let rulesVersion = 0;
      let pushing = Promise.resolve();
      const pushRules = (): void => {
        rulesVersion = Math.max(Math.floor(control.version / 1000), rulesVersion + 1);
        const rules = { ...control.nodeRules(), version: rulesVersion };
        pushing = pushing.then(() => enforcer.setRules(rules)).catch((err: unknown) => log.error({ err }, 'rule set not pushed'));
      };
      pushRules();
      let pending: NodeJS.Timeout | undefined;
      control.on('change', (e) => {
        if (e.kind === 'setting') {
          if (e.id === 'refresh') void enforcer.refresh();
          return;
        }
        // Changes arriving together (a republish, a burst of API calls) become one rule set.
        if (pending) return;
        pending = setTimeout(() => {
          pending = undefined;
          pushRules();
        }, RULES_PUSH_DEBOUNCE_MS);
        pending.unref();
      });
      stops.push({
        stage: 'rules push',
        stop: async () => {
          if (pending) clearTimeout(pending);
          await pushing;
        },
      });
    }

    if (services.has('detector')) {
      // The detectors run with the control plane's view: run-time security settings and the
      // whitelist. A change restarts them (debounced); each rebuilds its last window from the log.
      let detector = new DetectorService({ config: withSecurityOverrides(config, control), bus, topics, whitelist: detectorWhitelist(control) });
      await detector.start();
      let pending: NodeJS.Timeout | undefined;
      let restarting = Promise.resolve();
      const restart = (): void => {
        restarting = restarting.then(async () => {
          await detector.close();
          detector = new DetectorService({ config: withSecurityOverrides(config, control), bus, topics, whitelist: detectorWhitelist(control) });
          await detector.start();
          log.info('detectors restarted with the new control-plane settings');
        }).catch((err: unknown) => log.error({ err }, 'detector restart failed'));
      };
      control.on('change', (e) => {
        if (e.kind !== 'whitelist' && !(e.kind === 'setting' && e.id === 'security')) return;
        if (pending) clearTimeout(pending);
        pending = setTimeout(restart, DETECTOR_RESTART_DEBOUNCE_MS);
        pending.unref();
      });
      stops.push({
        stage: 'detector',
        stop: async () => {
          if (pending) clearTimeout(pending);
          await restarting;
          await detector.close();
        },
      });
    }

    if (services.has('ingester')) {
      const pipeline = new IngestPipeline(config, bus, topics);
      rt.pipeline = pipeline;
      // Its grace ends before the stage's bound: what the bus did not take is counted, not just left behind.
      stops.push({ stage: 'ingest pipeline', stop: (ms) => pipeline.close(Math.max(100, ms - 500)) });
      if (config.ingest.udp.enabled) {
        const udp = await startUdpInput(pipeline, config.ingest.udp.host, config.ingest.udp.port, config.ingest.udp.recv_buffer_bytes);
        rt.udpPort = udp.port;
        stops.push({ stage: 'udp input', stop: () => udp.close() });
      }
      if (config.ingest.tcp.enabled) {
        const tcp = await startTcpInput(pipeline, {
          host: config.ingest.tcp.host,
          port: config.ingest.tcp.port,
          // Room for the syslog header and octet count around the longest accepted line.
          maxFrameBytes: config.ingest.max_line_bytes + 1024,
        });
        rt.tcpPort = tcp.port;
        stops.push({ stage: 'tcp input', stop: () => tcp.close() });
      }
    }

    if (services.has('api') && config.api.enabled) {
      if (options.generateToken) rt.newAdminToken = ensureAdminToken(config.api.token_file, config.api.tokens);
      const enforcer = rt.enforcer;
      const app = buildApi({
        config, bus, ch: rt.ch as ClickHouse, version: VERSION, topics, state,
        ...(rt.store ? { control: { state: control, store: rt.store } } : {}),
        ...(enforcer ? { refresh: () => enforcer.refresh() } : {}),
        tokens: readTokenFile(config.api.token_file),
      });
      await app.listen({ host: config.api.host, port: config.api.port });
      const addr = app.server.address();
      rt.apiPort = typeof addr === 'object' && addr ? addr.port : config.api.port;
      stops.push({ stage: 'api', stop: () => app.close() });
    }
    applyCapture();
  } catch (err) {
    await rt.stop();
    throw err;
  }
  return rt;
}
