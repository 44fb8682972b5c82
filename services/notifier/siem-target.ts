// One SIEM target: its bounded queue of framed ECS records, batching, and
// delivery with retries (siem-transport.ts sends).
//
//   offer(frame) ──▶ pending (at most queue_max bytes, counting the batch in
//                     flight; beyond, dropped and counted: queue_full)
//                      │  one sender: waits until batch_size records are pending
//                      ▼  or the oldest is flush_interval old, takes batch_size
//                         ──▶ one POST / one write ──▶ acknowledged: settled
//                      unavailable: retried, waiting retry_initial doubling up to
//                      retry_max (each wait drawn from its upper half); a TCP
//                      target reconnects for every retry; refused (HTTP 4xx):
//                      dropped and counted at once (failed)
//
// give_up_after is a circuit breaker on the outage, not on one batch: once the
// target has taken nothing for that long, a batch gets one attempt and is then
// dropped and counted (failed), so the consumer keeps pace with the bus and its
// backlog stops growing; the first success closes it again.
//
// offer() never throws: it answers, once the record is settled, `sent`,
// `dropped` (counted under a reason) or `shutdown` (left at stop, not
// counted as lost: the consumer does not commit it, the bus delivers it again
// at the next start). siem.ts commits a bus batch only when each of its
// records is sent or dropped.
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge } from 'prom-client';
import type { SiemTarget as SiemTargetConfig } from '../../shared/config/types.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import { retryWaitMs } from './backoff.js';
import { transportFor, type Transport } from './siem-transport.js';

const log = componentLogger('notifier.siem');

const queuedTotal = new Counter({ name: 'logwarden_notify_siem_records_total', help: 'ECS records queued for a SIEM target, by kind (event, block)', labelNames: ['target', 'kind'], registers: [registry] });
const sentTotal = new Counter({ name: 'logwarden_notify_siem_sent_total', help: 'ECS records a SIEM target acknowledged (HTTP 2xx; TCP: written)', labelNames: ['target'], registers: [registry] });
const batchesTotal = new Counter({ name: 'logwarden_notify_siem_batches_total', help: 'Batches a SIEM target acknowledged', labelNames: ['target'], registers: [registry] });
const retriesTotal = new Counter({ name: 'logwarden_notify_siem_retries_total', help: 'Batch delivery attempts after a failed one', labelNames: ['target'], registers: [registry] });
const failuresTotal = new Counter({ name: 'logwarden_notify_siem_failures_total', help: 'Failed batch delivery attempts, by code (LW_NOTIFY_SIEM_*)', labelNames: ['target', 'code'], registers: [registry] });
const droppedTotal = new Counter({
  name: 'logwarden_notify_siem_dropped_total',
  help: 'ECS records never delivered: queue_full (queue_max reached), failed (refused, or unavailable for give_up_after), undecodable (no codec reads the record), shutdown (left at stop; the bus delivers them again)',
  labelNames: ['target', 'reason'],
  registers: [registry],
});
const queueBytes = new Gauge({ name: 'logwarden_notify_siem_queue_bytes', help: 'Bytes of ECS records queued or in flight for a SIEM target', labelNames: ['target'], registers: [registry] });
const connectedGauge = new Gauge({ name: 'logwarden_notify_siem_connected', help: 'Whether a TCP SIEM target has a connection open (1) or not (0); HTTP targets are 1', labelNames: ['target'], registers: [registry] });

export type SiemOutcome = 'sent' | 'dropped' | 'shutdown';
export type SiemDropReason = 'queue_full' | 'failed' | 'undecodable' | 'shutdown';

export interface SiemTargetStats {
  /** Records and batches acknowledged. */
  sent: number;
  batches: number;
  retries: number;
  failedAttempts: number;
  dropped: Record<SiemDropReason, number>;
  queuedBytes: number;
}

interface Pending {
  frame: Buffer;
  at: number;
  settle(outcome: SiemOutcome): void;
}

export class SiemTarget {
  private readonly pending: Pending[] = [];
  private readonly transport: Transport;
  private readonly stopping = new AbortController();
  private wake: (() => void) | undefined;
  private draining = false;
  /** When the target's current outage began (its first failed attempt since a success); undefined while it takes batches. */
  private downSince: number | undefined;
  private readonly loop: Promise<void>;
  readonly stats: SiemTargetStats = { sent: 0, batches: 0, retries: 0, failedAttempts: 0, dropped: { queue_full: 0, failed: 0, undecodable: 0, shutdown: 0 }, queuedBytes: 0 };
  private readonly gauge: ReturnType<typeof queueBytes.labels>;

