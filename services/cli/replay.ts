// `logwarden replay FILE...`: backfill access logs through the live parsing path
// onto the bus (Kafka in distributed mode), with a summary of what was taken.
import { createBus } from '../../shared/bus/index.js';
import type { Config } from '../../shared/config/load.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline, type PipelineStats } from '../ingester/pipeline.js';
import { replayFiles } from '../ingester/replay.js';
import { topicSpecs } from '../runtime.js';

export interface ReplaySummary extends PipelineStats {
  files: number;
  lines: number;
  seconds: number;
  bus: string;
}

export async function replay(config: Config, files: string[]): Promise<ReplaySummary> {
  const bus = createBus(config);
  const topics = topicNames(config.kafka.topic_prefix);
  const t0 = process.hrtime.bigint();
  try {
    await bus.ensureTopics(topicSpecs(config, topics));
    const pipeline = new IngestPipeline(config, bus, topics);
    const r = await replayFiles(pipeline, files, config.ingest.max_line_bytes);
    await pipeline.close();
    return { ...pipeline.stats, ...r, seconds: Number(process.hrtime.bigint() - t0) / 1e9, bus: bus.kind };
  } finally {
    await bus.close();
  }
}

export function formatReplay(s: ReplaySummary): string {
  const rejected = Object.entries(s.rejected).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `replayed ${s.files} file(s): ${s.lines} lines in ${s.seconds.toFixed(2)} s (${Math.round(s.lines / Math.max(s.seconds, 1e-9))} lines/s)`,
    `  parsed ${s.parsed}, published ${s.sent} (${s.bus} bus)`,
    `  rejected (dead-letter topic): ${rejected}`,
  ];
  if (s.bus === 'memory') lines.push('  note: no kafka.brokers configured, so the records went to an in-process bus and are gone; set kafka.brokers to backfill.');
  return `${lines.join('\n')}\n`;
}
