// The disk buffer's segment format and bookkeeping, on real files in a temporary directory:
// round trip, torn tail, checksum mismatch, rotation, the bound, acknowledged records
// leaving the disk, and a restart resuming from the acknowledged position.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '../../shared/metrics.js';
import { DiskBuffer, decodeSpilled, encodeSpilled, parseFrames, readSlot, type DiskBufferOptions, type Spilled } from './disk-buffer.js';

const root = mkdtempSync(join(tmpdir(), 'lw-diskbuf-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, String(n++));
const opts = (o: Partial<DiskBufferOptions> = {}): DiskBufferOptions => ({ maxBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, fsync: 'never', fsyncIntervalMs: 1000, ...o });
const rec = (i: number, size = 100): Spilled => ({
  kind: i % 10 === 9 ? 'dead' : 'access',
  message: { key: `10.0.0.${i % 7}`, value: Buffer.alloc(size, i % 251), timestamp: 1_700_000_000_000 + i, ...(i % 10 === 9 ? { headers: { reason: 'bad_format' } } : {}) },
});
const ids = (rs: Spilled[]): number[] => rs.map((r) => (r.message.timestamp ?? 0) - 1_700_000_000_000);
const segFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();
async function skippedMetric(reason: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'logwarden_ingest_disk_buffer_skipped_total');
  return (m?.values ?? []).filter((v) => v.labels.reason === reason).reduce((s, v) => s + v.value, 0);
}
function drain(b: DiskBuffer, ack = true): Spilled[] {
  const out: Spilled[] = [];
  for (;;) {
    const batch = b.read(1000, 1 << 20);
    if (batch.records.length === 0) return out;
    out.push(...batch.records);
    if (ack) b.ack(batch.ticket);
  }
}

test('a record survives the round trip: kind, key (or none), headers, timestamp, value', () => {
  const cases: Spilled[] = [rec(1), rec(9), { kind: 'dead', message: { key: null, value: Buffer.from('x') } }];
  for (const r of cases) {
    const frame = encodeSpilled(r);
    const { payloads, skipped } = parseFrames(frame, true);
    assert.deepEqual(skipped, {});
    assert.equal(payloads.length, 1);
    assert.deepEqual(decodeSpilled(payloads[0] as Buffer), r);
  }
});

test('records are read back oldest first, and a restart resumes from the acknowledged position', () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts());
  for (let i = 0; i < 500; i++) assert.equal(b.append(rec(i)), undefined);
  assert.ok(b.hasUnread);
  const first = b.read(200, 1 << 20);
  const second = b.read(200, 1 << 20);
  assert.deepEqual(ids(first.records), [...Array(200).keys()]);
  // The second batch acknowledged before the first: nothing moves until the first is.
  b.ack(second.ticket);
  b.close();
  // A crash (no ack of the first batch): everything from record 0 comes again.
  const again = DiskBuffer.open(dir, opts());
  assert.equal(again.dir, join(dir, '0'), 'the slot of a process that is gone is taken over');
  const batch = again.read(200, 1 << 20);
  assert.deepEqual(ids(batch.records), [...Array(200).keys()]);
  again.ack(batch.ticket);
  again.close();
  const third = DiskBuffer.open(dir, opts());
  assert.deepEqual(ids(drain(third)), [...Array(300).keys()].map((i) => i + 200));
  assert.equal(third.hasUnread, false);
  third.close();
});

test('a slot held by a live process is not taken: a second buffer gets a slot of its own', () => {
  const dir = fresh();
  const a = DiskBuffer.open(dir, opts());
  const other = join(dir, '0', 'lock');
  // The lock names a live process other than this one (pid 1).
  writeFileSync(other, '1');
  const b = DiskBuffer.open(dir, opts());
  assert.equal(b.dir, join(dir, '1'));
  a.close();
  b.close();
});

test('a torn last record is detected by its checksum frame, counted and skipped; what precedes it is read', async () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts());
  for (let i = 0; i < 50; i++) b.append(rec(i));
  b.close();
  const slot = join(dir, '0');
  const [file] = segFiles(slot);
  const path = join(slot, file as string);
  // The last record cut in the middle, as a crash during its write leaves it.
  truncateSync(path, statSync(path).size - 40);
  const before = await skippedMetric('torn_tail');
  const again = DiskBuffer.open(dir, opts());
  assert.deepEqual(ids(drain(again)), [...Array(49).keys()]);
  assert.equal(await skippedMetric('torn_tail'), before + 1, 'counted once');
  // New records go to a new segment, after the torn one.
  again.append(rec(100));
  assert.deepEqual(ids(drain(again)), [100]);
  again.close();
  assert.deepEqual(readSlot(slot), [], 'nothing left to send');
});

