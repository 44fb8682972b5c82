// `logwarden replay FILE...`: backfill access logs through the live parsing path
// onto the bus (Kafka in distributed mode), with a summary of what was taken.
// Each file is read in the format given (--format) or detected from its first
// lines; files of one format share one pipeline.
import { describeFormat, resolveFileFormats, type FileFormat } from '../../shared/access-log/detect-format.js';
import { createBus } from '../../shared/bus/index.js';
import type { Config } from '../../shared/config/load.js';
import { IngestPipeline, type PipelineStats } from '../ingester/pipeline.js';
import { replayFiles } from '../ingester/replay.js';
import { topicNames, topicSpecs } from '../../shared/topics.js';

export interface ReplaySummary extends PipelineStats {
  files: number;
  formats: FileFormat[];
  lines: number;
  seconds: number;
  bus: string;
}

/** Adds b's counts into a (numbers, and maps of numbers such as rejections by reason). */
function addStats(a: PipelineStats, b: PipelineStats): void {
  const into = a as unknown as Record<string, number | Record<string, number>>;
  for (const [k, v] of Object.entries(b) as Array<[string, number | Record<string, number>]>) {
    if (typeof v === 'number') into[k] = ((into[k] as number | undefined) ?? 0) + v;
    else {
      const m = (into[k] ??= {}) as Record<string, number>;
      for (const [r, n] of Object.entries(v)) m[r] = (m[r] ?? 0) + n;
    }
  }
}

export async function replay(config: Config, files: string[], format?: string): Promise<ReplaySummary> {
  const bus = createBus(config);
  const topics = topicNames(config.kafka.topic_prefix);
  const t0 = process.hrtime.bigint();
  try {
    await bus.ensureTopics(topicSpecs(config, topics));
    const { formats, stdin } = await resolveFileFormats(config, files, format);
    const groups = new Map<string, FileFormat[]>();
    for (const f of formats) {
      const key = `${f.fileWrapper}\n${f.format}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
    let stats: PipelineStats | undefined;
    let lines = 0;
    for (const group of groups.values()) {
      const first = group[0] as FileFormat;
      const pipeline = new IngestPipeline(config, bus, topics, { format: first.format, fileWrapper: first.fileWrapper });
      const r = await replayFiles(pipeline, group.map((f) => f.file), config.ingest.max_line_bytes, stdin);
      await pipeline.close();
      lines += r.lines;
      if (stats) addStats(stats, pipeline.stats);
      else stats = { ...pipeline.stats };
    }
    return { ...(stats as PipelineStats), files: files.length, formats, lines, seconds: Number(process.hrtime.bigint() - t0) / 1e9, bus: bus.kind };
  } finally {
    await bus.close();
  }
}

export function formatReplay(s: ReplaySummary): string {
  const rejected = Object.entries(s.rejected).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `replayed ${s.files} file(s): ${s.lines} lines in ${s.seconds.toFixed(2)} s (${Math.round(s.lines / Math.max(s.seconds, 1e-9))} lines/s)`,
    ...s.formats.map((f) => `  ${f.file}: ${describeFormat(f)}`),
    `  parsed ${s.parsed}, published ${s.sent} (${s.bus} bus)`,
    `  rejected (dead-letter topic): ${rejected}`,
  ];
  if (s.bus === 'memory') lines.push('  note: no kafka.brokers configured, so the records went to an in-process bus and are gone; set kafka.brokers to backfill.');
  return `${lines.join('\n')}\n`;
}
