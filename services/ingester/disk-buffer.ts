// The ingester's disk spill buffer: records the bus cannot take now (memory
// full, or Kafka unavailable) are appended to segment files and read back
// oldest first once it can. Memory stays the fast path; see pipeline.ts for
// when records spill.
//
// Layout, under `<dir>/<slot>/` (one slot per ingester process, held by a
// `lock` file naming its pid; a slot whose process is gone is taken over,
// with what it left on disk):
//
//   seg-<16 digits>.log   records, each length-prefixed with a CRC-32
//                         (segment-format.ts)
//   ack                   "<segment> <offset>": everything before it is
//                         acknowledged by Kafka
//
// Records leave the disk only once Kafka acknowledged them: `read()` hands
// out a batch with a ticket, `ack(ticket)` moves the acknowledged position
// forward over the longest run of acknowledged batches (sends complete out of
// order), writes it to `ack`, and deletes the segments wholly before it. A
// restart resumes from `ack`: what was read but not acknowledged is read
// again. A crash between Kafka's acknowledgement and the ack file's write
// sends those records twice (at least once).
//
// A record whose checksum does not match is skipped and counted (the length
// prefix tells where the next one starts); a length that runs past the end of
// its file is a torn last record (a crash during the write): the rest of that
// segment is skipped and counted. A restart always appends to a new segment,
// so a torn tail is never written after.
//
// Writes are grouped: appends collect in memory and are written at the end of
// the event-loop turn (or at 256 KiB), then fsynced per the policy: `always`
// (each group, before the next turn), `interval` (every fsync_interval), or
// `never` (the OS decides). A SIGKILL loses only the group not yet written;
// a power loss also loses what was not fsynced.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import { FRAME_HEAD, MAGIC, MAX_FRAME, decodeSpilled, encodeSpilled, parseFrames, segName, syncDir, takeLock, type Spilled } from './segment-format.js';

export { decodeSpilled, encodeSpilled, parseFrames, type SpillKind, type Spilled } from './segment-format.js';

const log = componentLogger('ingester');

const WRITE_GROUP_BYTES = 262_144;
const READ_CHUNK = 1_048_576;

const skipped = new Counter({
  name: 'logwarden_ingest_disk_buffer_skipped_total',
  help: 'Spilled records skipped on reading the disk buffer, by reason (torn_tail: a record cut by a crash; checksum_mismatch)',
  labelNames: ['reason'],
  registers: [registry],
});
const spilled = new Counter({ name: 'logwarden_ingest_disk_buffer_spilled_total', help: 'Records written to the disk buffer', registers: [registry] });
const replayed = new Counter({ name: 'logwarden_ingest_disk_buffer_replayed_total', help: 'Records read back from the disk buffer for sending', registers: [registry] });
const diskBytes = new Gauge({ name: 'logwarden_ingest_disk_buffer_bytes', help: 'Bytes of segment files held by the disk buffer', registers: [registry] });

export interface DiskBatch {
  records: Spilled[];
  ticket: number;
}
export interface DiskBufferOptions {
  maxBytes: number;
  segmentBytes: number;
  fsync: 'always' | 'interval' | 'never';
  fsyncIntervalMs: number;
}
/** Why append() did not take a record. */
export type SpillRefusal = 'disk_buffer_full' | 'disk_error';

interface Position {
  seg: number;
  offset: number;
}


/** Every record of a slot directory from its ack position, as a restart would read them (for tests and tools). */
export function readSlot(slotDir: string): Spilled[] {
  const b = new DiskBuffer(slotDir, { maxBytes: Number.MAX_SAFE_INTEGER, segmentBytes: MAX_FRAME, fsync: 'never', fsyncIntervalMs: 1000 }, false);
  const out: Spilled[] = [];
  for (let batch = b.read(10_000, Number.MAX_SAFE_INTEGER); batch.records.length > 0; batch = b.read(10_000, Number.MAX_SAFE_INTEGER)) out.push(...batch.records);
  return out;
}

export class DiskBuffer {
  private segments: number[] = [];
  private sizes = new Map<number, number>();
  /** Bytes of the segment files plus the group not yet written. */
  private total = 0;
  private writeFd: number | undefined;
  private writeSeq = 0;
  private group: Buffer[] = [];
  private groupBytes = 0;
  private groupScheduled = false;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  /** After a failed write the disk is left alone for a while: the pipeline falls back to memory. */
  private failedAt = 0;
  /** The read position: the next record to hand out. */
  private readPos: Position;
  /** The acknowledged position, and the batches handed out but not yet acknowledged (in ticket order). */
  private ackPos: Position;
  private nextTicket = 1;
  private outstanding = new Map<number, { end: Position; acked: boolean }>();
  private closed = false;
  /** Told how many records a failed write lost (append() had taken them). */
  onWriteError: ((records: number) => void) | undefined;

