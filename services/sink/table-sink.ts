// A sink: one consumer group reading one topic into one ClickHouse table.
//
// - Offsets are committed by the bus only after onBatch resolves, and onBatch
//   resolves only after ClickHouse acknowledged the insert: nothing is lost.
// - Every insert carries a deduplication token made of topic, partition and
//   offset range, so a batch delivered twice (a retry, a rebalance, a replay)
//   is stored once.
// - ClickHouse unavailable: onBatch throws, the bus redelivers the same batch
//   after a backoff, offsets stay where they are.
// - A record that cannot be decoded goes to the dead-letter topic with the
//   reason; it does not block its partition.
import { Counter, Histogram } from 'prom-client';
import type { RecordCodec } from '../../shared/avro/codec.js';
import type { Bus, BusMessage, IncomingBatch, OutgoingMessage, Subscription } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';

const log = componentLogger('sink');

const rowsInserted = new Counter({ name: 'logwarden_sink_rows_total', help: 'Rows acknowledged by ClickHouse', labelNames: ['table'], registers: [registry] });
const batches = new Counter({ name: 'logwarden_sink_batches_total', help: 'Insert batches acknowledged', labelNames: ['table'], registers: [registry] });
const skipped = new Counter({ name: 'logwarden_sink_skipped_total', help: 'Records not stored on purpose (sink disabled, e.g. capture off)', labelNames: ['table'], registers: [registry] });
const deadLetters = new Counter({ name: 'logwarden_sink_dead_letters_total', help: 'Records sent to the dead-letter topic', labelNames: ['table', 'reason'], registers: [registry] });
const insertSeconds = new Histogram({
  name: 'logwarden_sink_insert_seconds',
  help: 'ClickHouse insert latency',
  labelNames: ['table'],
  buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});

export interface TableSinkOptions<T> {
  bus: Bus;
  ch: ClickHouse;
  topic: string;
  deadLetterTopic: string;
  groupId: string;
  table: string;
  codec: RecordCodec<T & object>;
  toRow: (record: T) => object;
  /** Checked per batch: false acknowledges the batch without storing it (counted as skipped). */
  enabled?: () => boolean;
  maxBatchSize?: number;
}

export class TableSink<T> {
  private sub: Subscription | undefined;
  private readonly opts: TableSinkOptions<T>;

  constructor(opts: TableSinkOptions<T>) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    this.sub = await this.opts.bus.subscribe({
      groupId: this.opts.groupId,
      topics: [this.opts.topic],
      fromBeginning: true,
      maxBatchSize: this.opts.maxBatchSize ?? 10_000,
      onBatch: (batch) => this.handle(batch),
    });
  }

  /** The batch's deduplication token: the same messages always give the same token. */
  static dedupToken(batch: IncomingBatch): string {
    const first = batch.messages[0] as BusMessage;
    return `${batch.topic}:${batch.partition}:${first.offset}-${batch.nextOffset}`;
  }

  /** Stores one batch (what the bus hands over); public so a redelivery can be reproduced exactly. */
  async handle(batch: IncomingBatch): Promise<void> {
    const { table } = this.opts;
    if (batch.messages.length === 0) return;
    if (this.opts.enabled && !this.opts.enabled()) {
      skipped.inc({ table }, batch.messages.length);
      return;
    }
    const rows: object[] = [];
    const dead: OutgoingMessage[] = [];
    for (const m of batch.messages) {
      try {
        rows.push(this.opts.toRow(this.opts.codec.decode(m.value)));
      } catch (err) {
        const reason = (err as { code?: string }).code ?? 'decode_failed';
        deadLetters.inc({ table, reason });
        dead.push({
          key: m.key,
          value: m.value,
          headers: { reason, detail: String((err as Error).message).slice(0, 200), topic: m.topic, partition: String(m.partition), offset: m.offset },
        });
      }
    }
    if (dead.length > 0) {
      log.warn({ table, count: dead.length, topic: batch.topic, partition: batch.partition }, 'undecodable records sent to the dead-letter topic');
      await this.opts.bus.publish(this.opts.deadLetterTopic, dead);
    }
    if (rows.length === 0) return;
    const end = insertSeconds.startTimer({ table });
    // Throws when ClickHouse is unavailable: the bus keeps the offsets and redelivers.
    await this.opts.ch.insert(table, rows, { dedupToken: TableSink.dedupToken(batch) });
    end();
    rowsInserted.inc({ table }, rows.length);
    batches.inc({ table });
  }

  async close(): Promise<void> {
    await this.sub?.close();
  }
}
