// The notifier service: tells webhooks (notifications.targets) of blocks,
// unblocks, security events, feed failures and nodes out of sync.
//
// It is a consumer of the decisions, events and notices topics with a group of
// its own (`<prefix><client_id>-notifier`), shared by every notifier process:
// in distributed mode run `logwarden notifier` once or several times, and each
// record is handled by one of them (the group splits the partitions), never by
// each enforcer or API instance that also sees it. A group that has no
// committed offset starts at the end: a first start does not announce history.
// Offsets advance once the records are queued (notifier.ts never waits for a
// receiver), so a crash can lose queued notifications but never repeats them.
// Without targets nothing starts.
//
// The SIEM push (siem.ts; `siem.targets`) runs in the same service with a
// consumer group per target, and commits only what its target acknowledged
// or dropped and counted: startSiemPush().
import { blockDecisionCodec, noticeCodec, securityEventCodec } from '../../shared/avro/codec.js';
import type { BusMessage, TopicPartition } from '../../shared/bus/types.js';
import { componentLogger } from '../../shared/log.js';
import { consumerGroup } from '../../shared/topics.js';
import type { ServiceContext, Started } from '../context.js';
import { Notifier } from './notifier.js';
import { decisionItem, eventItem, noticeItem, type NotificationItem } from './payload.js';
import { startSiem, type SiemPush } from './siem.js';

export { Notifier };
export type { SiemPush } from './siem.js';
export type { SiemTargetStats } from './siem-target.js';
export type { TargetStats } from './target.js';
export { signature, verifySignature, SIGNATURE_HEADER, DELIVERY_HEADER } from './signature.js';

const log = componentLogger('notifier');

export interface StartedNotifier extends Started {
  notifier: Notifier;
  /** The partitions this member reads now (its share of the group's). */
  assignment(): TopicPartition[];
}

export async function start(ctx: ServiceContext): Promise<StartedNotifier | undefined> {
  const { config, bus, topics } = ctx;
  const targets = config.notifications.targets;
  if (targets.length === 0) return undefined;
  const kinds = new Set(targets.flatMap((t) => t.kinds));
  // Only the topics some target asked for: events are many, and nobody may want them.
  const read = new Map<string, (m: BusMessage) => NotificationItem | undefined>();
  if (kinds.has('block') || kinds.has('challenge') || kinds.has('unblock')) read.set(topics.decisions, (m) => decisionItem(blockDecisionCodec.decode(m.value)));
  if (kinds.has('event')) read.set(topics.events, (m) => eventItem(securityEventCodec.decode(m.value)));
  if (kinds.has('feed_failure') || kinds.has('node_out_of_sync')) read.set(topics.notices, (m) => noticeItem(noticeCodec.decode(m.value)));
  const notifier = new Notifier(targets);
  const sub = await bus.subscribe({
    groupId: consumerGroup(config.kafka, 'notifier'),
    topics: [...read.keys()],
    onBatch: (batch) => {
      const toItem = read.get(batch.topic);
      for (const m of batch.messages) {
        let item: NotificationItem | undefined;
        try {
          item = toItem?.(m);
        } catch (err) {
          // A record no codec reads is the sink's dead letter to keep, not a reason to stall notifications.
          log.warn({ err: String(err), topic: batch.topic, offset: m.offset }, 'record skipped: not decodable');
        }
        if (item) notifier.offer(item);
      }
      return Promise.resolve();
    },
  });
  log.info({ targets: targets.map((t) => t.name), topics: [...read.keys()] }, 'notifier started');
  return {
    notifier,
    assignment: () => sub.assignment(),
    stop: async (withinMs: number) => {
      await sub.close();
      await notifier.close(Math.max(0, withinMs - 250));
    },
  };
}

/** The SIEM push of `siem.targets`; undefined without targets. Its stop() takes the time it may drain within. */
export async function startSiemPush(ctx: ServiceContext): Promise<SiemPush | undefined> {
  const { config, bus, topics } = ctx;
  if (config.siem.targets.length === 0) return undefined;
  return startSiem({ bus, topics, kafka: config.kafka, targets: config.siem.targets });
}
