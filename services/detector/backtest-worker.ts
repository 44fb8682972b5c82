// One thread of a parallel backtest: detects the lines of its shard's clients,
// which the thread reading the log sends in batches (backtest-feed.ts).
import { on } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { LineDecoder } from '../../shared/access-log/decode.js';
import type { FeedMessage, FeedReply, FeedWorkerData } from './backtest-feed.js';
import { ShardRun } from './backtest-shard.js';

const { config, formats, dns } = workerData as FeedWorkerData;
const port = parentPort as NonNullable<typeof parentPort>;
const run = new ShardRun(config, dns);
const decoders = formats.map((f) => new LineDecoder(config, { format: f.format, fileWrapper: f.fileWrapper }));
const ack: FeedReply = { kind: 'ack' };

// Batches are detected one after another: a line may wait for a crawler verdict before the next.
for await (const [msg] of on(port, 'message') as AsyncIterable<[FeedMessage]>) {
  if (msg.kind === 'end') break;
  const bytes = Buffer.from(msg.bytes, 0, msg.length);
  const decoder = decoders[msg.file] as LineDecoder;
  for (let pos = 0; pos < bytes.length; ) {
    const lf = bytes.indexOf(10, pos);
    const wait = run.line(bytes.subarray(pos, lf), decoder);
    if (wait) await wait;
    pos = lf + 1;
  }
  port.postMessage(ack);
}
const reply: FeedReply = { kind: 'partial', partial: await run.finish(0) };
port.postMessage(reply);
port.close();