  /** Opens `<dir>/<slot>` for the first slot free (its lock absent or naming a process that is gone). */
  static open(dir: string, opts: DiskBufferOptions): DiskBuffer {
    for (let slot = 0; slot < 256; slot++) {
      const slotDir = join(dir, String(slot));
      mkdirSync(slotDir, { recursive: true });
      if (takeLock(join(slotDir, 'lock'))) return new DiskBuffer(slotDir, opts, true);
    }
    throw new Error(`every slot under ${dir} is held by a live process`);
  }

  constructor(
    readonly dir: string,
    private readonly opts: DiskBufferOptions,
    private readonly writable: boolean,
  ) {
    this.segments = readdirSync(dir)
      .map((f) => /^seg-(\d{16})\.log$/.exec(f)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const x of this.segments) this.setSize(x, statSync(join(dir, segName(x))).size);
    // Numbers start high, so prepend() always has a lower one free.
    this.writeSeq = (this.segments.at(-1) ?? 999_999_999) + 1;
    this.ackPos = this.readAck();
    for (const x of this.segments.filter((y) => y < this.ackPos.seg)) this.drop(x);
    // A last segment wholly acknowledged holds nothing to send.
    if (this.segments.length === 1 && this.ackPos.offset >= (this.sizes.get(this.ackPos.seg) ?? 0)) this.drop(this.ackPos.seg);
    this.readPos = { ...this.ackPos };
    if (writable && opts.fsync === 'interval') {
      this.syncTimer = setInterval(() => this.sync(), opts.fsyncIntervalMs);
      this.syncTimer.unref();
    }
    if (writable) diskBytes.set(this.total);
    if (writable && this.hasUnread) log.warn({ dir, segments: this.segments.length, bytes: this.total }, 'disk buffer: records left by an earlier run are sent first');
  }

  /** Bytes held: segment files and the group not yet written. */
  get bytes(): number {
    return this.total;
  }

  /** True while records are on disk that read() has not handed out (new records must queue behind them). */
  get hasUnread(): boolean {
    if (this.groupBytes > 0) return true;
    const last = this.segments.at(-1);
    if (last === undefined) return false;
    return this.readPos.seg < last || this.readPos.offset < (this.sizes.get(last) ?? 0);
  }

  /** Why a record of about `n` bytes would not be taken now, or undefined when it would. */
  refusal(n: number): SpillRefusal | undefined {
    if (this.closed || Date.now() - this.failedAt <= 5_000) return 'disk_error';
    if (this.total + n + FRAME_HEAD + 64 <= this.opts.maxBytes) return undefined;
    return this.group.length === 0 && this.outstanding.size === 0 && !this.hasUnread ? undefined : 'disk_buffer_full';
  }

  /** Takes a record (written at the end of this event-loop turn); answers why not when it cannot. */
  append(r: Spilled): SpillRefusal | undefined {
    if (this.closed || Date.now() - this.failedAt <= 5_000) return 'disk_error';
    const frame = encodeSpilled(r);
    if (this.total + frame.length > this.opts.maxBytes) {
      // The current segment may be wholly sent: its bytes leave with a new segment.
      if (this.group.length === 0 && this.writeFd !== undefined && this.outstanding.size === 0 && !this.hasUnread) this.writeGroupSafely(() => this.rotate());
      if (this.total + frame.length > this.opts.maxBytes) return 'disk_buffer_full';
    }
    this.group.push(frame);
    this.groupBytes += frame.length;
    this.total += frame.length;
    spilled.inc();
    if (this.groupBytes >= WRITE_GROUP_BYTES) this.writeGroup();
    else if (!this.groupScheduled) {
      this.groupScheduled = true;
      setImmediate(() => this.writeGroup());
    }
    return undefined;
  }

