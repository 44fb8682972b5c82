// File input (`logwarden replay FILE...`): plain or gzip-compressed access logs,
// or stdin ("-"), through the same parsing as live traffic. Event time comes
// from each line, so a replayed day is detected as it was lived (backtesting).
// Lines may be as nginx writes them to disk (no syslog header) or as a relay
// stored them (with one).
import { forEachLine, openLogStream } from '../../shared/access-log/line-reader.js';
import type { Readable } from 'node:stream';
import type { IngestPipeline } from './pipeline.js';

export interface ReplayResult {
  files: number;
  lines: number;
}

/**
 * Replays files into the pipeline, pausing while it is over its memory bound. Standard
 * input ("-") is read from `stdin` when given (a stream whose first lines were already sampled).
 */
export async function replayFiles(pipeline: IngestPipeline, files: string[], maxLineBytes: number, stdin?: Readable): Promise<ReplayResult> {
  let lines = 0;
  for (const file of files) {
    const stream = file === '-' && stdin ? stdin : await openLogStream(file);
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
