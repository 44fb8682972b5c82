// Reading access-log files line by line: plain or gzip-compressed, or stdin
// ("-"), split on LF without decoding. The live ingester's file input and the
// detectors' backtest read files the same way.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

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

/**
 * The first `maxLines` lines of a log (at most 1 MiB of it), and a stream that
 * yields the whole log again, those lines included: standard input can be read
 * only once, so what was sampled is put back in front of the rest.
 */
export async function peekLogStream(file: string, maxLines: number): Promise<{ sample: Buffer[]; stream: Readable }> {
  const source = await openLogStream(file);
  const it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let size = 0;
  let newlines = 0;
  let ended = false;
  while (newlines < maxLines && size < 1 << 20) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    held.push(r.value);
    size += r.value.length;
    for (let i = r.value.indexOf(10); i >= 0; i = r.value.indexOf(10, i + 1)) newlines++;
  }
  const head = Buffer.concat(held);
  const sample: Buffer[] = [];
  let pos = 0;
  while (sample.length < maxLines && pos < head.length) {
    const lf = head.indexOf(10, pos);
    // A last line without its newline is whole only when the log ended there.
    if (lf < 0 && !ended) break;
    const end = lf < 0 ? head.length : lf;
    const line = head.subarray(pos, end > pos && head[end - 1] === 13 ? end - 1 : end);
    if (line.length > 0) sample.push(line);
    pos = end + 1;
  }
  async function* again(): AsyncGenerator<Buffer> {
    yield* held;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const stream = Readable.from(again(), { objectMode: false });
  // Closing the replayed stream early (a peek that only wanted the sample) closes the source too.
  stream.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  return { sample, stream };
}
