// The disk buffer's file format (disk-buffer.ts holds the bookkeeping):
//
//   seg-<16 digits>.log   "LWSEG1\n\0", then records:
//                         [u32 LE length][u32 LE CRC-32 of payload][payload]
//
// A payload is one OutgoingMessage and its topic: u8 kind (0 access, 1 dead
// letter), f64 timestamp (NaN: none), u16 key length (0xffff: null key), key,
// u32 headers length, headers (JSON), value. Also the slot lock and directory
// fsync the buffer uses.
import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { OutgoingMessage } from '../../shared/bus/types.js';

export const MAGIC = Buffer.from('LWSEG1\n\0');
export const FRAME_HEAD = 8;
/** A frame longer than this is taken for garbage (a line is at most max_line_bytes; dead letters are cut to 8 KiB). */
export const MAX_FRAME = 16_777_216;

export type SpillKind = 'access' | 'dead';
export interface Spilled {
  kind: SpillKind;
  message: OutgoingMessage;
}
export const segName = (seq: number): string => `seg-${String(seq).padStart(16, '0')}.log`;

export function encodeSpilled(r: Spilled): Buffer {
  const m = r.message;
  const key = m.key === null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key, 'utf8');
  const headers = m.headers ? Buffer.from(JSON.stringify(m.headers), 'utf8') : Buffer.alloc(0);
  const payload = Buffer.allocUnsafe(1 + 8 + 2 + (key?.length ?? 0) + 4 + headers.length + m.value.length);
  let o = payload.writeUInt8(r.kind === 'access' ? 0 : 1, 0);
  o = payload.writeDoubleLE(m.timestamp ?? Number.NaN, o);
  o = payload.writeUInt16LE(key === null ? 0xffff : key.length, o);
  if (key) o += key.copy(payload, o);
  o = payload.writeUInt32LE(headers.length, o);
  o += headers.copy(payload, o);
  m.value.copy(payload, o);
  const frame = Buffer.allocUnsafe(FRAME_HEAD + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, FRAME_HEAD);
  return frame;
}

export function decodeSpilled(payload: Buffer): Spilled {
  let o = 0;
  const kind: SpillKind = payload.readUInt8(o) === 0 ? 'access' : 'dead';
  const ts = payload.readDoubleLE((o += 1));
  const keyLen = payload.readUInt16LE((o += 8));
  o += 2;
  let key: string | null = null;
  if (keyLen !== 0xffff) {
    key = payload.toString('utf8', o, o + keyLen);
    o += keyLen;
  }
  const hLen = payload.readUInt32LE(o);
  o += 4;
  const headers = hLen > 0 ? (JSON.parse(payload.toString('utf8', o, o + hLen)) as Record<string, string>) : undefined;
  o += hLen;
  const message: OutgoingMessage = { key, value: Buffer.from(payload.subarray(o)) };
  if (headers) message.headers = headers;
  if (!Number.isNaN(ts)) message.timestamp = ts;
  return { kind, message };
}

/**
 * The records of a segment's bytes `buf` (read from the segment at `base`), at most `limit`
 * records and about `maxBytes`, checked. `final`: `buf` runs to the end of a segment no
 * longer written, so a cut frame is a torn tail. `end`: where the next read starts.
 */
export function parseFrames(buf: Buffer, final: boolean, limit = Number.MAX_SAFE_INTEGER, maxBytes = Number.MAX_SAFE_INTEGER): { payloads: Buffer[]; end: number; skipped: Record<string, number> } {
  const payloads: Buffer[] = [];
  const skips: Record<string, number> = {};
  let o = 0;
  let bytes = 0;
  while (payloads.length < limit && bytes < maxBytes) {
    if (o + FRAME_HEAD > buf.length) {
      if (final && o < buf.length) {
        skips.torn_tail = 1;
        o = buf.length;
      }
      break;
    }
    const len = buf.readUInt32LE(o);
    if (len > MAX_FRAME || o + FRAME_HEAD + len > buf.length) {
      if (final || len > MAX_FRAME) {
        // A record cut by a crash (or a length that is garbage): nothing after it can be trusted.
        skips.torn_tail = 1;
        o = buf.length;
      }
      break;
    }
    const payload = buf.subarray(o + FRAME_HEAD, o + FRAME_HEAD + len);
    const sum = buf.readUInt32LE(o + 4);
    o += FRAME_HEAD + len;
    if (crc32(payload) !== sum) skips.checksum_mismatch = (skips.checksum_mismatch ?? 0) + 1;
    else {
      payloads.push(payload);
      bytes += len;
    }
  }
  return { payloads, end: o, skipped: skips };
}

/** fsync of a directory: a new file's entry made durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Takes a slot's lock: absent, or naming a process that is gone (or this one, restarted under the same pid). */
export function takeLock(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') return false;
    }
  }
  writeFileSync(file, String(process.pid));
  return true;
}
