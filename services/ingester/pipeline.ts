// The transport-independent core of the ingester: raw line in → parsed,
// Avro-encoded, batched, published keyed by client IP. Rejected lines go to
// the dead-letter topic with their reason; nothing is dropped without a count.
//
// Memory is bounded: lines waiting for the bus are capped at
// `ingest.buffer_max_bytes`. Over the cap, `offer()` answers false so a
// TCP or file reader can pause (backpressure), and a UDP datagram, which
// cannot be paused, is dropped and counted as `buffer_full`.
//
// Publishing: a bus that is unavailable (shared/bus/types.ts decides) is
// retried with backoff, the records held. A batch the bus refuses (a record
// over the topic's size limit: Kafka refuses the partition's whole record
// batch) is cut in halves down to the records it refuses, each published
// again; a refused record goes to the dead-letter topic with the reason,
// counted by logwarden_ingest_refused_total (a refused dead letter is dropped,
// counted). Halves resend records the broker may already hold: at least once,
// as any retry.
//
// Disk buffer (disk-buffer.ts, when given): while the memory bound is reached,
// the bus is unavailable, or records wait on disk, records are appended to
// disk instead (TCP readers are then not paused, UDP not dropped) and read
// back oldest first. Memory-held and disk-read sends are never in flight
// together, so one client's records reach Kafka in the order they came:
// memory, then disk, then memory again. Over the disk bound, records fall
// back to memory and its bound (drops counted as disk_buffer_full).
import { Counter, Histogram } from 'prom-client';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { DEAD_LETTER_MAX_BYTES, publishIsolating, refusedDeadLetter, type RefusedRecord } from '../../shared/bus/refusals.js';
import type { Bus, OutgoingMessage } from '../../shared/bus/types.js';
import type { Config } from '../../shared/config/load.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { Topics } from '../../shared/topics.js';
import type { RejectReason } from '../../shared/access-log/record.js';
import { LineDecoder, type DecoderOptions, type Source } from '../../shared/access-log/decode.js';
import { createLineEncoder, type EncodedLine, type GeoSlot, type LineEncoder } from '../../shared/access-log/line-encoder.js';
import { ClientKeys } from '../../shared/ip.js';
import type { DiskBuffer, SpillKind, Spilled } from './disk-buffer.js';
import { noteNodeLine } from './node-tally.js';
import { parsedTally, receivedTally } from './line-tally.js';
import { GeoMemo, geoFor } from '../../shared/geo/index.js';

const log = componentLogger('ingester');

export type { Source } from '../../shared/access-log/decode.js';

const rejected = new Counter({
  name: 'logwarden_ingest_rejected_total',
  help: 'Lines rejected (sent to the dead-letter topic), by reason',
  labelNames: ['source', 'reason'],
  registers: [registry],
});
const dropped = new Counter({
  name: 'logwarden_ingest_dropped_total',
  help: 'Lines dropped without reaching any topic, by reason',
  labelNames: ['source', 'reason'],
  registers: [registry],
});
const refusedCounter = new Counter({
  name: 'logwarden_ingest_refused_total',
  help: 'Records the bus refused (sent to the dead-letter topic), by topic and reason',
  labelNames: ['topic', 'reason'],
  registers: [registry],
});
const sent = new Counter({ name: 'logwarden_ingest_sent_total', help: 'Records acknowledged by the bus', labelNames: ['topic'], registers: [registry] });
const batchSize = new Histogram({
  name: 'logwarden_ingest_batch_records',
  help: 'Records per published batch',
  buckets: [1, 10, 100, 500, 1000, 5000, 20000],
  registers: [registry],
});
const sendSeconds = new Histogram({
  name: 'logwarden_ingest_send_seconds',
  help: 'Time for the bus to acknowledge a batch',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  registers: [registry],
});

const unsentAtClose = new Counter({
  name: 'logwarden_ingest_unsent_at_close_total',
  help: 'Records still unacknowledged by the bus when a stop gave up waiting for it (the broker gone)',
  registers: [registry],
});

export interface PipelineStats {
  received: number;
  parsed: number;
  rejected: Partial<Record<RejectReason, number>>;
  dropped: Record<string, number>;
  /** Records the bus refused, by reason. */
  refused: Record<string, number>;
  sent: number;
}

