// What kafka.ts adds to kafkajs for a cluster that loses a broker (kept apart from it;
// no kafkajs import: kafkajs's errors are told by their name, type and fields).
//
// Three kafkajs 2.2.4 defects, found by services/faults/broker-loss.fault.ts (a fourth, a consumer
// kafkajs never restarts after a non-retriable crash, is handled in kafka.ts):
// - producer/sendMessages.js keeps one response per broker across its retries and sends
//   again only to brokers without one (lines 64-65): the records of a partition whose
//   leader moved to a broker that had already answered for other partitions are never sent,
//   and send() resolves. partitionsMissing() names such partitions from send()'s answer.
// - consumer/offsetManager/index.js getCoordinator() (lines 88-93) looks the lost
//   coordinator up again by its node id, and commitOffsets() (lines 283-287) only refreshes
//   metadata on NOT_COORDINATOR_FOR_GROUP: commits (retried by consumer/runner.js
//   commitOffsets) keep going to the lost broker for minutes. A group rediscovers its
//   coordinator only on a rejoin (consumerGroup.js JOIN, cluster findGroupCoordinator),
//   which kafkajs does for an error isRebalancing() (errors.js) accepts.
// - producer/sendMessages.js numbers a partition's batches as it builds each request and takes
//   the numbers back when that request fails (lines 85-89, 106-110): with two requests for a
//   partition in flight when its leader is lost, the next batch goes out with a number the new
//   leader does not expect (OUT_OF_ORDER_SEQUENCE_NUMBER; the records were dead-lettered as refused).

/** The __consumer_offsets partition that holds `groupId` (its coordinator leads it): Kafka's Utils.abs(groupId.hashCode()) % partitions. */
export function offsetsPartitionOf(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(h, 31) + groupId.charCodeAt(i)) | 0;
  return (h & 0x7fffffff) % partitions;
}

/** The partitions records were put in (by the partitioner) that have no answer in a send's result. */
export function partitionsMissing(sentTo: Iterable<number>, answered: Array<{ partition: number; errorCode?: number }>): number[] {
  const ok = new Set(answered.filter((r) => (r.errorCode ?? 0) === 0).map((r) => r.partition));
  return [...new Set(sentTo)].filter((p) => !ok.has(p)).sort((a, b) => a - b);
}

/** How a failed commit or heartbeat concerns the group coordinator. */
export type CoordinatorFault =
  /** A broker said it is not (or no longer) the coordinator, or the coordinator's node left the cluster: look it up again. */
  | { kind: 'moved' }
  /** The coordinator's broker did not answer (the address): moved if the cluster now names another. */
  | { kind: 'unreachable'; broker: string | undefined }
  | { kind: 'other' };

const MOVED_TYPES = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE']);

export function coordinatorFault(err: unknown): CoordinatorFault {
  let unreachable: CoordinatorFault | undefined;
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth <= 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { type, name, broker } = e as { type?: string; name?: string; broker?: string };
    if (type !== undefined && MOVED_TYPES.has(type)) return { kind: 'moved' };
    if (name === 'KafkaJSBrokerNotFound') return { kind: 'moved' };
    if (!unreachable && name !== undefined && /Connection|RequestTimeout/.test(name)) unreachable = { kind: 'unreachable', broker };
  }
  return unreachable ?? { kind: 'other' };
}

/**
 * An error kafkajs's consumer treats as a rebalance (errors.js isRebalancing): thrown from
 * eachBatch, the runner rejoins the group in place (same member id), finding the coordinator
 * anew; the uncommitted batch is fetched again (handlers are idempotent over a redelivery).
 */
export function rejoinError(groupId: string, cause: unknown): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  return Object.assign(new Error(`${groupId}: the group coordinator moved (${message}); rejoining`, { cause }), { type: 'NOT_COORDINATOR_FOR_GROUP' });
}

const REJOIN_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP']);

export interface CoordinatedOptions {
  groupId: string;
  /** False once the consumer stops or the subscription closes: the failure is thrown as it is. */
  running: () => boolean;
  /** Whether `broker` left the cluster and another coordinates the group (false when it cannot tell, e.g. no broker answers). */
  elsewhere: (broker: string | undefined) => Promise<boolean>;
  /** How long to keep trying a coordinator that does not answer (as kafkajs's own retries, ~2 min). */
  giveUpMs?: number;
  /** Retry at all (a commit is retried; a heartbeat is not: the runner sends the next). */
  retry?: boolean;
}

/**
 * A commit or heartbeat to the group coordinator. A coordinator that moved (said so, or its
 * broker is gone while the cluster names another) makes the group rejoin (rejoinError),
 * instead of kafkajs's retries by node id to the lost broker. A coordinator that does not
 * answer while the cluster still counts it or cannot name another (the only broker down) is
 * retried with a bounded backoff, so a commit goes through as soon as the broker is back.
 */
export async function coordinated(op: () => Promise<void>, opts: CoordinatedOptions): Promise<void> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const fault = coordinatorFault(err);
      if (fault.kind === 'moved' || (fault.kind === 'unreachable' && (await opts.elsewhere(fault.broker)))) throw rejoinError(opts.groupId, err);
      const { type, retriable } = err as { type?: string; retriable?: boolean };
      const transient = fault.kind === 'unreachable' || (retriable === true && !REJOIN_TYPES.has(type ?? ''));
      if (!transient || opts.retry === false || !opts.running() || Date.now() - started > (opts.giveUpMs ?? 120_000)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)));
    }
  }
}

/** The idempotent producer's batch numbers out of step with the broker's (see KafkaBus.publish): a new producer id starts them again. */
export function sequenceLost(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth <= 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { type, name } = e as { type?: string; name?: string };
    if (name === 'KafkaJSProtocolError' && /^(OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH)$/.test(type ?? '')) return true;
  }
  return false;
}

/** What coordinatorElsewhere asks of kafkajs's admin client. */
export interface ClusterView {
  fetchTopicMetadata(o: { topics: string[] }): Promise<{ topics: Array<{ partitions: Array<{ partitionId: number; leader: number }> }> }>;
  describeCluster(): Promise<{ brokers: Array<{ nodeId: number; host: string; port: number }> }>;
}

/**
 * Whether `broker` (host:port) has left the cluster (no longer among its live brokers) and the
 * cluster names another coordinator for `groupId` (the leader of its __consumer_offsets
 * partition); false when it cannot tell within 3 s (e.g. the only broker is down). Until the
 * lost broker is fenced, a rejoin could be sent to it again: kafkajs gives up a join on a
 * connection error (consumerGroup.js joinAndSync bails), and the consumer crashes.
 */
export function coordinatorElsewhere(admin: () => Promise<ClusterView>, groupId: string, broker: string | undefined): Promise<boolean> {
  if (broker === undefined) return Promise.resolve(false);
  const ask = (async (): Promise<boolean> => {
    const view = await admin();
    const partitions = (await view.fetchTopicMetadata({ topics: ['__consumer_offsets'] })).topics[0]?.partitions ?? [];
    if (partitions.length === 0) return false;
    const leader = partitions.find((p) => p.partitionId === offsetsPartitionOf(groupId, partitions.length))?.leader;
    const live = (await view.describeCluster()).brokers;
    const node = live.find((b) => b.nodeId === leader);
    return node !== undefined && !live.some((b) => `${b.host}:${b.port}` === broker);
  })().catch(() => false);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([ask, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 3_000)))]).finally(() => clearTimeout(timer));
}
