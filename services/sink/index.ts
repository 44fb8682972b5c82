// The sink service: one TableSink (table-sink.ts) per table, each a consumer
// group of its own. It is the one writer of these tables:
//
//   requests        ← access     only while real-time capture is on
//   events          ← events
//   blocks          ← decisions  the history: every decision, as it came
//   control_blocks  ← decisions  the blocks in force, whoever decided them
//                                (detectors, filters, the API): what the API
//                                lists and what a restart restores
//   crawler_verdicts ← crawlers  what DNS said of clients claiming a crawler
//                                (the latest per address and crawler)
//
// The API does not write control_blocks: it publishes its decision and waits
// until this sink stored it (ControlStore.decide), so its next read sees it.
import { accessRecordCodec, blockDecisionCodec, crawlerVerdictCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { realtimeCapture } from '../../shared/control/settings.js';
import { controlBlockRow, sourceColumns } from '../../shared/control/store.js';
import type { AccessRecord, BlockDecision, CrawlerVerdict, SecurityEvent } from '../../shared/records.js';
import { consumerGroup } from '../../shared/topics.js';
import type { Started, StorageContext } from '../context.js';
import { TableSink } from './table-sink.js';

/** A decision as a row of the blocks history (an expiry is recorded as such, not as a manual unblock). */
export function blockRow(d: BlockDecision): object {
  return {
    ts: d.created_at,
    action: d.action === 'unblock' && d.reason === 'expired' ? 'expire' : d.action,
    ip: d.ip,
    reason: d.reason,
    ...sourceColumns(d.source),
    actor: d.actor || (d.source === 'auto' ? 'detector' : d.source),
    created_at: d.created_at,
    expires_at: d.expires_at,
    deployment: d.deployment,
    escalation_level: d.escalation_level,
  };
}

/** A crawler verdict as a row of crawler_verdicts ('' for an unknown name or deployment). */
export function crawlerVerdictRow(v: CrawlerVerdict): object {
  return { ip: v.ip, crawler: v.crawler, hostname: v.hostname ?? '', status: v.status, ts: v.ts, first_ts: v.first_ts, deployment: v.deployment ?? '' };
}

/** How long the history and statistics sinks let records gather before an insert (not control_blocks: the API waits on it). */
export const SINK_LINGER_MS = 1_000;

export async function start(ctx: StorageContext): Promise<Started> {
  const { config, bus, ch, topics, control } = ctx;
  const common = {
    bus, ch, deadLetterTopic: topics.deadLetter,
    // Also the insert block size of each sink (see table-sink.ts): one setting for both keeps a backlog's batches aligned.
    maxBatchSize: config.clickhouse.sink_batch_rows,
  };
  const group = (table: string): string => consumerGroup(config.kafka, `sink-${table}`);
  const sinks: Array<Pick<TableSink<unknown>, 'start' | 'close'>> = [
    new TableSink<AccessRecord>({
      ...common, topic: topics.access, groupId: group('requests'), table: 'requests',
      codec: accessRecordCodec, toRow: (r) => r, lingerMs: SINK_LINGER_MS, enabled: () => realtimeCapture(config, control),
    }),
    new TableSink<SecurityEvent>({
      ...common, topic: topics.events, groupId: group('events'), table: 'events', codec: securityEventCodec, toRow: (e) => e, lingerMs: SINK_LINGER_MS,
      // Event ids are deterministic: a message the producer wrote twice (a retry around a broker restart) is one event.
      uniqueKey: (e) => e.id,
    }),
    new TableSink<BlockDecision>({ ...common, topic: topics.decisions, groupId: group('blocks'), table: 'blocks', codec: blockDecisionCodec, toRow: blockRow, lingerMs: SINK_LINGER_MS }),
    new TableSink<BlockDecision>({
      ...common, topic: topics.decisions, groupId: group('control-blocks'), table: 'control_blocks', codec: blockDecisionCodec, toRow: controlBlockRow,
    }),
    new TableSink<CrawlerVerdict>({
      ...common, topic: topics.crawlers, groupId: group('crawler-verdicts'), table: 'crawler_verdicts', codec: crawlerVerdictCodec, toRow: crawlerVerdictRow, lingerMs: SINK_LINGER_MS,
    }),
  ];
  const running: typeof sinks = [];
  const stop = async (): Promise<void> => {
    // Each sink leaves its own group: none waits for another's last batch.
    await Promise.all(running.map((s) => s.close()));
  };
  try {
    for (const sink of sinks) {
      await sink.start();
      running.push(sink);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
