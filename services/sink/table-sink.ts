// A sink: one consumer group reading one topic into one ClickHouse table.
//
// - Offsets are committed by the bus only after onBatch resolves, and onBatch
//   resolves only after ClickHouse acknowledged every insert of the batch:
//   nothing is lost.
// - ClickHouse unavailable (shared/clickhouse/errors.ts decides what that
//   is): onBatch throws, the bus redelivers from the same offset after a
//   backoff, offsets stay where they are. So does a statement no row can pass
//   (unknown table or column): the deployment is wrong, not the data, and
//   diverting every record would hide it.
// - A record that cannot be decoded, or a row ClickHouse refuses for its
//   values, goes to the dead-letter topic with the reason; it does not block
//   its partition (see "Refused rows" below).
//
// No doubled rows, however the records are batched on redelivery
// ---------------------------------------------------------------
// Every insert carries a deduplication token naming exactly the offsets it
// holds (`topic:partition:first-end`); ClickHouse keeps the first insert of a
// token and drops the others. That only helps if a redelivered record lands
// in an insert with the same token as the first time, i.e. if the offsets are
// cut into inserts at the same places on every delivery. Batches do not give
// that: the bus may hand over [100,150) once and [100,230) after a restart
// (Kafka fetch sizes vary), and [100,150) ≠ [100,230) would store 100..149
// twice. So:
//
// 1. Inserts are cut at fixed block boundaries, every multiple of
//    `blockSize`: a redelivered range re-forms the blocks between two
//    boundaries identically.
// 2. The bus commits a batch when onBatch resolves, so a batch's tail cannot
//    wait in memory for the rest of its block: it is inserted now, as a
//    partial block ending at the batch end. Each batch therefore first writes
//    a row to `sink_splits` (migration 000008), BEFORE its inserts:
//    - split_end = the batch end, a cut every later delivery makes too. A
//      redelivery starts where the last commit left off, i.e. at an earlier
//      batch end: from there it knows every cut made before and re-forms the
//      inserts of the delivery that died, token for token. (Row first, then
//      insert: a crash in between leaves a cut with no insert, which costs
//      nothing; the other order could leave an insert whose cut nobody knows.)
//    - stored_below = the batch start: batches of a partition are stored in
//      order, so everything below was acknowledged. A replay from further back
//      (offsets reset by an operator, a new consumer group) skips those records
//      instead of re-inserting them with cuts that may differ. A history
//      that is ahead of the partition's log end (the topic was recreated, or
//      embedded offsets restarted under a clock set back) is ignored, so new
//      records are never mistaken for stored ones.
//
// What is left: a redelivery of the one batch that was in flight when a sink
// died, cut shorter than the first time (it ends inside the dead sink's last
// insert). Neither bus does that (a refetch from the same offset returns at
// least as much), and it doubles at most that one insert. Tokens are kept for
// the tables' deduplication window (non_replicated_deduplication_window,
// 10000 inserts), sink_splits rows for 7 days.
//
// `blockSize` is part of the insert history: keep it fixed (default: the batch
// size, so a consumer that is behind gets whole, aligned batches).
//
// Refused rows
// ------------
// ClickHouse refuses a whole insert for one row whose value does not fit its
// column (an address that is not one, a failed CHECK): nothing of the block
// is stored. The sink then cuts the block in two at a row's offset, records
// that cut in `sink_splits` (row first, as above), and inserts each half
// under its own token, recursively; a part of at most ROW_BY_ROW rows is cut
// at every row at once. A single refused row goes to the dead-letter topic
// with the reason (counted by logwarden_sink_dead_letters_total). Since the
// cuts are recorded, a redelivery forms those parts directly, token for token:
// what was stored is not stored again, even if the refusal were not to recur.
// The cost is bounded: at most 2n-1 inserts for a block of n rows, all bad;
// a redelivered refused row is dead-lettered again (at least once).
import { Counter, Histogram } from 'prom-client';
import type { RecordCodec } from '../../shared/avro/codec.js';
import type { Bus, BusMessage, IncomingBatch, OutgoingMessage, Subscription } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import { rowRefusalReason } from '../../shared/clickhouse/errors.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';

const log = componentLogger('sink');