test('a record whose checksum does not match is skipped and counted; the records after it are read', async () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts());
  for (let i = 0; i < 10; i++) b.append(rec(i));
  b.close();
  const slot = join(dir, '0');
  const path = join(slot, segFiles(slot)[0] as string);
  const bytes = readFileSync(path);
  const frame = encodeSpilled(rec(0)).length;
  // One byte flipped inside the fourth record's value.
  const at = 8 + 3 * frame + frame - 5;
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(path, bytes);
  const before = await skippedMetric('checksum_mismatch');
  assert.deepEqual(ids(readSlot(slot)), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  assert.equal(await skippedMetric('checksum_mismatch'), before + 1);
  // Garbage appended after the last record: a torn tail, not a crash of the reader.
  appendFileSync(path, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]));
  assert.equal(readSlot(slot).length, 9);
});

test('segments rotate at segment_bytes, and a segment wholly acknowledged leaves the disk', async () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts({ segmentBytes: 65_536 }));
  for (let i = 0; i < 2000; i++) {
    b.append(rec(i));
    // Appends are written once per event-loop turn: a turn every 100 records, as a socket's reads come.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  const slot = join(dir, '0');
  const files = segFiles(slot);
  assert.ok(files.length >= 3, `${files.length} segments of 64 KiB for ~260 KB`);
  for (const f of files.slice(0, -1)) assert.ok(statSync(join(slot, f)).size < 65_536 + 100 * 140, `${f} is segment_bytes and at most one write more`);
  const total = files.reduce((s, f) => s + statSync(join(slot, f)).size, 0);
  assert.equal(b.bytes, total, 'the bound counts the files');
  // Half acknowledged: the segments before the acknowledged position are gone.
  const got: Spilled[] = [];
  while (got.length < 1000) {
    const batch = b.read(100, 1 << 20);
    got.push(...batch.records);
    b.ack(batch.ticket);
  }
  assert.ok(segFiles(slot).length < files.length, 'acknowledged segments deleted');
  assert.ok(b.bytes < total);
  assert.deepEqual(ids(drain(b)), [...Array(1000).keys()].map((i) => i + 1000));
  b.close();
});

test('the bound: past max_bytes append refuses (disk_buffer_full); acknowledged records make room again', () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts({ maxBytes: 20_000, segmentBytes: 65_536 }));
  let taken = 0;
  let refused = 0;
  for (let i = 0; i < 500; i++) {
    if (b.append(rec(i)) === undefined) taken++;
    else refused++;
  }
  assert.ok(taken > 0 && refused > 0, `${taken} taken, ${refused} refused`);
  assert.ok(b.bytes <= 20_000, `${b.bytes} bytes held`);
  assert.equal(b.refusal(200), 'disk_buffer_full');
  assert.equal(b.append(rec(0)), 'disk_buffer_full');
  assert.equal(drain(b).length, taken);
  // Everything sent: the next write starts a new segment once the old one is wholly acknowledged.
  b.close();
  const again = DiskBuffer.open(dir, opts({ maxBytes: 20_000, segmentBytes: 65_536 }));
  assert.equal(again.hasUnread, false);
  assert.equal(again.append(rec(1)), undefined);
  assert.deepEqual(ids(drain(again)), [1]);
  again.close();
});

test('fsync always: every group is written and synced before the next event-loop turn', async () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts({ fsync: 'always' }));
  b.append(rec(1));
  b.append(rec(2));
  await new Promise((r) => setImmediate(r));
  // Read by another reader, as a restart after a crash would.
  assert.deepEqual(ids(readSlot(join(dir, '0'))), [1, 2]);
  b.close();
});

test('prepend puts records before what is unread, and a restart reads them first, without what was acknowledged', () => {
  const dir = fresh();
  const b = DiskBuffer.open(dir, opts());
  for (let i = 0; i < 100; i++) b.append(rec(i));
  const sent = b.read(50, 1 << 20);
  b.ack(sent.ticket);
  assert.equal(b.prepend([rec(1000), rec(1001)]), undefined);
  b.append(rec(100));
  b.close();
  assert.deepEqual(ids(readSlot(join(dir, '0'))), [1000, 1001, ...[...Array(51).keys()].map((i) => i + 50)]);
  const again = DiskBuffer.open(dir, opts());
  assert.equal(drain(again).length, 53);
  again.close();
});