  constructor(readonly config: SiemTargetConfig, transport?: Transport) {
    this.transport = transport ?? transportFor(config);
    this.gauge = queueBytes.labels({ target: config.name });
    this.gauge.set(0);
    connectedGauge.set({ target: config.name }, config.transport === 'http' ? 1 : 0);
    this.loop = this.run();
  }

  /** Queues one framed record; resolves once it is sent, dropped (counted) or left at stop. Never throws. */
  offer(frame: Buffer, kind: 'event' | 'block'): Promise<SiemOutcome> {
    if (this.stopping.signal.aborted) return Promise.resolve('shutdown');
    if (this.stats.queuedBytes + frame.length > this.config.queue_max_bytes) {
      this.drop('queue_full', 1);
      return Promise.resolve('dropped');
    }
    queuedTotal.inc({ target: this.config.name, kind });
    this.setQueued(frame.length);
    return new Promise((resolve) => {
      this.pending.push({ frame, at: Date.now(), settle: resolve });
      if (this.pending.length >= this.config.batch_size || this.pending.length === 1) this.notify();
    });
  }

  /** Whether a connection to the target is open now (HTTP: always). */
  connected(): boolean {
    return this.transport.connected();
  }

  drop(reason: SiemDropReason, n: number): void {
    this.stats.dropped[reason] += n;
    droppedTotal.inc({ target: this.config.name, reason }, n);
  }

  private setQueued(delta: number): void {
    this.stats.queuedBytes += delta;
    this.gauge.set(this.stats.queuedBytes);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.notify(), ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The sender: one batch at a time, until stopped. */
  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const first = this.pending[0];
      if (!first) {
        await this.idle(60_000);
        continue;
      }
      const wait = first.at + this.config.flush_interval_ms - Date.now();
      if (wait > 0 && this.pending.length < this.config.batch_size && !this.draining) {
        await this.idle(wait);
        continue;
      }
      const batch = this.pending.splice(0, this.config.batch_size);
      let outcome: SiemOutcome = 'shutdown';
      try {
        outcome = await this.deliver(batch);
      } catch (err) {
        // Only a stop interrupts a delivery: its records are left for the bus to deliver again.
        if (!this.stopping.signal.aborted) log.error({ err, target: this.config.name }, 'SIEM sender failed');
      }
      if (outcome === 'shutdown') this.drop('shutdown', batch.length);
      this.setQueued(-batch.reduce((n, p) => n + p.frame.length, 0));
      for (const p of batch) p.settle(outcome);
    }
  }

  private async deliver(batch: Pending[]): Promise<SiemOutcome> {
    const name = this.config.name;
    const payload = batch.length === 1 ? (batch[0] as Pending).frame : Buffer.concat(batch.map((p) => p.frame));
    let retryAfterMs = 0;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        this.stats.retries++;
        retriesTotal.inc({ target: name });
        await sleep(retryWaitMs(attempt, this.config.retry_initial_ms, this.config.retry_max_ms, retryAfterMs), undefined, { signal: this.stopping.signal });
      }
      const outcome = await this.transport.send(payload, this.stopping.signal);
      connectedGauge.set({ target: name }, this.transport.connected() ? 1 : 0);
      if (outcome.code === undefined) {
        this.downSince = undefined;
        this.stats.sent += batch.length;
        this.stats.batches++;
        sentTotal.inc({ target: name }, batch.length);
        batchesTotal.inc({ target: name });
        return 'sent';
      }
      this.stats.failedAttempts++;
      failuresTotal.inc({ target: name, code: outcome.code });
      if (attempt === 0 || attempt % 10 === 0) log.warn({ target: name, attempt, code: outcome.code, detail: outcome.detail, records: batch.length }, 'SIEM batch not delivered');
      this.downSince ??= Date.now();
      const givingUp = this.config.give_up_after_ms > 0 && Date.now() - this.downSince >= this.config.give_up_after_ms;
      if (outcome.code === 'LW_NOTIFY_SIEM_REFUSED' || givingUp) {
        log.error({ target: name, code: outcome.code, records: batch.length }, 'SIEM batch dropped');
        this.drop('failed', batch.length);
        return 'dropped';
      }
      retryAfterMs = outcome.retryAfterMs;
    }
  }

  /** Delivers what it can within `withinMs`; what is left settles as `shutdown` (the bus delivers it again). */
  async close(withinMs: number): Promise<void> {
    this.draining = true;
    this.notify();
    const deadline = Date.now() + Math.max(0, withinMs);
    while (this.stats.queuedBytes > 0 && Date.now() < deadline) await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    this.stopping.abort();
    this.notify();
    await this.loop;
    const left = this.pending.splice(0);
    if (left.length > 0) this.drop('shutdown', left.length);
    this.setQueued(-left.reduce((n, p) => n + p.frame.length, 0));
    for (const p of left) p.settle('shutdown');
    this.transport.close();
  }
}
