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
import { COMPACTED, topicNames, type TopicKey, type Topics } from '../shared/topics.js';
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
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

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

export async function startRuntime(config: Config, services: ReadonlySet<ServiceName>): Promise<Runtime> {
  const topics = topicNames(config.kafka.topic_prefix);
  const bus = createBus(config);
  const stops: Array<() => Promise<void>> = [];
  const state: RuntimeState = { capture: config.security.realtime_capture };
  const rt: Runtime = { config, bus, topics, ch: undefined, state, udpPort: undefined, tcpPort: undefined, apiPort: undefined, pipeline: undefined, enforcer: undefined, stop: async () => {} };
  rt.stop = async () => {
    // Inputs first, then the stages they feed, then the connections.
    for (const stop of stops.reverse()) {
      await stop().catch((err: unknown) => log.error({ err }, 'error while stopping'));
    }
    await bus.close();
    await rt.ch?.close();
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
    }

    if (services.has('sink')) {
      const ch = rt.ch as ClickHouse;
      const group = (table: string): string => `${config.kafka.client_id}-sink-${table}`;
      const sinks = [
        new TableSink<AccessRecord>({
          bus, ch, topic: topics.access, deadLetterTopic: topics.deadLetter, groupId: group('requests'), table: 'requests',
          codec: accessRecordCodec, toRow: (r) => r, enabled: () => state.capture,
        }),
        new TableSink<SecurityEvent>({
          bus, ch, topic: topics.events, deadLetterTopic: topics.deadLetter, groupId: group('events'), table: 'events',
          codec: securityEventCodec, toRow: (e) => e,
        }),
        new TableSink<BlockDecision>({
          bus, ch, topic: topics.decisions, deadLetterTopic: topics.deadLetter, groupId: group('blocks'), table: 'blocks',
          codec: blockDecisionCodec, toRow: blockRow,
        }),
      ];
      for (const sink of sinks) {
        await sink.start();
        stops.push(() => sink.close());
      }
    }

    if (services.has('enforcer') && config.nodes.length > 0) {
      const enforcer = new Enforcer({ config, bus, topics });
      rt.enforcer = enforcer;
      await enforcer.start();
      stops.push(() => enforcer.close());
    }

    if (services.has('detector')) {
      const detector = new DetectorService({ config, bus, topics });
      await detector.start();
      stops.push(() => detector.close());
    }

    if (services.has('ingester')) {
      const pipeline = new IngestPipeline(config, bus, topics);
      rt.pipeline = pipeline;
      stops.push(() => pipeline.close());
      if (config.ingest.udp.enabled) {
        const udp = await startUdpInput(pipeline, config.ingest.udp.host, config.ingest.udp.port, config.ingest.udp.recv_buffer_bytes);
        rt.udpPort = udp.port;
        stops.push(() => udp.close());
      }
      if (config.ingest.tcp.enabled) {
        const tcp = await startTcpInput(pipeline, {
          host: config.ingest.tcp.host,
          port: config.ingest.tcp.port,
          // Room for the syslog header and octet count around the longest accepted line.
          maxFrameBytes: config.ingest.max_line_bytes + 1024,
        });
        rt.tcpPort = tcp.port;
        stops.push(() => tcp.close());
      }
    }

    if (services.has('api') && config.api.enabled) {
      const app = buildApi({ config, bus, ch: rt.ch as ClickHouse, version: VERSION });
      await app.listen({ host: config.api.host, port: config.api.port });
      const addr = app.server.address();
      rt.apiPort = typeof addr === 'object' && addr ? addr.port : config.api.port;
      stops.push(() => app.close());
    }
  } catch (err) {
    await rt.stop();
    throw err;
  }
  return rt;
}
