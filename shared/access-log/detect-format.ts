// Which format an access-log file is in, from its first lines: `logwarden
// replay` reads whatever an operator has (nginx's own combined log, the shipped
// JSON, a relay's file with syslog headers) without being told. Each candidate
// format, and each way a line can be wrapped, is tried on a sample through the
// same decoder the replay then uses; the one that parses most lines wins.
import type { Readable } from 'node:stream';
import type { Config } from '../config/load.js';
import { LineDecoder, type FileWrapper } from './decode.js';
import { COMBINED_FORMAT, validateLogFormat } from './formats/index.js';
import { peekLogStream } from './line-reader.js';

/** nginx's sample `main` format (nginx.conf as nginx.org ships it): combined plus X-Forwarded-For. */
export const MAIN_FORMAT = `${COMBINED_FORMAT} "$http_x_forwarded_for"`;

/** Lines read to decide. */
export const SAMPLE_LINES = 200;

export interface DetectedFormat {
  /** A value of `ingest.log_format` ("json", "combined", or a log_format string). */
  format: string;
  fileWrapper: FileWrapper;
  /** Lines of the sample that parse this way, and lines sampled. */
  parsed: number;
  sampled: number;
}

/** The formats tried, the configured one first (it wins a tie). */
export function candidateFormats(config: Config): string[] {
  return [...new Set([config.ingest.log_format, 'json', 'combined', MAIN_FORMAT])];
}

/** The best reading of `sample`; undefined for an empty sample. */
export function detectFormat(config: Config, sample: readonly Buffer[], candidates: readonly string[] = candidateFormats(config)): DetectedFormat | undefined {
  if (sample.length === 0) return undefined;
  let best: DetectedFormat | undefined;
  for (const format of candidates) {
    if (validateLogFormat(format) !== undefined) continue;
    for (const fileWrapper of ['none', 'syslog-file'] as const) {
      const decoder = new LineDecoder(config, { format, fileWrapper });
      let parsed = 0;
      for (const line of sample) if (decoder.decode(line, 'file', 0).ok) parsed++;
      if (!best || parsed > best.parsed) best = { format, fileWrapper, parsed, sampled: sample.length };
      if (parsed === sample.length) return best;
    }
  }
  return best;
}

export interface FileFormat {
  file: string;
  format: string;
  fileWrapper: FileWrapper;
  /** How the format was chosen. */
  how: 'given' | 'detected' | 'configured';
  /** For `detected`: lines of the sample that parsed, of those sampled. */
  parsed?: number;
  sampled?: number;
}

/**
 * The format of each file: `override` (replay's --format) when given, else the best
 * reading of its first lines, else the configured one. Standard input ("-") can be read
 * only once: its stream, with the sampled lines put back in front, is returned for the replay.
 */
export async function resolveFileFormats(
  config: Config,
  files: readonly string[],
  override?: string,
): Promise<{ formats: FileFormat[]; stdin: Readable | undefined }> {
  const formats: FileFormat[] = [];
  let stdin: Readable | undefined;
  for (const file of files) {
    const { sample, stream } = await peekLogStream(file, SAMPLE_LINES);
    if (file === '-') stdin = stream;
    else stream.destroy();
    const wrapper = (d: DetectedFormat | undefined): FileWrapper => d?.fileWrapper ?? 'none';
    if (override !== undefined) {
      formats.push({ file, format: override, fileWrapper: wrapper(detectFormat(config, sample, [override])), how: 'given' });
      continue;
    }
    const d = detectFormat(config, sample);
    if (d && d.parsed > 0) formats.push({ file, format: d.format, fileWrapper: d.fileWrapper, how: 'detected', parsed: d.parsed, sampled: d.sampled });
    else formats.push({ file, format: config.ingest.log_format, fileWrapper: 'none', how: 'configured' });
  }
  return { formats, stdin };
}

/** A format as an operator passes it back: a keyword bare, a log_format string quoted for a shell. */
export function formatArgument(format: string): string {
  return /^[a-z]+$/.test(format) ? format : `'${format.replace(/'/g, `'\\''`)}'`;
}

/** "combined (detected: 200 of 200 sampled lines parse)", "json (given)". */
export function describeFormat(f: FileFormat): string {
  const name = f.format.length > 40 ? `log_format '${f.format.slice(0, 37)}...'` : f.format;
  const wrapped = f.fileWrapper === 'syslog-file' ? ' behind syslog headers' : '';
  const how = f.how === 'detected' ? `detected: ${f.parsed} of ${f.sampled} sampled lines parse` : f.how;
  return `${name}${wrapped} (${how})`;
}
