// The SIEM push: every security event and block decision, in Elastic Common
// Schema (shared/ecs.ts), to the targets of `siem.targets` (siem-target.ts).
//
// Each target is a bus consumer of its own: group `<prefix><client_id>-siem-<name>`
// on the events and/or decisions topics (its `records`), in distributed mode
// (`logwarden notifier`, one or more processes splitting the partitions) as
// in embedded mode (`npm start`, the in-process bus). A target that is slow or
// down holds its own group and nothing else: not detection, not the sink, not
// the webhooks, not another SIEM target.
//
// Offsets: a batch read from the bus is committed only once each of its records
// was acknowledged by the target, or dropped and counted under a reason
// (below min_severity is no drop: it was never wanted). So while a target is
// down its backlog stays on the bus (Kafka's retention; in embedded mode the
// in-process bus's cap per partition, beyond which logwarden_memory_bus_evicted_total
// counts), and it arrives once the target is back. Records left at stop are not
// committed: the next start delivers them (again, if they were in flight).
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import type { Bus, BusMessage, Subscription, TopicPartition } from '../../shared/bus/types.js';
import type { SiemTarget as SiemTargetConfig } from '../../shared/config/types.js';
import { blockToEcs, SEVERITIES, toEcs } from '../../shared/ecs.js';
import { componentLogger } from '../../shared/log.js';
import { consumerGroup, type Topics } from '../../shared/topics.js';
import { frame, type SiemRecordKind } from './siem-frame.js';
import { SiemTarget, type SiemOutcome, type SiemTargetStats } from './siem-target.js';

const log = componentLogger('notifier.siem');

/** A record read from the bus, as its target sends it; undefined when the target does not want it. */
export function siemFrame(t: SiemTargetConfig, kind: SiemRecordKind, value: Buffer): Buffer | undefined {
  const doc = kind === 'event' ? toEcs(securityEventCodec.decode(value)) : blockToEcs(blockDecisionCodec.decode(value));
  if ((doc.event as { severity: number }).severity < SEVERITIES[t.min_severity]) return undefined;
  return frame(t.transport, doc, kind);
}

/** How often a handler waiting on its target tells the group it is alive (kafkajs sends at most one per 3 s). */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * Waits for `settled`, heartbeating meanwhile: a target down for minutes must
 * not get this member evicted from its group (its commit would then be refused
 * and the batch delivered twice). A rebalance makes heartbeat() throw: the
 * batch is then left to the partition's next owner.
 */
async function keepingMembership<T>(settled: Promise<T>, heartbeat: (() => Promise<void>) | undefined): Promise<T> {
  if (!heartbeat) return settled;
  let done = false;
  const result = settled.finally(() => {
    done = true;
  });
  // Awaited below unless a heartbeat throws first; never an unhandled rejection.
  result.catch(() => undefined);
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([result, new Promise<void>((resolve) => (timer = setTimeout(resolve, HEARTBEAT_EVERY_MS)))]);
    clearTimeout(timer);
    if (done) return result;
    await heartbeat();
  }
}

/** Thrown to the bus so that a batch holding records left at stop is not committed. */
class LeftAtStop extends Error {}

export interface SiemPush {
  targets: SiemTarget[];
  stats(): Record<string, SiemTargetStats>;
  /** The partitions this process reads now, per target (its share of each target's group). */
  assignment(): Record<string, TopicPartition[]>;
  /** Each target's consumer group. */
  groups: Record<string, string>;
  stop(withinMs: number): Promise<void>;
}

export async function startSiem(opts: { bus: Bus; topics: Topics; kafka: { client_id: string; topic_prefix: string }; targets: readonly SiemTargetConfig[] }): Promise<SiemPush> {
  const { bus, topics } = opts;
  const targets: SiemTarget[] = [];
  const subs: Subscription[] = [];
  const groups: Record<string, string> = {};
  for (const config of opts.targets) {
    const target = new SiemTarget(config);
    targets.push(target);
    const kindOf = new Map<string, SiemRecordKind>();
    if (config.records.includes('events')) kindOf.set(topics.events, 'event');
    if (config.records.includes('blocks')) kindOf.set(topics.decisions, 'block');
    const handle = (kind: SiemRecordKind, m: BusMessage): Promise<SiemOutcome | undefined> => {
      let f: Buffer | undefined;
      try {
        f = siemFrame(config, kind, m.value);
      } catch (err) {
        // A record no codec reads is the sink's dead letter to keep, not a reason to stall the push.
        log.warn({ err: String(err), target: config.name, offset: m.offset }, 'record skipped: not decodable');
        target.drop('undecodable', 1);
      }
      return f ? target.offer(f, kind) : Promise.resolve(undefined);
    };
    groups[config.name] = consumerGroup(opts.kafka, `siem-${config.name}`);
    subs.push(await bus.subscribe({
      groupId: groups[config.name] as string,
      topics: [...kindOf.keys()],
      maxBatchSize: config.batch_size,
      onBatch: async (batch) => {
        const kind = kindOf.get(batch.topic) ?? 'event';
        const outcomes = await keepingMembership(Promise.all(batch.messages.map((m) => handle(kind, m))), batch.heartbeat && (() => batch.heartbeat?.() ?? Promise.resolve()));
        if (outcomes.includes('shutdown')) throw new LeftAtStop(`${config.name}: records left at stop, not committed`);
      },
    }));
  }
  log.info({ targets: opts.targets.map((t) => `${t.name} (${t.transport}: ${t.records.join(', ')})`) }, 'SIEM push started');
  return {
    targets,
    groups,
    assignment: () => Object.fromEntries(targets.map((t, i) => [t.config.name, subs[i]?.assignment() ?? []])),
    stats: () => Object.fromEntries(targets.map((t) => [t.config.name, { ...t.stats, dropped: { ...t.stats.dropped } }])),
    stop: async (withinMs) => {
      // Targets first: what they cannot deliver in time settles as shutdown, so no handler waits on them.
      await Promise.all(targets.map((t) => t.close(withinMs)));
      await Promise.all(subs.map((s) => s.close()));
    },
  };
}