const rowsInserted = new Counter({ name: 'logwarden_sink_rows_total', help: 'Rows acknowledged by ClickHouse', labelNames: ['table'], registers: [registry] });
const batches = new Counter({ name: 'logwarden_sink_batches_total', help: 'Insert batches acknowledged', labelNames: ['table'], registers: [registry] });
const skipped = new Counter({ name: 'logwarden_sink_skipped_total', help: 'Records not stored on purpose (sink disabled, e.g. capture off)', labelNames: ['table'], registers: [registry] });
const deadLetters = new Counter({ name: 'logwarden_sink_dead_letters_total', help: 'Records sent to the dead-letter topic', labelNames: ['table', 'reason'], registers: [registry] });
const splitsWritten = new Counter({ name: 'logwarden_sink_splits_total', help: 'Batches recorded in sink_splits (cut and stored watermark)', labelNames: ['table'], registers: [registry] });
const duplicates = new Counter({ name: 'logwarden_sink_duplicates_total', help: 'Records dropped because a record with the same identity was stored (uniqueKey)', labelNames: ['table'], registers: [registry] });
const replayed = new Counter({ name: 'logwarden_sink_replayed_total', help: 'Redelivered records skipped because they are known stored', labelNames: ['table'], registers: [registry] });
const insertSeconds = new Histogram({
  name: 'logwarden_sink_insert_seconds',
  help: 'ClickHouse insert latency',
  labelNames: ['table'],
  buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});

export const SPLITS_TABLE = 'sink_splits';
/**
 * An insert costs about the same whatever its size (the parts of the table and of
 * its views are files): a sink that is behind catches up only if its batches grow.
 * kafkajs fetches 1 MiB of a partition (about 3,000 access records); this lets a
 * batch reach sink_batch_rows of them.
 */
const FETCH_BYTES_PER_PARTITION = 16 * 1_048_576;
/** A refused part of at most this many rows is cut at every row (see "Refused rows"). */
const ROW_BY_ROW = 8;

export interface TableSinkOptions<T> {
  bus: Bus;
  ch: ClickHouse;
  topic: string;
  deadLetterTopic: string;
  groupId: string;
  table: string;
  codec: RecordCodec<T & object>;
  toRow: (record: T) => object;
  /**
   * Let the broker gather up to this long (or until an insert's worth, 1 MiB, is there)
   * before handing records over: while they trickle in, each insert, which costs about
   * the same whatever its size, stores more of them. Default 0: at once (a sink
   * someone waits on, such as control_blocks for the API).
   */
  lingerMs?: number;
  /** Checked per batch: false acknowledges the batch without storing it (counted as skipped). */
  enabled?: () => boolean;
  maxBatchSize?: number;
  /** Inserts never straddle a multiple of this offset (see the header); keep it fixed. Default: maxBatchSize. */
  blockSize?: number;
  /**
   * A record's identity, for records that may reach the topic twice at different
   * offsets (a producer's retry around a broker restart writes a message again;
   * tokens, made of offsets, cannot see that). A record whose key was stored
   * recently is dropped, counted as `duplicate`. Best effort: the memory is this
   * process's, bounded by `uniqueMemory` keys.
   */
  uniqueKey?: (record: T) => string;
  /** How many stored keys are remembered for uniqueKey (default 200000). */
  uniqueMemory?: number;
  /**
   * ClickHouse's collapse of each inserted block by sorting key (see
   * InsertOptions.optimizeOnInsert). Default false: the tables sinks write
   * gain nothing from it. requests, events and blocks are plain MergeTree,
   * and their views group by their targets' whole sorting key, so the pass
   * finds nothing to collapse; control_blocks is read with FINAL.
   */
  optimizeOnInsert?: boolean;
}

/** One insert: the rows of offsets [start, end) of a partition. */
export interface InsertBlock {
  /** Offset of the block's first message. */
  first: bigint;
  /** The cut that ends it (exclusive). */
  end: bigint;
  messages: BusMessage[];
}

/**
 * Cut a batch into insert blocks at multiples of `blockSize`, at the known
 * cuts, and at the batch end. Pure: the same messages and cuts give the same
 * blocks, whatever batch they came in.
 */
