// One webhook target: its bounded queue of items, aggregation, rate limit and
// delivery with retries.
//
//   offer(item) ──▶ pending (at most queue_max items; beyond, dropped and counted)
//                      │  one sender at a time (p-queue, concurrency 1):
//                      ▼  wait until the first pending item is aggregate_window old
//                         (or max_items are pending), take a rate-limit token,
//                         take up to max_items ──▶ one message ──▶ POST, signed
//                      retry on 5xx/408/429/no answer: exponential backoff with
//                      jitter (retry_initial doubling up to retry_max, each wait
//                      drawn from its upper half), every attempt takes a token
//
// While a message is being delivered or retried, new items wait in pending and
// leave together in the next message: a slow receiver gets fewer, larger
// messages, never more traffic. offer() never waits and never throws, so
// nothing upstream (the bus consumer, detection) is ever held by a receiver.
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { Counter, Gauge } from 'prom-client';
import type { NotificationTarget } from '../../shared/config/types.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import { retryAfterMs, retryWaitMs } from './backoff.js';
import { answerCode, type NotifyErrorCode } from './errors.js';
import { renderMessage, type NotificationItem } from './payload.js';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signature } from './signature.js';

const log = componentLogger('notifier');

const itemsQueued = new Counter({ name: 'logwarden_notify_items_total', help: 'Items queued for a target, by kind', labelNames: ['target', 'kind'], registers: [registry] });
const delivered = new Counter({ name: 'logwarden_notify_delivered_total', help: 'Messages a target acknowledged (2xx)', labelNames: ['target'], registers: [registry] });
const retried = new Counter({ name: 'logwarden_notify_retries_total', help: 'Delivery attempts after a failed one', labelNames: ['target'], registers: [registry] });
const failures = new Counter({ name: 'logwarden_notify_failures_total', help: 'Failed delivery attempts, by code (LW_NOTIFY_*)', labelNames: ['target', 'code'], registers: [registry] });
const dropped = new Counter({
  name: 'logwarden_notify_dropped_total',
  help: 'Items never delivered: queue_full (bound reached), failed (retries exhausted or refused), shutdown (left at stop)',
  labelNames: ['target', 'reason'],
  registers: [registry],
});
const rateLimited = new Counter({ name: 'logwarden_notify_rate_limited_total', help: 'Times a target\'s rate limit held a message back', labelNames: ['target'], registers: [registry] });
const queued = new Gauge({ name: 'logwarden_notify_queue_items', help: 'Items waiting for a target', labelNames: ['target'], registers: [registry] });

export interface TargetStats {
  /** Messages acknowledged, and the items they carried. */
  delivered: number;
  deliveredItems: number;
  retries: number;
  failedAttempts: number;
  dropped: { queue_full: number; failed: number; shutdown: number };
  rateLimited: number;
  pending: number;
}

export class Target {
  private readonly pending: Array<{ item: NotificationItem; at: number }> = [];
  private readonly sender = new PQueue({ concurrency: 1 });
  /** Aborts every wait (window, rate limit, backoff) at stop. */
  private readonly stopping = new AbortController();
  private tokens: number;
  /** Set at stop: what is pending leaves at once, without waiting out the window. */
  private draining = false;
  private refilledAt = Date.now();
  readonly stats: TargetStats = { delivered: 0, deliveredItems: 0, retries: 0, failedAttempts: 0, dropped: { queue_full: 0, failed: 0, shutdown: 0 }, rateLimited: 0, pending: 0 };

  /** Bound label sets: offer() runs per record read, and a label lookup per call costs more than the rest of it. */
  private readonly queuedGauge: ReturnType<typeof queued.labels>;
  private readonly queuedByKind = new Map<string, ReturnType<typeof itemsQueued.labels>>();

  constructor(readonly config: NotificationTarget) {
    this.tokens = config.rate_limit_count;
    this.queuedGauge = queued.labels({ target: config.name });
    this.queuedGauge.set(0);
  }

  /** Queues an item; false when the queue is full (the item is dropped and counted). */
  offer(item: NotificationItem): boolean {
    if (this.stopping.signal.aborted || this.pending.length >= this.config.queue_max) {
      this.drop(this.stopping.signal.aborted ? 'shutdown' : 'queue_full', 1);
      return false;
    }
    this.pending.push({ item, at: Date.now() });
    let byKind = this.queuedByKind.get(item.kind);
    if (!byKind) this.queuedByKind.set(item.kind, (byKind = itemsQueued.labels({ target: this.config.name, kind: item.kind })));
    byKind.inc();
    this.setPending();
    if (this.sender.size + this.sender.pending === 0) void this.sender.add(() => this.sendNext());
    return true;
  }

