// Every topic name in one place. Names carry a configurable prefix so several
// logwarden installations can share one Kafka cluster.
import type { TopicSpec } from './bus/types.js';

export const TOPIC_SUFFIXES = {
  /** AccessRecord, keyed by client IP. */
  access: 'access',
  /** SecurityEvent, keyed by IP. */
  events: 'events',
  /** BlockDecision, keyed by ip/cidr; compacted so a new enforcer reads the full state. */
  decisions: 'decisions',
  /** Control-plane changes (rules, whitelist, routes), keyed by entity id; compacted. */
  control: 'control',
  /** Raw lines the ingester rejected, with the reason in a header. */
  deadLetter: 'dead-letter',
  /** Notice (feed failures, nodes out of sync), keyed by subject; read by the notifier. */
  notices: 'notices',
  /** CrawlerVerdict (a crawler claim verified or refuted by DNS), keyed by IP; stored by the sink in crawler_verdicts. */
  crawlers: 'crawlers',
} as const;

export type TopicKey = keyof typeof TOPIC_SUFFIXES;
export type Topics = Record<TopicKey, string>;

export function topicNames(prefix: string): Topics {
  const out = {} as Topics;
  for (const key of Object.keys(TOPIC_SUFFIXES) as TopicKey[]) out[key] = prefix + TOPIC_SUFFIXES[key];
  return out;
}

/** Topics whose records are state keyed by id: Kafka keeps the latest per key. */
export const COMPACTED: ReadonlySet<TopicKey> = new Set<TopicKey>(['decisions', 'control']);

/**
 * The id of a consumer group shared by every member of one role (detectors,
 * one sink per table). It carries the topic prefix as well as the client id:
 * two installations on one Kafka cluster, told apart by their prefixes, must
 * never join each other's groups (they would split each other's partitions).
 */
export function consumerGroup(kafka: { client_id: string; topic_prefix: string }, role: string): string {
  return `${kafka.topic_prefix}${kafka.client_id}-${role}`;
}

const DAY_MS = 86_400_000;

/** How every topic is created: compacted state topics keep the latest per key; the others a retention. */
export function topicSpecs(config: { kafka: { partitions: number } }, topics: Topics): TopicSpec[] {
  return (Object.keys(topics) as TopicKey[]).map((key) => ({
    topic: topics[key],
    partitions: config.kafka.partitions,
    compacted: COMPACTED.has(key),
    // Access records only need to outlive a detection window (state rebuild) and consumer lag.
    ...(COMPACTED.has(key) ? {} : { retentionMs: key === 'access' ? DAY_MS : 7 * DAY_MS }),
  }));
}