export function cutBatch(batch: IncomingBatch, blockSize: bigint, knownCuts: readonly bigint[]): InsertBlock[] {
  const end = BigInt(batch.nextOffset);
  const blocks: InsertBlock[] = [];
  let cur: BusMessage[] = [];
  let cutIdx = 0;
  let nextCut = 0n;
  const advance = (offset: bigint): void => {
    // The first cut strictly above `offset`: the next boundary or a known cut, whichever comes first.
    while (cutIdx < knownCuts.length && (knownCuts[cutIdx] as bigint) <= offset) cutIdx++;
    const boundary = (offset / blockSize + 1n) * blockSize;
    const known = knownCuts[cutIdx];
    nextCut = known !== undefined && known < boundary ? known : boundary;
  };
  for (const m of batch.messages) {
    const off = BigInt(m.offset);
    if (cur.length === 0) advance(off);
    else if (off >= nextCut) {
      blocks.push({ first: BigInt((cur[0] as BusMessage).offset), end: nextCut, messages: cur });
      cur = [];
      advance(off);
    }
    cur.push(m);
  }
  if (cur.length > 0) blocks.push({ first: BigInt((cur[0] as BusMessage).offset), end: nextCut < end ? nextCut : end, messages: cur });
  return blocks;
}

/** A message of an insert block that gives a row. */
interface Entry {
  message: BusMessage;
  row: object;
  /** Its uniqueKey, when the sink has one. */
  key: string | undefined;
}

/** A row ClickHouse refused: dead-lettered once the batch's inserts are done. */
interface Refusal {
  entry: Entry;
  reason: string;
  detail: string;
}

interface PartitionHistory {
  /** Offset the cuts below were loaded from. */
  from: bigint;
  /** Every offset below this is stored. */
  storedBelow: bigint;
  /** Recorded cuts above `from`, ascending. */
  cuts: bigint[];
}

export class TableSink<T> {
  private sub: Subscription | undefined;
  private readonly opts: TableSinkOptions<T>;
  /** The table this sink writes: how logs and the runtime name it. */
  get table(): string {
    return this.opts.table;
  }
  /** Keys (uniqueKey) of records stored by this sink, oldest first. */
  private readonly stored = new Set<string>();
  private readonly blockSize: bigint;
  /** Per topic/partition, from sink_splits; dropped on every reassignment. */
  private readonly history = new Map<string, PartitionHistory>();

  constructor(opts: TableSinkOptions<T>) {
    this.opts = opts;
    const size = opts.blockSize ?? opts.maxBatchSize ?? 10_000;
    if (!Number.isSafeInteger(size) || size < 1) throw new Error(`blockSize must be a positive integer, got ${size}`); // a caller bug: the config schema bounds sink_batch_rows
    this.blockSize = BigInt(size);
  }

  async start(): Promise<void> {
    this.sub = await this.opts.bus.subscribe({
      groupId: this.opts.groupId,
      topics: [this.opts.topic],
      fromBeginning: true,
      maxBatchSize: this.opts.maxBatchSize ?? 10_000,
      fetchBytesPerPartition: FETCH_BYTES_PER_PARTITION,
      ...(this.opts.lingerMs ? { accumulate: { bytes: 1_048_576, waitMs: this.opts.lingerMs } } : {}),
      // Another member may have written history while it owned a partition.
      onAssign: () => this.history.clear(),
      onBatch: (batch) => this.handle(batch),
    });
  }

  /** The token of one insert block: exactly the offsets it covers. */
  static dedupToken(topic: string, partition: number, block: Pick<InsertBlock, 'first' | 'end'>): string {
    return `${topic}:${partition}:${block.first}-${block.end}`;
  }

