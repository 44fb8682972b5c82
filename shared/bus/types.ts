// The bus contract. Services talk to this interface, never to a Kafka client,
// so the client (kafkajs today, in maintenance mode) can be swapped without
// touching them. Two implementations: KafkaBus (distributed mode) and
// MemoryBus (embedded mode); bus.contract.test.ts runs the same tests on both.
//
// Guarantees every implementation gives:
// - Messages with the same key land on the same partition (Kafka's murmur2
//   partitioner, so both buses place a key identically).
// - Within a partition, delivery is in offset order.
// - A consumer group's members split the partitions between them; a
//   partition is delivered to one member at a time.
// - Offsets advance only when onBatch resolves: at-least-once. If onBatch
//   throws, the same messages are delivered again (after a backoff); nothing is
//   skipped.
// - Committed offsets survive the consumer: a new member of the group resumes
//   after the last committed message.

export interface OutgoingMessage {
  /** Partition key (the client IP for access records). null: spread round-robin. */
  key: string | Buffer | null;
  value: Buffer;
  headers?: Record<string, string>;
  /**
   * Event time, epoch ms (Kafka CreateTime): what seek-by-timestamp searches. Default: now.
   * A time after the publish is stored as the publish's time: no record is created in the
   * future, and Kafka 4 refuses records over an hour ahead (message.timestamp.after.max.ms),
   * which would hold a detector's results forever.
   */
  timestamp?: number;
}

export interface BusMessage {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit; kept as decimal strings. */
  offset: string;
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

export interface IncomingBatch {
  topic: string;
  partition: number;
  messages: BusMessage[];
  /** Offset after the last message of the batch: what is committed when onBatch resolves. */
  nextOffset: string;
  /**
   * Keeps this member in its group while onBatch waits long (Kafka: the
   * coordinator evicts a member silent for kafka.session_timeout, and kafkajs
   * heartbeats only between batches). Call it every few seconds while waiting;
   * it throws when the group is rebalancing: let that propagate. Both buses
   * set it; a batch built by hand (a unit test) may not.
   */
  heartbeat?(): Promise<void>;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface PartitionOffset {
  partition: number;
  offset: string;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Keep only the latest message per key (decisions, control plane). */
  compacted?: boolean;
  /** Delete messages older than this (Kafka retention.ms). */
  retentionMs?: number;
}

export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts. Default false (only new messages). */
  fromBeginning?: boolean;
  /** Largest batch handed to onBatch. Default 1000. */
  maxBatchSize?: number;
  /**
   * Most bytes of one partition a fetch brings (Kafka's max.partition.fetch.bytes;
   * default 1 MiB). It caps a batch as much as maxBatchSize does: a consumer whose
   * cost is per batch (a sink: an insert each) raises it, so that when behind it
   * catches up in large batches instead of 1 MiB ones.
   */
  fetchBytesPerPartition?: number;
  /**
   * Let a fetch wait up to `waitMs` for `bytes` to arrive (Kafka's fetch.max.wait.ms and
   * fetch.min.bytes) instead of answering with the first record: a consumer that pays per
   * batch handles fewer, larger ones when records trickle in. Kafka only; the in-process
   * bus delivers at once.
   */
  accumulate?: { bytes: number; waitMs: number };
  onBatch(batch: IncomingBatch): Promise<void>;
  /** Partitions this member now owns (after every rebalance), before their first batch. */
  onAssign?(partitions: TopicPartition[]): Promise<void> | void;
}

export interface Subscription {
  /** Next delivery of this partition starts at `offset` (must be owned by this member). */
  seek(topic: string, partition: number, offset: string): void;
  /** Partitions this member owns now. */
  assignment(): TopicPartition[];
  close(): Promise<void>;
}

export interface Bus {
  readonly kind: 'kafka' | 'memory';
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  /** Resolves once the messages are stored with the configured acks. */
  publish(topic: string, messages: OutgoingMessage[]): Promise<void>;
  subscribe(opts: SubscribeOptions): Promise<Subscription>;
  /** Per partition, the group's committed offset (the next message it will read); absent when none. */
  committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>;
  /** Per partition, the offset the next message will get (the log end): lag = end − committed. */
  endOffsets(topic: string): Promise<PartitionOffset[]>;
  /** Per partition, the first offset whose timestamp is ≥ ts (the log end when none). */
  offsetsForTimestamp(topic: string, ts: number): Promise<PartitionOffset[]>;
  close(): Promise<void>;
}

export { BusRefusedError, BusUnavailableError, isBusUnavailable } from './errors.js';