/** One send's progress: what the bus took, and the dead letters of what it refused. */
interface Delivery {
  acked: number;
  letters: OutgoingMessage[];
}

const MAX_BATCH = 2000;
/** Records per send; kafkajs groups a send's messages per partition in quadratic time, so keep it moderate. */
const MAX_SEND = 4000;
const MAX_IN_FLIGHT = 4;
/** Bytes read from the disk buffer per send (about MAX_SEND records of a few hundred bytes). */
const DISK_READ_BYTES = 4_194_304;
const RETRY_MAX_MS = 5_000;
/** How long close() keeps retrying a bus that does not acknowledge before it counts the rest as unsent. */
const CLOSE_GRACE_MS = 10_000;

export class IngestPipeline {
  private readonly decoder: LineDecoder;
  /** Records are keyed by client (an address, or an IPv6 /64), so one client's requests meet in one partition. */
  private readonly clients: ClientKeys;
  /** Country (when the log has none) and ASN of every record; null with geo.enabled false. */
  private readonly geo: GeoMemo | null;
  /** One-pass encoders (line-encoder.ts) for lines with and without a syslog header; a line they leave goes to decodeAndHold. */
  private encoders: { framed?: LineEncoder; bare?: LineEncoder; annotate?: (g: GeoSlot) => void } = {};
  private pending: OutgoingMessage[] = [];
  private pendingDead: OutgoingMessage[] = [];
  private heldBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private waiters: Array<() => void> = [];
  /** Set when close() stopped waiting: the retry loops give up instead of holding the process. */
  private abandoned = false;
  /** The last publish found the bus unavailable: new records go to disk, and one disk send at a time probes the bus. */
  private busDown = false;
  /** Batches of memory sends close() wrote to disk: not counted as unsent when their send gives up. */
  private spilledAtClose = new WeakSet<OutgoingMessage[]>();
  /** Sends in flight of records held in memory (the others were read from disk), and their records. */
  private memorySends = new Set<{ batch: OutgoingMessage[]; dead: OutgoingMessage[] }>();
  readonly stats: PipelineStats = { received: 0, parsed: 0, rejected: {}, dropped: {}, refused: {}, sent: 0 };

  constructor(
    private readonly config: Config,
    private readonly bus: Bus,
    private readonly topics: Topics,
    /** A format other than `ingest.log_format` (replay's --format, or what it detected in a file). */
    decoding: DecoderOptions = {},
    /** Where records spill past memory (the ingester service gives one; replay does not). */
    private readonly disk?: DiskBuffer,
  ) {
    this.decoder = new LineDecoder(config, decoding);
    this.clients = new ClientKeys(config.detection.ipv6_client_prefix);
    if (disk) disk.onWriteError = (records) => this.drop('disk', 'disk_error', records);
    // What an earlier run left on disk is sent without waiting for new input.
    if (disk?.hasUnread) this.scheduleFlush(config.kafka.linger_ms);
    const db = geoFor(config);
    this.geo = db === null ? null : GeoMemo.of(db);
    const geo = this.geo;
    // They write the AccessRecord schema the hand-written writer knows; under another schema the codec does it all.
    const enc = { format: decoding.format ?? config.ingest.log_format, ctx: this.decoder.ctx, maxLineBytes: config.ingest.max_line_bytes, schemaId: accessRecordCodec.schemaId };
    if (accessRecordCodec.handWritten) this.encoders = { framed: createLineEncoder({ ...enc, syslog: true }), annotate: geo ? (g) => geo.annotate(g) : undefined };
    if (accessRecordCodec.handWritten && decoding.fileWrapper !== 'syslog-file') this.encoders.bare = createLineEncoder({ ...enc, syslog: false });
  }

  private get memoryFull(): boolean {
    return this.heldBytes >= this.config.ingest.buffer_max_bytes;
  }

  /** Whether new records go to disk now (see the header). */
  private get spilling(): boolean {
    return this.disk !== undefined && (this.memoryFull || this.busDown || this.disk.hasUnread);
  }

