// A detector shard, in a worker thread of its own (a piscina pool of one
// thread per shard: piscina balances by load, but per-IP state must stay with
// the thread that owns the IP, so the service routes by hash(ip) % shards).
//
//   main thread: consume batch → route records by key → shard pools
//   shard thread: decode Avro → DetectionEngine → events + decisions
//
// Tasks carry whole batches as one transferred ArrayBuffer (the records'
// Avro bytes end to end) plus their boundaries, never one record.
import { workerData } from 'node:worker_threads';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import type { CrawlersConfig } from '../../shared/config/types.js';
import type { BlockDecision, CrawlerVerdict, SecurityEvent } from '../../shared/records.js';
import { VerdictReporter } from './crawlers/report.js';
import { CrawlerVerifier, type VerifierStats } from './crawlers/verify.js';
import { DetectionEngine, type EngineConfig, type EngineStats } from './engine.js';

export interface ShardTask {
  /** Concatenated Confluent-framed AccessRecords. */
  values?: ArrayBuffer;
  /** End offset of each record in `values`. */
  ends?: Uint32Array;
  /** The bus partition the records come from: lateness is judged per partition. */
  stream?: number;
  /** Advance the clock to at least this event time (idle streams follow the wall clock). */
  tick?: number;
  /** Flush every pending aggregate (shutdown). */
  flushAll?: boolean;
  /** Decisions from the decisions topic (any source), applied before the records. */
  decisions?: BlockDecision[];
  /**
   * Rebuilding state after a partition moved here: the records are counted,
   * but what they trigger was already published by the previous owner.
   */
  silent?: boolean;
}

export interface ShardResult {
  events: SecurityEvent[];
  decisions: BlockDecision[];
  /** The shard's clock (newest event time) after the task. */
  now: number;
  stats: EngineStats;
  undecodable: number;
  /** The shard's crawler verifier, when there is one (its metrics live in this thread's registry, which nothing serves). */
  crawlers?: VerifierStats;
  /** Crawler verdicts reached since the last task, to publish (crawlers/report.ts), and how many its bound dropped. */
  verdicts?: { verdicts: CrawlerVerdict[]; dropped: number };
}

const data = workerData as { engine: EngineConfig; crawlers?: CrawlersConfig };
// One verifier per shard: shards own disjoint clients, so their caches never overlap. Its DNS
// answers arrive on this thread's event loop between tasks (the pool runs with atomics: 'async').
// Its verdicts are reported once per address and crawler (crawlers/report.ts), as soon as a lookup ends.
const lookups: { settled?: (ip: string) => void } = {};
const verifier = data.crawlers?.enabled ? new CrawlerVerifier({ ...data.crawlers, onLookup: (ip) => lookups.settled?.(ip) }) : undefined;
const reporter = verifier && data.crawlers ? new VerdictReporter(verifier, data.crawlers) : undefined;
if (reporter) lookups.settled = (ip) => reporter.settled(ip);
const engine = new DetectionEngine(data.engine, reporter);

/** What every result carries besides events and decisions: the verifier's stats and the verdicts to publish. */
function crawlerParts(): Pick<ShardResult, 'crawlers' | 'verdicts'> {
  return verifier && reporter ? { crawlers: verifier.stats(), verdicts: reporter.drain() } : {};
}

export default function run(task: ShardTask): ShardResult {
  let undecodable = 0;
  for (const d of task.decisions ?? []) engine.applyDecision(d);
  if (task.values && task.ends) {
    const buf = Buffer.from(task.values);
    let start = 0;
    for (const end of task.ends) {
      try {
        engine.process(accessRecordCodec.decode(buf.subarray(start, end)), task.stream ?? 0);
      } catch {
        // The sink dead-letters undecodable records; detection only counts them.
        undecodable++;
      }
      start = end;
    }
  }
  if (task.silent) {
    engine.drain();
    // A verdict is no counted state: the previous owner may have published it too, and a second copy replaces the first.
    return { events: [], decisions: [], now: engine.now(), stats: engine.snapshot(), undecodable, ...crawlerParts() };
  }
  engine.tick(Math.max(engine.now(), task.tick ?? 0));
  if (task.flushAll) engine.flushAll();
  const out = engine.drain();
  return { ...out, now: engine.now(), stats: engine.snapshot(), undecodable, ...crawlerParts() };
}