  private writeGroupSafely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failedAt = Date.now();
      log.error({ err }, 'disk buffer: cannot start a segment');
    }
  }

  /** Writes the group taken so far to the current segment (rotating at segment_bytes); fsyncs under `always`. */
  private writeGroup(): void {
    this.groupScheduled = false;
    if (this.group.length === 0 || this.closed) return;
    const data = this.group.length === 1 ? (this.group[0] as Buffer) : Buffer.concat(this.group, this.groupBytes);
    const records = this.group.length;
    this.group = [];
    this.total -= this.groupBytes;
    this.groupBytes = 0;
    try {
      const size = this.sizes.get(this.writeSeq) ?? 0;
      const drained = this.outstanding.size === 0 && !this.hasUnread && size >= Math.min(1_048_576, this.opts.maxBytes / 4);
      // A full segment, or one wholly sent: a new one, so the old one can leave the disk.
      if (this.writeFd === undefined || size >= this.opts.segmentBytes || drained) this.rotate();
      writeSync(this.writeFd as unknown as number, data);
      this.setSize(this.writeSeq, (this.sizes.get(this.writeSeq) ?? 0) + data.length);
      this.dirty = true;
      if (this.opts.fsync === 'always') this.sync();
    } catch (err) {
      // A disk that refuses (ENOSPC, EIO) costs the group, counted; never the process.
      this.failedAt = Date.now();
      log.error({ err, records }, 'disk buffer: a write failed; its records are dropped');
      this.onWriteError?.(records);
    }
    diskBytes.set(this.total);
  }

  private rotate(): void {
    if (this.writeFd !== undefined) {
      if (this.opts.fsync !== 'never') fsyncSync(this.writeFd);
      closeSync(this.writeFd);
      this.writeFd = undefined;
      this.writeSeq++;
    }
    const fd = openSync(join(this.dir, segName(this.writeSeq)), 'wx');
    try {
      writeSync(fd, MAGIC);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.writeFd = fd;
    // The new file's directory entry, durable as its records will be.
    if (this.opts.fsync !== 'never') syncDir(this.dir);
    const first = this.segments.length === 0 || !this.hasUnread && this.outstanding.size === 0;
    this.segments.push(this.writeSeq);
    this.setSize(this.writeSeq, MAGIC.length);
    if (first) {
      // Nothing before it is waiting: the positions move to the new segment, and the old ones leave.
      this.readPos = { seg: this.writeSeq, offset: MAGIC.length };
      this.moveAck(this.readPos);
    }
  }

  /**
   * Puts records before everything not yet handed out (a stop's records still held in memory,
   * older than what waits on disk). Only when nothing is handed out and unacknowledged: the
   * unread rest of the first segment is copied after them into a segment numbered before it.
   */
  prepend(records: Spilled[]): SpillRefusal | undefined {
    if (records.length === 0) return undefined;
    if (this.closed || this.outstanding.size > 0) return 'disk_error';
    const frames = records.map(encodeSpilled);
    const add = frames.reduce((n, f) => n + f.length, 0);
    if (this.total + add > this.opts.maxBytes) return 'disk_buffer_full';
    this.writeGroup();
    const first = this.ackPos.seg;
    const size = this.sizes.get(first);
    if (size === undefined) {
      // Nothing on disk: the records are all there is.
      for (const r of records) this.append(r);
      this.writeGroup();
      return undefined;
    }
    try {
      const rest = this.readAt(first, this.ackPos.offset, size);
      const front = first - 1;
      const fd = openSync(join(this.dir, segName(front)), 'wx');
      try {
        writeSync(fd, Buffer.concat([MAGIC, ...frames, rest]));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (first === this.writeSeq && this.writeFd !== undefined) {
        closeSync(this.writeFd);
        this.writeFd = undefined;
        this.writeSeq = (this.segments.at(-1) ?? first) + 1;
      }
      this.segments.unshift(front);
      this.setSize(front, MAGIC.length + add + rest.length);
      this.readPos = { seg: front, offset: MAGIC.length };
      // The ack file names the new segment before the old one is deleted: a crash in between sends the old one's rest twice, never loses it.
      this.moveAck(this.readPos);
      this.drop(first);
      spilled.inc(records.length);
      diskBytes.set(this.total);
      return undefined;
    } catch (err) {
      log.error({ err, records: records.length }, 'disk buffer: cannot write records held in memory');
      return 'disk_error';
    }
  }

  sync(): void {
    if (!this.dirty || this.writeFd === undefined) return;
    this.dirty = false;
    try {
      fsyncSync(this.writeFd);
    } catch (err) {
      log.error({ err }, 'disk buffer: fsync failed');
    }
  }

  /** Hands out up to `maxRecords` (about `maxBytes`) of the oldest records not handed out yet; ack(ticket) once Kafka has them. */
  read(maxRecords: number, maxBytes: number): DiskBatch {
    if (this.group.length > 0) this.writeGroup();
    const records: Spilled[] = [];
    let bytes = 0;
    while (records.length < maxRecords && bytes < maxBytes) {
      const { seg, offset } = this.readPos;
      const size = this.sizes.get(seg);
      if (size === undefined) break;
      const sealed = seg !== this.writeSeq || this.writeFd === undefined;
      if (offset >= size) {
        const next = this.segments.find((x) => x > seg);
        if (next === undefined) break;
        this.readPos = { seg: next, offset: MAGIC.length };
        continue;
      }
      let buf = this.readAt(seg, offset, Math.min(size, offset + READ_CHUNK));
      if (buf.length >= FRAME_HEAD) {
        // A record longer than the chunk: read it whole.
        const want = FRAME_HEAD + buf.readUInt32LE(0);
        if (want <= MAX_FRAME + FRAME_HEAD && want > buf.length && offset + want <= size) buf = this.readAt(seg, offset, offset + want);
      }
      const parsed = parseFrames(buf, sealed && offset + buf.length >= size, maxRecords - records.length, maxBytes - bytes);
      for (const [reason, n] of Object.entries(parsed.skipped)) {
        skipped.inc({ reason }, n);
        log.warn({ reason, records: n, segment: segName(seg) }, 'disk buffer: records skipped');
      }
      for (const p of parsed.payloads) {
        records.push(decodeSpilled(p));
        bytes += p.length;
      }
      // A torn tail ends the segment: nothing after it can be trusted.
      const end = parsed.skipped.torn_tail ? size : offset + parsed.end;
      if (end === offset) break;
      this.readPos = { seg, offset: end };
    }
    if (records.length === 0 && this.outstanding.size === 0) {
      // Skipped records only: nothing to wait for.
      this.moveAck(this.readPos);
      return { records, ticket: 0 };
    }
    replayed.inc(records.length);
    const ticket = this.nextTicket++;
    this.outstanding.set(ticket, { end: { ...this.readPos }, acked: false });
    return { records, ticket };
  }

  private readAt(seg: number, from: number, to: number): Buffer {
    const buf = Buffer.allocUnsafe(to - from);
    const fd = openSync(join(this.dir, segName(seg)), 'r');
    try {
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, from + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }

  /** Kafka acknowledged the batch of `ticket`: the acknowledged position moves over every batch done before it. */
  ack(ticket: number): void {
    if (this.closed) return;
    const t = this.outstanding.get(ticket);
    if (!t) return;
    t.acked = true;
    let moved: Position | undefined;
    for (const [k, v] of this.outstanding) {
      if (!v.acked) break;
      moved = v.end;
      this.outstanding.delete(k);
    }
    if (moved) this.moveAck(moved);
  }

  /** Records the acknowledged position (in the ack file) and deletes the segments wholly before it. */
  private moveAck(to: Position): void {
    if (to.seg === this.ackPos.seg && to.offset === this.ackPos.offset) return;
    this.ackPos = { ...to };
    if (!this.writable) return;
    try {
      writeFileSync(join(this.dir, 'ack'), `${to.seg} ${to.offset}\n`);
    } catch (err) {
      log.error({ err }, 'disk buffer: cannot write the ack position (records may be sent again after a restart)');
    }
    for (const x of this.segments.filter((y) => y < to.seg)) this.drop(x);
    diskBytes.set(this.total);
  }

  private readAck(): Position {
    try {
      const [seg, offset] = readFileSync(join(this.dir, 'ack'), 'utf8').trim().split(' ').map(Number);
      if (Number.isSafeInteger(seg) && Number.isSafeInteger(offset) && this.segments.includes(seg as number)) return { seg: seg as number, offset: offset as number };
    } catch {
      // no ack file: nothing acknowledged yet
    }
    return { seg: this.segments[0] ?? 0, offset: MAGIC.length };
  }

  private setSize(seg: number, size: number): void {
    this.total += size - (this.sizes.get(seg) ?? 0);
    this.sizes.set(seg, size);
  }

  /** Forgets a segment wholly acknowledged, and deletes its file. */
  private drop(seg: number): void {
    this.segments = this.segments.filter((x) => x !== seg);
    this.total -= this.sizes.get(seg) ?? 0;
    this.sizes.delete(seg);
    if (!this.writable) return;
    try {
      unlinkSync(join(this.dir, segName(seg)));
    } catch (err) {
      log.error({ err, segment: segName(seg) }, 'disk buffer: cannot delete an acknowledged segment');
    }
  }

  /** Writes and fsyncs what is taken, closes the files, releases the slot. What is unacknowledged stays for the next start. */
  close(): void {
    if (this.closed) return;
    this.writeGroup();
    this.sync();
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.writeFd !== undefined) closeSync(this.writeFd);
    this.writeFd = undefined;
    if (this.writable) {
      try {
        unlinkSync(join(this.dir, 'lock'));
      } catch {
        // already gone
      }
    }
  }
}