  /** A record for the bus: to disk while spilling (if it takes it), else to memory. */
  private hold(kind: SpillKind, message: OutgoingMessage): void {
    if (this.spilling && this.disk?.append({ kind, message }) === undefined) return;
    if (kind === 'access') {
      this.pending.push(message);
      this.heldBytes += message.value.length + 64;
    } else {
      this.pendingDead.push(message);
      this.heldBytes += message.value.length + 128;
    }
  }

  /**
   * Takes one raw line (a datagram, a framed TCP message, a file line).
   * Returns false when the pipeline holds its memory bound: the caller should
   * pause until `drained()` resolves.
   */
  offer(raw: Buffer, source: Source, receivedAt = Date.now()): boolean {
    this.stats.received++;
    receivedTally[source]++;
    // The disk is asked only past the memory bound (its answer reads the clock).
    const diskRefusal = !this.memoryFull ? undefined : this.disk ? this.disk.refusal(raw.length + 256) : 'buffer_full';
    if (diskRefusal !== undefined) {
      if (source === 'udp') {
        this.drop(source, diskRefusal);
        return false;
      }
      // TCP and files are paused by the caller on `false`; the line itself is still taken.
    }
    const e = this.encoders;
    const fast = (source === 'file' && raw[0] !== 60 /* as the decoder picks */ ? e.bare : e.framed)?.(raw, receivedAt, e.annotate);
    const line = fast ?? this.decodeAndEncode(raw, source, receivedAt);
    if (line !== undefined) {
      this.stats.parsed++;
      parsedTally[source]++;
      noteNodeLine(line.node, receivedAt, line.clockAheadMs);
      this.hold('access', { key: this.clients.of(line.client_ip), value: line.value, timestamp: line.ts });
    }
    if (this.pending.length + this.pendingDead.length >= MAX_BATCH) this.scheduleFlush(0);
    else this.scheduleFlush(this.config.kafka.linger_ms);
    return !this.memoryFull || (this.disk !== undefined && this.disk.refusal(0) === undefined);
  }

  /** The reference path: the decoder's record, geo, then the codec; a rejected line is dead-lettered (undefined). */
  private decodeAndEncode(raw: Buffer, source: Source, receivedAt: number): EncodedLine | undefined {
    const result = this.decoder.decode(raw, source, receivedAt);
    if (!result.ok) {
      this.deadLetter(raw, source, result.reason, result.detail, receivedAt);
      return undefined;
    }
    const r = result.record;
    this.geo?.annotate(r);
    try {
      return { value: accessRecordCodec.encode(r), client_ip: r.client_ip, ts: r.ts, node: r.node, clockAheadMs: r.extra.clock_ahead_ms === undefined ? undefined : Number(r.extra.clock_ahead_ms) };
    } catch (err) {
      // A parser bug must cost one line, counted, not the process: this runs in a socket's event handler.
      log.error({ err }, 'a parsed line does not encode; dead-lettered');
      this.deadLetter(raw, source, 'bad_format', `cannot encode: ${(err as Error).message}`, receivedAt);
      return undefined;
    }
  }

  /**
   * Counts a line rejected before it reached the parser (e.g. a TCP frame over
   * the size limit that was skipped, not buffered) and dead-letters what is known of it.
   */
  reject(reason: RejectReason, source: Source, detail: string, head: Buffer = Buffer.alloc(0)): void {
    this.stats.received++;
    receivedTally[source]++;
    this.deadLetter(head, source, reason, detail, Date.now());
    this.scheduleFlush(this.config.kafka.linger_ms);
  }

  private deadLetter(raw: Buffer, source: Source, reason: RejectReason, detail: string, receivedAt: number): void {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
    rejected.inc({ source, reason });
    // An oversize line is kept only in part: the dead-letter topic must not become the memory bomb it guards against.
    // A copy: a TCP frame is a view into a 64 KiB read chunk, which the held bytes would not count.
    const value = Buffer.from(raw.length > DEAD_LETTER_MAX_BYTES ? raw.subarray(0, DEAD_LETTER_MAX_BYTES) : raw);
    this.hold('dead', {
      key: null,
      value,
      headers: {
        reason,
        detail: detail.slice(0, 200),
        source,
        received_at: String(receivedAt),
        ...(value.length < raw.length ? { truncated_from: String(raw.length) } : {}),
      },
      timestamp: receivedAt,
    });
  }

