// File input (`logwarden replay FILE...`): plain or gzip-compressed access logs,
// or stdin ("-"), through the same parsing as live traffic. Event time comes
// from each line, so a replayed day is detected as it was lived (backtesting).
// Lines may be as nginx writes them to disk (no syslog header) or as a relay
// stored them (with one).
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { IngestPipeline } from './pipeline.js';

export interface ReplayResult {
  files: number;
  lines: number;
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

export async function openLogStream(file: string): Promise<Readable> {
  if (file === '-') return process.stdin;
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  return (await isGzip(file)) ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
}

/**
 * Feeds every line of `stream` to `onLine`, splitting on LF without decoding;
 * awaits the promise `onLine` may return (backpressure). A line longer than
 * `maxLine` is not buffered whole: `onLong` gets its first `maxLine` bytes.
 */
export async function forEachLine(
  stream: Readable,
  maxLine: number,
  onLine: (line: Buffer) => void | Promise<void>,
  onLong: (head: Buffer, length: number) => void,
): Promise<number> {
  let carry: Buffer = Buffer.alloc(0);
  let skipping = 0; // bytes of an oversize line seen so far; 0: not skipping
  let head: Buffer = Buffer.alloc(0);
  let lines = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    carry = Buffer.alloc(0);
    let pos = 0;
    while (pos < data.length) {
      const lf = data.indexOf(10, pos);
      if (skipping > 0) {
        if (lf < 0) {
          skipping += data.length - pos;
          pos = data.length;
          break;
        }
        onLong(head, skipping + (lf - pos));
        lines++;
        skipping = 0;
        pos = lf + 1;
        continue;
      }
      if (lf < 0) {
        if (data.length - pos > maxLine) {
          head = Buffer.from(data.subarray(pos, pos + maxLine));
          skipping = data.length - pos;
          pos = data.length;
        }
        break;
      }
      const end = lf > pos && data[lf - 1] === 13 ? lf - 1 : lf;
      if (end - pos > maxLine) {
        onLong(data.subarray(pos, pos + maxLine), end - pos);
        lines++;
      } else if (end > pos) {
        const r = onLine(data.subarray(pos, end));
        lines++;
        if (r) await r;
      }
      pos = lf + 1;
    }
    if (pos < data.length) carry = Buffer.from(data.subarray(pos));
  }
  if (skipping > 0) {
    onLong(head, skipping);
    lines++;
  } else if (carry.length > 0) {
    const r = onLine(carry);
    lines++;
    if (r) await r;
  }
  return lines;
}

/** Replays files into the pipeline, pausing while it is over its memory bound. */
export async function replayFiles(pipeline: IngestPipeline, files: string[], maxLineBytes: number): Promise<ReplayResult> {
  let lines = 0;
  for (const file of files) {
    const stream = await openLogStream(file);
    lines += await forEachLine(
      stream,
      maxLineBytes,
      (line) => (pipeline.offer(line, 'file') ? undefined : pipeline.drained()),
      (head, length) => pipeline.reject('too_long', 'file', `${length} bytes > max_line_bytes ${maxLineBytes}`, head),
    );
  }
  await pipeline.flush();
  return { files: files.length, lines };
}
