// Notices: what an operator should hear about that is neither a security event
// nor a block decision. A part that knows of a failure calls `publish`; the
// notifier (services/notifier) reads the notices topic and tells the targets
// that asked for that kind. Publishing never throws into the caller: a notice
// is worth less than the work that reported it, so a bus failure is logged
// and counted, and the caller carries on.
//
//   feed_failure      a blocklist feed failed to fetch or parse; subject = feed name
//                     (a feed calls `publisher.publish({ kind: 'feed_failure', subject, message })`)
//   node_out_of_sync  an enforcer could not bring a node to the desired state; subject = node name
import { createHash } from 'node:crypto';
import { Counter } from 'prom-client';
import { noticeCodec } from './avro/codec.js';
import type { Bus } from './bus/types.js';
import { componentLogger } from './log.js';
import { registry } from './metrics.js';
import type { Notice, NoticeKind } from './records.js';
import type { Topics } from './topics.js';

const log = componentLogger('notices');
const published = new Counter({ name: 'logwarden_notices_published_total', help: 'Notices published (feed failures, nodes out of sync)', labelNames: ['kind'], registers: [registry] });
const publishErrors = new Counter({ name: 'logwarden_notices_publish_errors_total', help: 'Notices the bus did not take (logged, not retried)', labelNames: ['kind'], registers: [registry] });

export interface NoticeInput {
  kind: Exclude<NoticeKind, 'other'>;
  subject: string;
  message: string;
  details?: Record<string, string>;
  /** When it happened, epoch ms; default now. */
  ts?: number;
  /**
   * What makes this occurrence one: the same kind, subject and occurrence give
   * the same id, so a notice published twice is sent once. Default: `ts`.
   */
  occurrence?: string;
}

/** The one call a part that reports failures needs (feeds, the enforcer). */
export interface NoticePublisher {
  publish(notice: NoticeInput): Promise<void>;
}

/** Stable id of one occurrence. */
export function noticeId(kind: string, subject: string, occurrence: string): string {
  return createHash('sha256').update(`${kind}\n${subject}\n${occurrence}`).digest('hex').slice(0, 32);
}

export function toNotice(n: NoticeInput): Notice {
  const ts = n.ts ?? Date.now();
  return { id: noticeId(n.kind, n.subject, n.occurrence ?? String(ts)), ts, kind: n.kind, subject: n.subject, message: n.message, details: n.details ?? {} };
}

/** Publishes to the notices topic, keyed by subject. */
export function busNoticePublisher(bus: Bus, topics: Topics): NoticePublisher {
  return {
    async publish(input: NoticeInput): Promise<void> {
      const notice = toNotice(input);
      try {
        await bus.publish(topics.notices, [{ key: notice.subject, value: noticeCodec.encode(notice), timestamp: notice.ts }]);
        published.inc({ kind: notice.kind });
      } catch (err) {
        publishErrors.inc({ kind: notice.kind });
        log.warn({ err: String(err), kind: notice.kind, subject: notice.subject }, 'notice not published');
      }
    },
  };
}
