// Where blast's lines come from: a file (sent as it is) or the generator
// (formatted on the fly). Both yield byte views into large buffers that are
// never reused, since a queued datagram may still point into one.
import { closeSync, openSync, readSync } from 'node:fs';
import { TrafficGenerator, emptyRequest, type TrafficOptions } from './traffic.js';
import { LineFormatter, type OutputFormat } from './format.js';

/** Generated lines, formatted into fresh 1 MiB buffers. */
export function* generatedLines(opts: TrafficOptions, fmt: OutputFormat): Generator<Buffer> {
  const formatter = new LineFormatter(fmt);
  const gen = new TrafficGenerator(opts);
  const r = emptyRequest();
  let buf = Buffer.allocUnsafe(1 << 20);
  let off = 0;
  while (gen.nextInto(r)) {
    const need = formatter.maxLineBytes(r);
    if (off + need > buf.length) {
      buf = Buffer.allocUnsafe(Math.max(1 << 20, need));
      off = 0;
    }
    const end = formatter.writeLine(r, buf, off);
    yield buf.subarray(off, end);
    off = end;
  }
}

/**
 * Lines of a file as byte views, read in large chunks without holding the
 * file (each chunk is fresh: a queued datagram may still point into the last
 * one); with `shard`/`shards`, every shards-th line starting at shard (--procs).
 */
export function* fileLines(path: string, shard = 0, shards = 1): Generator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    let rest: Buffer = Buffer.alloc(0);
    let index = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(4 << 20);
      rest.copy(chunk, 0);
      const n = readSync(fd, chunk, rest.length, chunk.length - rest.length, null);
      const size = rest.length + n;
      if (n === 0 && rest.length === chunk.length) throw new RangeError(`${path}: a line longer than ${chunk.length} bytes`);
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(10, start);
        if (nl < 0 || nl >= size) break;
        if (index++ % shards === shard) {
          const end = nl > start && chunk[nl - 1] === 13 ? nl - 1 : nl;
          if (end > start) yield chunk.subarray(start, end);
        }
        start = nl + 1;
      }
      rest = chunk.subarray(start, size);
      if (n === 0) break;
    }
    if (rest.length > 0 && index % shards === shard) yield rest;
  } finally {
    closeSync(fd);
  }
}

