// The reading thread's side of a parallel backtest: one worker thread per
// shard past the first, fed the lines of its clients in batches. The log is
// read, split and hashed once, in the thread that reads it (it also detects
// shard 0). Before, each worker read, split and hashed every line to keep its
// share (a quarter of a two-shard worker's time, measured in one thread),
// gunzipped a compressed log again, and the calling thread sat idle.
import { Worker } from 'node:worker_threads';
import type { FileFormat } from '../../shared/access-log/detect-format.js';
import type { Config } from '../../shared/config/load.js';
import { LogwardenError } from '../../shared/errors.js';
import type { BacktestPartial } from './backtest-shard.js';
import { DETECTOR_ERRORS } from './errors.js';

/** What a worker is started with: which shard it is does not matter, the reader sends it only its shard's lines. */
export interface FeedWorkerData {
  config: Config;
  formats: FileFormat[];
  dns: boolean;
}

/** Reading thread → worker: the lines of one file, each ended by LF; then `end`. */
export type FeedMessage = { kind: 'lines'; file: number; bytes: ArrayBuffer; length: number } | { kind: 'end' };

/** Worker → reading thread: a batch detected (`ack`), then the shard's partial. */
export type FeedReply = { kind: 'ack' } | { kind: 'partial'; partial: BacktestPartial };

/** A batch is sent when it holds this much (about a thousand lines). */
const BATCH_BYTES = 256 * 1024;

/** Batches a worker may have unacknowledged before the reader waits: bounds what is queued in memory. */
const IN_FLIGHT = 8;

export class FedShard {
  private readonly worker: Worker;
  private bytes = new ArrayBuffer(BATCH_BYTES);
  private batch = Buffer.from(this.bytes);
  private used = 0;
  private file = 0;
  private inFlight = 0;
  private failure: Error | undefined;
  private resume: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private readonly result: Promise<BacktestPartial>;

  constructor(data: FeedWorkerData) {
    this.worker = new Worker(new URL('./backtest-worker.js', import.meta.url), { workerData: data });
    this.result = new Promise<BacktestPartial>((resolve, reject) => {
      const fail = (err: Error): void => {
        this.failure ??= err;
        this.resume?.reject(err);
        this.resume = undefined;
        reject(err);
      };
      this.worker.on('message', (m: FeedReply) => {
        if (m.kind === 'partial') return resolve(m.partial);
        this.inFlight--;
        const r = this.resume;
        this.resume = undefined;
        r?.resolve();
      });
      this.worker.once('error', fail);
      this.worker.once('exit', (code) => {
        fail(new LogwardenError(DETECTOR_ERRORS.LW_DETECTOR_BACKTEST_WORKER_FAILED, `backtest worker exited with ${code} before its shard's result`));
      });
    });
    // Awaited by partial(); until then a failure surfaces through append().
    this.result.catch(() => undefined);
  }

  /** Appends one line of file number `file`. A promise when the worker is IN_FLIGHT batches behind. */
  append(file: number, line: Buffer): Promise<void> | undefined {
    if (file !== this.file || this.used + line.length + 1 > this.batch.length) {
      const wait = this.send();
      this.file = file;
      if (line.length + 1 > this.batch.length) this.fresh(line.length + 1);
      if (wait) return wait.then(() => this.add(line));
    }
    this.add(line);
    return undefined;
  }

  /** Sends what is batched, and tells the worker the log has ended. Resolves to the shard's partial. */
  async partial(): Promise<BacktestPartial> {
    if (this.failure) throw this.failure;
    await this.send();
    const end: FeedMessage = { kind: 'end' };
    this.worker.postMessage(end);
    return this.result;
  }

  /** Stops the worker (a run that failed elsewhere). */
  async stop(): Promise<void> {
    await this.worker.terminate();
  }

  private fresh(size: number): void {
    this.bytes = new ArrayBuffer(size);
    this.batch = Buffer.from(this.bytes);
    this.used = 0;
  }

  private add(line: Buffer): void {
    line.copy(this.batch, this.used);
    this.batch[this.used + line.length] = 10;
    this.used += line.length + 1;
  }

  /** Sends the batch (the buffer moves to the worker); a promise while too many are unacknowledged. */
  private send(): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.used > 0) {
      const msg: FeedMessage = { kind: 'lines', file: this.file, bytes: this.bytes, length: this.used };
      this.worker.postMessage(msg, [this.bytes]);
      this.inFlight++;
      this.fresh(BATCH_BYTES);
    }
    if (this.inFlight < IN_FLIGHT) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.resume = { resolve, reject };
    });
  }
}