  private setPending(): void {
    this.stats.pending = this.pending.length;
    this.queuedGauge.set(this.pending.length);
  }

  private drop(reason: keyof TargetStats['dropped'], n: number): void {
    this.stats.dropped[reason] += n;
    dropped.inc({ target: this.config.name, reason }, n);
  }

  /** One message, then the next while items wait. Runs inside the sender queue. */
  private async sendNext(): Promise<void> {
    const first = this.pending[0];
    if (!first) return;
    let items: NotificationItem[] = [];
    try {
      const wait = first.at + this.config.aggregate_window_ms - Date.now();
      if (wait > 0 && this.pending.length < this.config.max_items) await this.sleepUntilFull(wait);
      items = this.pending.splice(0, this.config.max_items).map((p) => p.item);
      this.setPending();
      await this.deliver(items);
    } catch (err) {
      // Only a stop interrupts a delivery (every other failure is an outcome): its items are given up.
      this.drop('shutdown', items.length);
      if (!this.stopping.signal.aborted) log.error({ err, target: this.config.name }, 'notification sender failed');
    }
    if (this.pending.length > 0 && !this.stopping.signal.aborted) void this.sender.add(() => this.sendNext());
  }

  /** The aggregation window, cut short when max_items are pending. */
  private async sleepUntilFull(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.draining && Date.now() < until && this.pending.length < this.config.max_items) {
      await sleep(Math.min(until - Date.now(), 50), undefined, { signal: this.stopping.signal });
    }
  }

  /** Waits for a token of the rate limit (count per interval, refilled continuously). */
  private async takeToken(): Promise<void> {
    const { rate_limit_count: count, rate_limit_interval_ms: interval } = this.config;
    for (let held = false; ; held = true) {
      const now = Date.now();
      this.tokens = Math.min(count, this.tokens + ((now - this.refilledAt) * count) / interval);
      this.refilledAt = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      if (!held) {
        this.stats.rateLimited++;
        rateLimited.inc({ target: this.config.name });
      }
      await sleep(Math.ceil(((1 - this.tokens) * interval) / count), undefined, { signal: this.stopping.signal });
    }
  }

  private async deliver(items: NotificationItem[]): Promise<void> {
    const name = this.config.name;
    const message = renderMessage(this.config, items, Date.now());
    let retryAfterMs = 0;
    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      if (attempt > 0) {
        this.stats.retries++;
        retried.inc({ target: name });
        await sleep(retryWaitMs(attempt, this.config.retry_initial_ms, this.config.retry_max_ms, retryAfterMs), undefined, { signal: this.stopping.signal });
      }
      await this.takeToken();
      const outcome = await this.post(message.id, message.body);
      if (outcome.code === undefined) {
        this.stats.delivered++;
        this.stats.deliveredItems += items.length;
        delivered.inc({ target: name });
        return;
      }
      this.stats.failedAttempts++;
      failures.inc({ target: name, code: outcome.code });
      log.warn({ target: name, delivery: message.id, attempt, code: outcome.code, detail: outcome.detail }, 'notification not delivered');
      if (outcome.code === 'LW_NOTIFY_REFUSED') break;
      retryAfterMs = outcome.retryAfterMs;
    }
    this.drop('failed', items.length);
  }

  private async post(id: string, body: string): Promise<{ code: NotifyErrorCode | undefined; detail: string; retryAfterMs: number }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'logwarden-notifier', [DELIVERY_HEADER]: id };
    if (this.config.secret !== '') headers[SIGNATURE_HEADER] = signature(this.config.secret, body, Math.floor(Date.now() / 1000));
    try {
      const res = await fetch(this.config.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'error',
        signal: AbortSignal.any([AbortSignal.timeout(this.config.timeout_ms), this.stopping.signal]),
      });
      await res.arrayBuffer();
      return { code: answerCode(res.status), detail: `HTTP ${res.status}`, retryAfterMs: retryAfterMs(res.headers) };
    } catch (err) {
      if (this.stopping.signal.aborted) throw err;
      return { code: 'LW_NOTIFY_UNAVAILABLE', detail: String((err as Error).cause ?? err), retryAfterMs: 0 };
    }
  }

  /** Delivers what it can within `withinMs`, then gives up the rest (counted as shutdown drops). */
  async close(withinMs: number): Promise<void> {
    this.draining = true;
    const idle = this.sender.onIdle();
    const timer = AbortSignal.timeout(Math.max(0, withinMs));
    await Promise.race([idle, new Promise((resolve) => timer.addEventListener('abort', resolve, { once: true }))]);
    this.stopping.abort();
    this.sender.clear();
    await idle;
    this.drop('shutdown', this.pending.length);
    this.pending.length = 0;
    this.setPending();
  }
}
