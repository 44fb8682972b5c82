// A replay where most lines are rejected read the file in the wrong format:
// rather than a summary that says "parsed 0" and exits 0, say so, why, and
// which format the file seems to be in.
import { candidateFormats, describeFormat, detectFormat, formatArgument, MAIN_FORMAT, SAMPLE_LINES, type FileFormat } from '../../shared/access-log/detect-format.js';
import { peekLogStream } from '../../shared/access-log/line-reader.js';
import type { Config } from '../../shared/config/load.js';

/** Above this share of rejected lines, a replay fails. */
const MOSTLY = 0.5;

export interface ReplayOutcome {
  lines: number;
  rejected: Record<string, number>;
  /** One rejected line's detail per reason, where known. */
  rejected_sample?: Record<string, string>;
  formats: FileFormat[];
}

/** undefined when the replay read most lines, else what to tell the operator. */
export async function replayVerdict(config: Config, files: readonly string[], r: ReplayOutcome): Promise<string | undefined> {
  const rejected = Object.values(r.rejected).reduce((a, b) => a + b, 0);
  if (r.lines === 0 || rejected <= r.lines * MOSTLY) return undefined;
  const why = Object.entries(r.rejected)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}${r.rejected_sample?.[reason] ? ` (e.g. ${r.rejected_sample[reason]})` : ''}`)
    .join(', ');
  const used = r.formats.map((f) => `${f.file}: ${describeFormat(f)}`).join('; ');
  return `${rejected} of ${r.lines} lines rejected: ${why}.\nRead as ${used}.\n${await suggestion(config, files)}`;
}

async function suggestion(config: Config, files: readonly string[]): Promise<string> {
  const file = files.find((f) => f !== '-');
  if (file !== undefined) {
    const { sample, stream } = await peekLogStream(file, SAMPLE_LINES);
    stream.destroy();
    const best = detectFormat(config, sample);
    if (best && best.parsed > best.sampled * MOSTLY) {
      const wrapped = best.fileWrapper === 'syslog-file' ? ' (behind syslog headers, read as such)' : '';
      return `${file} looks like ${best.format.length > 40 ? 'this log_format' : best.format}${wrapped}: ${best.parsed} of ${best.sampled} sampled lines parse. Try --format ${formatArgument(best.format)}`;
    }
  }
  const label = (f: string): string => (f === MAIN_FORMAT ? 'nginx\'s "main"' : f.length > 40 ? 'the configured log_format' : f);
  const tried = candidateFormats(config).map(label).join(', ');
  return `None of ${tried} reads its first lines: give the log_format that wrote the file, as in nginx.conf: --format '$remote_addr - ...'`;
}