  private async historyOf(topic: string, partition: number, from: bigint): Promise<PartitionHistory> {
    const key = `${topic}\u0000${partition}`;
    const cached = this.history.get(key);
    if (cached && cached.from <= from) {
      // Within one assignment offsets only move forward: cuts at or below `from` cannot matter again.
      while (cached.cuts.length > 0 && (cached.cuts[0] as bigint) <= from) cached.cuts.shift();
      return cached;
    }
    const { ch, table } = this.opts;
    const [row] = await ch.query<{ stored_below: string; cuts: string[] }>(
      `SELECT toString(max(s.stored_below)) AS stored_below,
              arrayMap(x -> toString(x), arraySort(groupUniqArrayIf(s.split_end, s.split_end > {from:UInt64}))) AS cuts
       FROM ${ch.table(SPLITS_TABLE)} AS s
       WHERE s.tbl = {tbl:String} AND s.topic = {topic:String} AND s.partition = {partition:UInt32}`,
      { tbl: table, topic, partition, from: from.toString() },
    );
    let entry: PartitionHistory = { from, storedBelow: BigInt(row?.stored_below ?? '0'), cuts: (row?.cuts ?? []).map((c) => BigInt(c)) };
    // History beyond the log's end belongs to an earlier life of the partition
    // (topic recreated, embedded offsets restarted under a clock set back):
    // trusting it would skip new records as "stored". Start afresh instead.
    const logEnd = BigInt((await this.opts.bus.endOffsets(topic)).find((o) => o.partition === partition)?.offset ?? '0');
    if (entry.storedBelow > logEnd) {
      log.warn({ table, topic, partition, stored_below: entry.storedBelow.toString(), log_end: logEnd.toString() }, 'sink history is ahead of the log (partition reset?); ignoring it');
      entry = { from, storedBelow: 0n, cuts: [] };
    }
    this.history.set(key, entry);
    return entry;
  }

  private async record(topic: string, partition: number, ends: readonly bigint[], storedBelow: bigint, h: PartitionHistory): Promise<void> {
    const { ch, table } = this.opts;
    const rows = ends.map((end) => ({ tbl: table, topic, partition, split_end: end.toString(), stored_below: storedBelow.toString() }));
    await ch.insert(SPLITS_TABLE, rows, { dedupToken: `split:${table}:${topic}:${partition}:${storedBelow}-${ends.join(',')}` });
    splitsWritten.inc({ table });
    if (storedBelow > h.storedBelow) h.storedBelow = storedBelow;
    for (const end of ends) {
      if (h.cuts.includes(end)) continue;
      let i = h.cuts.length;
      while (i > 0 && (h.cuts[i - 1] as bigint) > end) i--;
      h.cuts.splice(i, 0, end);
    }
  }

  /** Stores one batch (what the bus hands over); public so a redelivery can be reproduced exactly. */
  async handle(batch: IncomingBatch): Promise<void> {
    const { table } = this.opts;
    const first = batch.messages[0];
    if (!first) return;
    if (this.opts.enabled && !this.opts.enabled()) {
      skipped.inc({ table }, batch.messages.length);
      return;
    }
    const h = await this.historyOf(batch.topic, batch.partition, BigInt(first.offset));
    // A replay of what is known stored: skipped, not re-inserted.
    let todo = batch;
    if (BigInt(first.offset) < h.storedBelow) {
      const messages = batch.messages.filter((m) => BigInt(m.offset) >= h.storedBelow);
      replayed.inc({ table }, batch.messages.length - messages.length);
      if (messages.length === 0) return;
      todo = { ...batch, messages };
    }
    const blocks = cutBatch(todo, this.blockSize, h.cuts);

    const entriesOf: Entry[][] = [];
    const dead: OutgoingMessage[] = [];
    const uniqueKey = this.opts.uniqueKey;
    // Keys of this batch become "stored" only once its inserts are acknowledged: a retried
    // batch must not drop its own records as duplicates.
    const batchKeys = new Set<string>();
    for (const block of blocks) {
      const entries: Entry[] = [];
      for (const m of block.messages) {
        try {
          const record = this.opts.codec.decode(m.value);
          let key: string | undefined;
          if (uniqueKey) {
            key = uniqueKey(record);
            if (this.stored.has(key) || batchKeys.has(key)) {
              duplicates.inc({ table });
              continue;
            }
            batchKeys.add(key);
          }
          // One shape for every entry (no spread of an optional key): a literal V8 builds from its boilerplate.
          entries.push({ message: m, row: this.opts.toRow(record), key });
        } catch (err) {
          const reason = (err as { reason?: string }).reason ?? 'decode_failed'; // CodecError's reason: bad_magic, invalid_record, ...
          deadLetters.inc({ table, reason });
          dead.push(this.deadLetter(m, reason, String((err as Error).message)));
        }
      }
      entriesOf.push(entries);
    }
    if (dead.length > 0) {
      log.warn({ table, count: dead.length, topic: batch.topic, partition: batch.partition }, 'undecodable records sent to the dead-letter topic');
      await this.opts.bus.publish(this.opts.deadLetterTopic, dead);
    }
    if (!entriesOf.some((e) => e.length > 0)) return;

    const last = blocks[blocks.length - 1] as InsertBlock;
    const start = BigInt((todo.messages[0] as BusMessage).offset);
    await this.record(batch.topic, batch.partition, [last.end], start, h);
    const refused: Refusal[] = [];
    for (let i = 0; i < blocks.length; i++) {
      const entries = entriesOf[i] as Entry[];
      const block = blocks[i] as InsertBlock;
      if (entries.length > 0) await this.store(batch, block.first, block.end, entries, { start, h, refused });
    }
    if (refused.length > 0) {
      log.warn({ table, count: refused.length, topic: batch.topic, partition: batch.partition }, 'rows refused by ClickHouse sent to the dead-letter topic');
      // Before onBatch resolves: the offsets are committed once the stored rows and the refused ones are both done.
      await this.opts.bus.publish(this.opts.deadLetterTopic, refused.map((r) => this.deadLetter(r.entry.message, r.reason, r.detail)));
      for (const r of refused) {
        deadLetters.inc({ table, reason: r.reason });
        if (r.entry.key !== undefined) batchKeys.delete(r.entry.key);
      }
    }
    this.remember(batchKeys);
  }