  private drop(source: Source | 'bus' | 'disk', reason: string, n = 1): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
    dropped.inc({ source, reason }, n);
  }

  private scheduleFlush(delayMs: number): void {
    if (delayMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.pump();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, delayMs);
  }

  /**
   * Starts sends while fewer than MAX_IN_FLIGHT are outstanding. Several sends
   * in flight hide the broker's acknowledgement latency; the idempotent
   * producer keeps them in order per partition.
   */
  private pump(): void {
    if (this.abandoned) return;
    while (this.inFlight < MAX_IN_FLIGHT) {
      const diskSends = this.inFlight - this.memorySends.size;
      let batch: OutgoingMessage[];
      let dead: OutgoingMessage[];
      let ticket: number | undefined;
      if ((this.pending.length > 0 || this.pendingDead.length > 0) && diskSends === 0) {
        batch = this.pending.splice(0, MAX_SEND);
        dead = this.pendingDead.splice(0, MAX_SEND);
      } else if (this.pending.length === 0 && this.pendingDead.length === 0 && this.memorySends.size === 0 && this.disk?.hasUnread && !(this.busDown && diskSends > 0)) {
        const read = this.disk.read(MAX_SEND, DISK_READ_BYTES);
        if (read.records.length === 0) break;
        ticket = read.ticket;
        batch = read.records.filter((r) => r.kind === 'access').map((r) => r.message);
        dead = read.records.filter((r) => r.kind === 'dead').map((r) => r.message);
      } else break;
      this.inFlight++;
      const mine = { batch, dead };
      if (ticket === undefined) this.memorySends.add(mine);
      void this.send(batch, dead, ticket).finally(() => {
        this.inFlight--;
        this.memorySends.delete(mine);
        this.pump();
        if (this.inFlight === 0 && this.pending.length === 0 && this.pendingDead.length === 0 && !this.disk?.hasUnread) {
          const idle = this.idleWaiters;
          this.idleWaiters = [];
          for (const wake of idle) wake();
        }
      });
    }
  }

  /** Publishes everything taken so far; resolves once the bus acknowledged it. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Publishes a batch; `ticket`: it was read from disk, and leaves it once acknowledged. */
  private async send(batch: OutgoingMessage[], dead: OutgoingMessage[], ticket?: number): Promise<void> {
    const bytes = ticket !== undefined ? 0 : batch.reduce((n, m) => n + m.value.length + 64, 0) + dead.reduce((n, m) => n + m.value.length + 128, 0);
    const t0 = process.hrtime.bigint();
    const access: Delivery = { acked: 0, letters: [] };
    const deadLetters: Delivery = { acked: 0, letters: [] };
    let acked = await this.publish(this.topics.access, batch, access);
    const letters = [...dead, ...access.letters];
    acked = acked && (await this.publish(this.topics.deadLetter, letters, deadLetters));
    if (acked) {
      sendSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
      batchSize.observe(batch.length);
    }
    this.stats.sent += access.acked;
    sent.inc({ topic: this.topics.access }, access.acked);
    if (deadLetters.acked > 0) sent.inc({ topic: this.topics.deadLetter }, deadLetters.acked);
    if (deadLetters.letters.length > 0) {
      this.drop('bus', 'dead_letter_refused', deadLetters.letters.length);
      log.error({ records: deadLetters.letters.length }, 'the bus refused dead letters too; dropped');
    }
    if (acked && ticket !== undefined) this.disk?.ack(ticket);
    // Records refused from the access topic whose dead letter was not sent count as unsent;
    // records read from disk stay there for the next start, and so do memory-held ones close() spilled.
    if (!acked && ticket === undefined && !this.spilledAtClose.has(batch)) this.giveUp(batch.length + dead.length - access.acked - deadLetters.acked - deadLetters.letters.length);
    this.heldBytes -= bytes;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    if (this.memoryFull) return;
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  /**
   * Publishes `messages` to `topic`: retried while the bus is unavailable
   * (never dropped: the memory bound limits the wait, until close() gives
   * up: false); what it refuses is dead-lettered into `d.letters` (see the
   * header and shared/bus/refusals.ts).
   */
  private async publish(topic: string, messages: OutgoingMessage[], d: Delivery): Promise<boolean> {
    if (messages.length === 0) return true;
    let backoff = 100;
    while (!this.abandoned) {
      const stored = new Set<OutgoingMessage>();
      try {
        const refused = await publishIsolating(this.bus, topic, messages, stored);
        d.acked += messages.length - refused.length;
        for (const r of refused) this.refused(topic, r, d);
        this.busDown = false;
        return true;
      } catch (err) {
        // What the bus stored before it went away counts, and is not sent again.
        d.acked += stored.size;
        if (stored.size > 0) messages = messages.filter((m) => !stored.has(m));
        if (messages.length === 0) return true;
        this.busIsDown();
        log.warn({ err, topic, records: messages.length, retryInMs: backoff }, 'publish failed; holding the records and retrying');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, RETRY_MAX_MS);
      }
    }
    return false;
  }

  /** A record the bus refused: counted, and its dead letter into `d.letters`. */
  private refused(topic: string, r: RefusedRecord, d: Delivery): void {
    this.stats.refused[r.reason] = (this.stats.refused[r.reason] ?? 0) + 1;
    refusedCounter.inc({ topic, reason: r.reason });
    log.warn({ topic, reason: r.reason, detail: r.detail }, 'the bus refused a record; dead-lettered');
    d.letters.push(refusedDeadLetter(topic, r));
  }

  /**
   * The bus went away: what waits in memory goes to disk (when nothing waits there yet, so the
   * order holds), where it survives a crash; the sends in flight keep retrying.
   */
  private busIsDown(): void {
    if (this.busDown) return;
    this.busDown = true;
    if (!this.disk || this.disk.hasUnread) return;
    this.spillPending();
    this.wakeWaiters();
  }

  /** Moves what waits in memory to disk, as far as the disk takes it. */
  private spillPending(): void {
    const disk = this.disk;
    if (!disk) return;
    const move = (kind: SpillKind, from: OutgoingMessage[], overhead: number): OutgoingMessage[] => {
      let i = 0;
      for (; i < from.length; i++) {
        const m = from[i] as OutgoingMessage;
        if (disk.append({ kind, message: m }) !== undefined) break;
        this.heldBytes -= m.value.length + overhead;
      }
      return from.slice(i);
    };
    this.pending = move('access', this.pending, 64);
    this.pendingDead = move('dead', this.pendingDead, 128);
  }

  /** Resolves when the pipeline is under its memory bound again. */
  drained(): Promise<void> {
    if (this.heldBytes < this.config.ingest.buffer_max_bytes) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Publishes what is held, retrying for up to `graceMs`; past that, what the bus has not
   * acknowledged is counted (logwarden_ingest_unsent_at_close_total) and logged, and
   * close() returns: a stop must end while the broker is gone.
   */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.abandoned = true;
        // With a disk buffer, what is held in memory (older than what waits on disk) is kept for the next start, ahead of it.
        if (this.disk) {
          const held: Spilled[] = [];
          const sends = [...this.memorySends, { batch: this.pending, dead: this.pendingDead }];
          for (const s of sends) {
            for (const message of s.batch) held.push({ kind: 'access', message });
            for (const message of s.dead) held.push({ kind: 'dead', message });
          }
          if (this.disk.prepend(held) === undefined) {
            for (const s of this.memorySends) this.spilledAtClose.add(s.batch);
            this.pending = [];
            this.pendingDead = [];
          }
        }
        const held = this.pending.length + this.pendingDead.length;
        this.pending = [];
        this.pendingDead = [];
        if (held > 0) this.giveUp(held);
        // Sends in flight are counted when the bus answers them (or its close fails them).
        if (this.inFlight > 0) log.error({ sends: this.inFlight }, 'stopping: sends in flight are not retried');
        resolve();
      }, graceMs);
    });
    try {
      await Promise.race([this.flush(), gaveUp]);
    } finally {
      clearTimeout(timer);
      this.disk?.close();
    }
  }

  private giveUp(records: number): void {
    this.stats.dropped.unsent_at_close = (this.stats.dropped.unsent_at_close ?? 0) + records;
    unsentAtClose.inc(records);
    log.error({ records }, 'stopping: records the bus did not acknowledge are not sent');
  }
}
