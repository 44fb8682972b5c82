// The notifier: every item (decision, event, notice) is accepted once, then
// handed to each target that asked for its kind (target.ts delivers).
//
// Sent once. An item's id is stable (payload.ts): a decision's is its content,
// an event's and a notice's their own id. The notifier remembers the last
// SEEN_MAX ids it accepted and ignores a repeat, whichever way it comes back:
// the bus delivering a batch again after a rebalance, a producer retry that
// wrote a record twice, a detector re-emitting a decision after a partition
// moved. Across notifier processes, the consumer group does that work: all
// notifiers share one group (index.ts), so each record reaches one of them.
// A retried delivery carries the same message id (X-Logwarden-Delivery and
// the body's `id`), for a receiver that took a message whose answer was lost.
import { Counter } from 'prom-client';
import type { NotificationTarget } from '../../shared/config/types.js';
import { registry } from '../../shared/metrics.js';
import type { NotificationItem } from './payload.js';
import { wants } from './payload.js';
import { Target, type TargetStats } from './target.js';

const duplicates = new Counter({ name: 'logwarden_notify_duplicates_total', help: 'Items seen again (same id) and not sent again', registers: [registry] });

/** Ids remembered for deduplication: far more than one aggregation window or one redelivered batch holds. */
const SEEN_MAX = 100_000;

export class Notifier {
  readonly targets: Target[];
  private readonly seen = new Set<string>();

  constructor(targets: readonly NotificationTarget[]) {
    this.targets = targets.map((t) => new Target(t));
  }

  /** Hands a new item to the targets that want it; a repeat is counted and ignored. Never waits, never throws. */
  offer(item: NotificationItem): void {
    if (this.seen.has(item.id)) {
      duplicates.inc();
      return;
    }
    this.seen.add(item.id);
    // A Set iterates in insertion order: the first is the oldest.
    if (this.seen.size > SEEN_MAX) this.seen.delete(this.seen.values().next().value as string);
    for (const t of this.targets) if (wants(t.config, item)) t.offer(item);
  }

  stats(): Record<string, TargetStats> {
    return Object.fromEntries(this.targets.map((t) => [t.config.name, { ...t.stats, dropped: { ...t.stats.dropped } }]));
  }

  /** Each target delivers what it can within `withinMs`. */
  async close(withinMs: number): Promise<void> {
    await Promise.all(this.targets.map((t) => t.close(withinMs)));
  }
}