  /**
   * Inserts the rows of offsets [first, end) under their token; rows
   * ClickHouse refuses for their values are isolated into `ctx.refused` (see
   * "Refused rows" in the header). Throws on anything else: the bus redelivers.
   */
  private async store(
    tp: { topic: string; partition: number },
    first: bigint,
    end: bigint,
    entries: Entry[],
    ctx: { start: bigint; h: PartitionHistory; refused: Refusal[] },
  ): Promise<void> {
    const { ch, table } = this.opts;
    const timer = insertSeconds.startTimer({ table });
    try {
      await ch.insert(
        table,
        entries.map((e) => e.row),
        { dedupToken: TableSink.dedupToken(tp.topic, tp.partition, { first, end }), optimizeOnInsert: this.opts.optimizeOnInsert ?? false },
      );
    } catch (err) {
      const reason = rowRefusalReason(err);
      if (reason === undefined) throw err;
      if (entries.length === 1) {
        ctx.refused.push({ entry: entries[0] as Entry, reason, detail: String((err as Error).message) });
        return;
      }
      const at = entries.length <= ROW_BY_ROW ? entries.slice(1) : [entries[entries.length >> 1] as Entry];
      const cuts = at.map((e) => BigInt(e.message.offset));
      await this.record(tp.topic, tp.partition, cuts, ctx.start, ctx.h);
      const bounds = [first, ...cuts, end];
      for (let k = 0; k + 1 < bounds.length; k++) {
        const [lo, hi] = [bounds[k] as bigint, bounds[k + 1] as bigint];
        const part = entries.filter((e) => BigInt(e.message.offset) >= lo && BigInt(e.message.offset) < hi);
        await this.store(tp, lo, hi, part, ctx);
      }
      return;
    }
    timer();
    rowsInserted.inc({ table }, entries.length);
    batches.inc({ table });
  }

  private deadLetter(m: BusMessage, reason: string, detail: string): OutgoingMessage {
    return {
      key: m.key,
      value: m.value,
      headers: { reason, detail: detail.slice(0, 200), table: this.opts.table, topic: m.topic, partition: String(m.partition), offset: m.offset },
    };
  }

  private remember(keys: Set<string>): void {
    if (keys.size === 0) return;
    const cap = this.opts.uniqueMemory ?? 200_000;
    // A batch's keys are never in `stored` (handle() drops a record whose key is), so
    // each is added at the end, newest, without a delete first (one lookup a key, not two:
    // in a set of uniqueMemory keys each lookup is mostly cache misses).
    for (const k of keys) this.stored.add(k);
    // A Set iterates in insertion order: the oldest keys go first.
    for (const k of this.stored) {
      if (this.stored.size <= cap) break;
      this.stored.delete(k);
    }
  }

  async close(): Promise<void> {
    await this.sub?.close();
  }
}
