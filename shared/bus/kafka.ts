// The Kafka bus (distributed mode), on kafkajs. Nothing outside this file
// imports kafkajs: kafkajs is in maintenance mode, and swapping the client
// must not touch a service.
// kafkajs is CommonJS with spread exports that Node's ESM loader cannot see as named exports.
import kafkajs from 'kafkajs';
import type { Admin, Consumer, Message, Producer, SASLOptions, LogEntry } from 'kafkajs';
import { Counter } from 'prom-client';
import { LogwardenError } from '../errors.js';
import { componentLogger } from '../log.js';
import { recordLag } from './lag.js';
import { coordinated, coordinatorElsewhere, partitionsMissing, sequenceLost } from './kafka-failover.js';
import { COMPRESSION_TYPES, registerCodecs, type Compression } from './codecs.js';
import { partitionForKey } from './murmur2.js';
import { RdkafkaProducer } from './rdkafka-producer.js';
import { registry } from '../metrics.js';
import { BUS_ERRORS, BusRefusedError, BusUnavailableError } from './errors.js';
import { publishError, wrap } from './kafka-errors.js';
import { afterStored, fetchSizes, requestEnds, SendBudgets } from './kafka-requests.js';
import type { Bus, IncomingBatch, OutgoingMessage, PartitionOffset, SubscribeOptions, Subscription, TopicPartition, TopicSpec } from './types.js';

const { Kafka, Partitioners, logLevel: KafkaLogLevel, KafkaJSProtocolError } = kafkajs;
const log = componentLogger('bus.kafka');
const consumerCrashes = new Counter({
  name: 'logwarden_bus_consumer_crashes_total',
  help: 'Consumers that gave up on the broker after their retries (each restarts itself unless closed)',
  labelNames: ['group'],
  registers: [registry],
});

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  acks: 'all' | 1 | 0;
  compression: Compression;
  replicationFactor: number;
  /** min.insync.replicas of the topics ensureTopics creates; the broker's default when absent. */
  minInsyncReplicas?: number;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** How long a consumer may go without heartbeat before the group evicts it. */
  sessionTimeoutMs?: number;
  /** Retries of a consumer's failing request (backoff from 100 ms, doubling) before it crashes and restarts itself; 10 by default (~1 min). */
  consumerRetries?: number;
  /** The client publish() uses: kafkajs (the default) or librdkafka (rdkafka-producer.ts; consumers stay on kafkajs). */
  producerClient?: 'kafkajs' | 'librdkafka';
}

const levelMap: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

function toHeaders(h: Record<string, string | Buffer | (string | Buffer)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  private readonly kafka: kafkajs.Kafka;
  private producer: Producer | undefined;
  private producerReady: Promise<void> | undefined;
  private admin: Admin | undefined;
  private adminReady: Promise<void> | undefined;
  private readonly consumers = new Set<KafkaSubscription>();
  /** Per topic, the end of the sends queued so far (see publish). */
  private readonly sending = new Map<string, Promise<void>>();
  private readonly budgets = new SendBudgets();
  private readonly coordinatorChecks = new Map<string, { at: number; answer: Promise<boolean> }>();
  private readonly rdkafka: RdkafkaProducer | undefined;

  constructor(private readonly opts: KafkaBusOptions) {
    const codecs = registerCodecs();
    const missing = opts.compression === 'lz4' || opts.compression === 'zstd' ? codecs.get(opts.compression) : true;
    if (missing !== true) throw new LogwardenError(BUS_ERRORS.LW_BUS_CODEC_UNAVAILABLE, `kafka.compression ${opts.compression}: the codec does not load on this platform (${String(missing)}); use gzip or none`);
    if (opts.producerClient === 'librdkafka') this.rdkafka = new RdkafkaProducer(opts);
    const sasl: SASLOptions | undefined = opts.sasl
      ? { mechanism: opts.sasl.mechanism, username: opts.sasl.username, password: opts.sasl.password }
      : undefined;
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      ssl: opts.ssl ?? false,
      ...(sasl ? { sasl } : {}),
      // Retries at most 2 s apart (~33 s in all, as 8 doubling ones): a send to a lost leader goes to the new one soon after the move.
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 20 },
      logLevel: KafkaLogLevel.WARN,
      logCreator:
        () =>
        ({ level, label, log: entry }: LogEntry) => {
          const { message, ...rest } = entry;
          log[levelMap[level] ?? 'info']({ kafkajs: label, ...rest }, message);
        },
    });
  }

  private async getAdmin(): Promise<Admin> {
    if (!this.admin) {
      this.admin = this.kafka.admin();
      this.adminReady = this.admin.connect();
    }
    try {
      await this.adminReady;
    } catch (err) {
      this.admin = undefined;
      throw wrap(err, 'connecting the Kafka admin client');
    }
    return this.admin;
  }

  private async getProducer(): Promise<Producer> {
    if (!this.producer) {
      this.producer = this.kafka.producer({
        // Kafka's placement (murmur2 of the key; kafkajs's round robin without one) kept on the record, not in a WeakMap (~1 µs a record): send() checks each partition answered, a retry keeps it.
        createPartitioner: () => {
          const spread = Partitioners.DefaultPartitioner();
          return (args) => (args.message.partition ??= args.message.key === null || args.message.key === undefined ? spread(args) : partitionForKey(args.message.key, args.partitionMetadata.length));
        },
        allowAutoTopicCreation: false,
        // Idempotence makes broker-side retries safe (no duplicates from a retried send); it needs acks=all.
        idempotent: this.opts.acks === 'all',
        maxInFlightRequests: this.opts.acks === 'all' ? 5 : undefined,
      });
      this.producerReady = this.producer.connect();
    }
    try {
      await this.producerReady;
    } catch (err) {
      this.producer = undefined;
      throw wrap(err, 'connecting the Kafka producer');
    }
    return this.producer;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions,
          replicationFactor: this.opts.replicationFactor,
          configEntries: [
            { name: 'cleanup.policy', value: s.compacted ? 'compact' : 'delete' },
            ...(s.retentionMs !== undefined ? [{ name: 'retention.ms', value: String(s.retentionMs) }] : []),
            ...(this.opts.minInsyncReplicas !== undefined ? [{ name: 'min.insync.replicas', value: String(this.opts.minInsyncReplicas) }] : []),
          ],
        })),
      });
    } catch (err) {
      // Another process may have created it between listTopics and createTopics; and on a
      // loaded broker the new topics' metadata can lag the creation ("does not host this
      // topic-partition"): they exist, the controller has not told every listener yet.
      for (let attempt = 1; ; attempt++) {
        const left = new Set(await admin.listTopics());
        if (!missing.some((s) => !left.has(s.topic))) return;
        if (attempt >= 5) throw wrap(err, 'creating topics');
        await new Promise((resolve) => setTimeout(resolve, 400 * attempt));
      }
    }
  }

  async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    if (this.rdkafka) return this.rdkafka.publish(topic, messages); // in order per partition across its own retries: no queue of sends
    if (this.opts.acks !== 'all') return this.sendAll(topic, messages);
    // The idempotent producer: one send per topic at a time, so that no two requests for a
    // partition are in flight when its leader is lost (kafkajs takes a failed request's batch
    // numbers back: the next would be OUT_OF_ORDER_SEQUENCE_NUMBER; see kafka-failover.ts).
    const run = (this.sending.get(topic) ?? Promise.resolve()).then(() => this.sendAll(topic, messages));
    const tail = run.catch(() => undefined);
    this.sending.set(topic, tail);
    void tail.then(() => this.sending.get(topic) === tail && this.sending.delete(topic));
    return run;
  }

  /** The publish as kafkajs sends within the topic's budget, one after the other (see kafka-requests.ts). */
  private async sendAll(topic: string, messages: OutgoingMessage[]): Promise<void> {
    const budget = await this.budgets.of(topic, () => this.getAdmin());
    let start = 0;
    for (const end of requestEnds(messages, budget)) {
      try {
        await this.send(topic, start === 0 && end === messages.length ? messages : messages.slice(start, end));
      } catch (err) {
        if (end - start > 1 && err instanceof BusRefusedError) this.budgets.forget(topic);
        throw afterStored(err, start);
      }
      start = end;
    }
  }

  /**
   * One kafkajs send, then every partition its records went to must have answered: kafkajs
   * can resolve a send without sending the records of a partition whose leader moved to a
   * broker that had answered for others (see kafka-failover.ts). Those records are sent
   * again to their partition (the producer's metadata was refreshed by the failed attempt).
   */
  private async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    const producer = await this.getProducer();
    const acks = this.opts.acks === 'all' ? -1 : this.opts.acks;
    const now = Date.now();
    let pending: Message[] = messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers, timestamp: String(Math.min(m.timestamp ?? now, now)) }));
    try {
      for (let round = 1; ; round++) {
        const answered = await producer.send({ topic, acks, compression: COMPRESSION_TYPES[this.opts.compression], messages: pending });
        if (acks === 0) return;
        const sentTo = pending.map((m) => m.partition ?? -1);
        const missing = new Set(partitionsMissing(sentTo, answered.filter((r) => r.topicName === topic)));
        if (missing.size === 0) return;
        pending = pending.flatMap((m, i) => (missing.has(sentTo[i] ?? -1) ? [{ ...m, partition: (sentTo[i] ?? -1) >= 0 ? sentTo[i] : undefined }] : []));
        log.warn({ topic, partitions: [...missing], records: pending.length, round }, 'send resolved without an answer for some partitions; sending their records again');
        if (round >= 5) throw new BusUnavailableError(`publishing to ${topic}: partitions ${[...missing].join(',')} did not answer after ${round} sends`);
      }
    } catch (err) {
      // A producer retired while this send used it (below): the send goes again on the new one.
      const retired = producer !== this.producer;
      if (err instanceof BusUnavailableError || !(retired || sequenceLost(err))) throw err instanceof BusUnavailableError ? err : publishError(err, `publishing to ${topic}`);
      if (!retired) {
        log.warn({ err, topic }, 'producer batch numbers out of step with the broker; a new producer (id) starts them again');
        this.producer = undefined;
        void producer.disconnect().catch(() => undefined);
      }
      throw new BusUnavailableError(`publishing to ${topic}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** See coordinatorElsewhere (kafka-failover.ts); asked at most once a second per group and address. */
  private coordinatorMoved(groupId: string, broker: string | undefined): Promise<boolean> {
    const key = `${groupId} ${broker}`;
    const cached = this.coordinatorChecks.get(key);
    if (cached && Date.now() - cached.at < 1_000) return cached.answer;
    const answer = coordinatorElsewhere(() => this.getAdmin(), groupId, broker);
    this.coordinatorChecks.set(key, { at: Date.now(), answer });
    return answer;
  }

  async subscribe(opts: SubscribeOptions): Promise<Subscription> {
    const makeConsumer = (restart: (err: Error & { retryTime?: number }) => void): Consumer =>
      this.kafka.consumer({
        groupId: opts.groupId,
        sessionTimeout: this.opts.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: 3_000,
        allowAutoTopicCreation: false,
        ...fetchSizes(opts.fetchBytesPerPartition, opts.accumulate),
        retry: {
          initialRetryTime: 100,
          retries: this.opts.consumerRetries ?? 10,
          // kafkajs asks this only for a crash it would restart from. Its own restart reuses
          // the consumer and is not cancelled by a disconnect while it is joining: a consumer
          // closed then could come back, heartbeating with no handle left to stop it. The
          // subscription restarts with a consumer of its own instead (see KafkaSubscription).
          restartOnFailure: (err) => {
            restart(err);
            return Promise.resolve(false);
          },
        },
      });
    const sub = new KafkaSubscription(makeConsumer, opts, () => this.consumers.delete(sub), (broker) => this.coordinatorMoved(opts.groupId, broker));
    this.consumers.add(sub);
    try {
      await sub.start();
    } catch (err) {
      this.consumers.delete(sub);
      await sub.close().catch(() => undefined);
      throw wrap(err, `subscribing ${opts.groupId}`);
    }
    return sub;
  }

  /**
   * An admin read, retried a few times on the broker's transient answers. kafkajs's admin
   * does not refresh metadata on them: a topic created a moment ago can answer "not the
   * leader" (its leadership not yet propagated), a coordinator just moved "loading".
   */
  private async adminRead<T>(what: string, read: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = await this.getAdmin();
    for (let attempt = 1; ; attempt++) {
      try {
        return await read(admin);
      } catch (err) {
        const transient = err instanceof KafkaJSProtocolError && err.retriable;
        if (!transient || attempt >= 6) throw wrap(err, what);
        log.debug({ err: String(err), attempt }, `${what}: transient broker answer; retrying`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 1_000)));
      }
    }
  }

  committedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    return this.adminRead(`reading committed offsets of ${groupId}`, async (admin) => {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] });
      const parts = res.find((t) => t.topic === topic)?.partitions ?? [];
      // kafkajs answers -1 for a partition without a committed offset.
      return parts.filter((p) => p.offset !== '-1').map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
    });
  }

  endOffsets(topic: string): Promise<PartitionOffset[]> {
    return this.adminRead(`reading end offsets of ${topic}`, async (admin) => {
      const ends = await admin.fetchTopicOffsets(topic);
      return ends.map((e) => ({ partition: e.partition, offset: e.high })).sort((a, b) => a.partition - b.partition);
    });
  }

  offsetsForTimestamp(topic: string, ts: number): Promise<PartitionOffset[]> {
    return this.adminRead(`reading offsets of ${topic} at ${ts}`, async (admin) => {
      const res = await admin.fetchTopicOffsetsByTimestamp(topic, ts);
      // kafkajs answers -1 for "no message at or after ts": that is the log end.
      const ends = await admin.fetchTopicOffsets(topic);
      const endOf = new Map(ends.map((e) => [e.partition, e.high]));
      return res
        .map((r) => ({ partition: r.partition, offset: r.offset === '-1' ? (endOf.get(r.partition) ?? r.offset) : r.offset }))
        .sort((a, b) => a.partition - b.partition);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.close()));
    await Promise.all([this.producer?.disconnect(), this.admin?.disconnect(), this.rdkafka?.close()]);
    this.producer = undefined;
    this.admin = undefined;
  }
}

class KafkaSubscription implements Subscription {
  private owned: TopicPartition[] = [];
  private closed = false;
  private assignGate: Promise<void> | undefined = Promise.resolve();
  private consumer: Consumer;
  /** The current consumer's connect-subscribe-run, while it is under way (close() waits for it). */
  private starting: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly makeConsumer: (restart: (err: Error & { retryTime?: number }) => void) => Consumer,
    private readonly opts: SubscribeOptions,
    private readonly onClose: () => void,
    private readonly elsewhere: (broker: string | undefined) => Promise<boolean>,
  ) {
    this.consumer = this.newConsumer();
  }

  private newConsumer(): Consumer {
    // As kafkajs would: after the crash's own backoff. The crashed consumer is disconnected by then.
    return this.makeConsumer((err) => this.restartIn(err.retryTime ?? 100));
  }

  private restartIn(wait: number): void {
    if (this.closed) return;
    log.warn({ group: this.opts.groupId, retryInMs: wait }, 'restarting the consumer');
    this.restartTimer = setTimeout(() => this.restart(), wait);
  }

  private restart(): void {
    this.restartTimer = undefined;
    if (this.closed) return;
    this.consumer = this.newConsumer();
    this.starting = this.run(this.consumer).catch((err: unknown) => {
      // connect/subscribe refused (the broker still away): try again, as a crash would.
      log.error({ err, group: this.opts.groupId }, 'consumer restart failed');
      if (!this.closed) this.restartTimer = setTimeout(() => this.restart(), 5_000);
    });
  }

  start(): Promise<void> {
    this.starting = this.run(this.consumer);
    return this.starting;
  }

  private async run(consumer: Consumer): Promise<void> {
    const { opts } = this;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (this.closed || consumer !== this.consumer) {
        // A join that completed after close() (kafkajs retries a join inside its fetch loop
        // even once stopped). Leave again, a macrotask later: kafkajs marks the consumer
        // running only after this event, and a stop before that would skip the leave.
        log.warn({ group: opts.groupId }, 'consumer rejoined after close; leaving');
        setTimeout(() => void consumer.disconnect().catch(() => undefined), 0);
        return;
      }
      const assigned: TopicPartition[] = [];
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
        for (const partition of partitions) assigned.push({ topic, partition });
      }
      assigned.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
      this.owned = assigned;
      // Which member holds which partitions is what an operator asks first after a member died.
      log.info({ group: opts.groupId, partitions: assigned.map((p) => `${p.topic}/${p.partition}`) }, 'partitions assigned');
      // Batches wait for onAssign (e.g. a detector rebuilding state) before they are handled.
      this.assignGate = this.setUp(assigned);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      consumerCrashes.inc({ group: opts.groupId });
      log.error({ err: e.payload.error, group: opts.groupId }, 'consumer crashed');
      // kafkajs asks restartOnFailure only after a retriable crash (consumer/index.js:267-273); after
      // another (e.g. a handler's non-retriable error) the consumer stays stopped: the group would stall.
      if (consumer === this.consumer && this.restartTimer === undefined) this.restartIn(1_000);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? false });
    const max = opts.maxBatchSize ?? 1000;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        // Nothing is handled (or committed) after close(), whatever kafkajs still delivers.
        if (this.closed) return;
        // A setup that failed (the broker gone while it read) is run again before this batch.
        this.assignGate ??= this.setUp(this.owned);
        await this.assignGate;
        const all = batch.messages;
        for (let i = 0; i < all.length && payload.isRunning() && !payload.isStale(); i += max) {
          const chunk = all.slice(i, i + max);
          const last = chunk[chunk.length - 1];
          if (!last) break;
          const incoming: IncomingBatch = {
            topic: batch.topic,
            partition: batch.partition,
            nextOffset: (BigInt(last.offset) + 1n).toString(),
            heartbeat: () => payload.heartbeat(),
            messages: chunk.map((m) => ({
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key,
              value: m.value ?? Buffer.alloc(0),
              headers: toHeaders(m.headers),
              timestamp: Number(m.timestamp),
            })),
          };
          // A throw here leaves the offset unresolved: kafkajs seeks back and redelivers.
          await opts.onBatch(incoming);
          payload.resolveOffset(last.offset);
          // Commit right after the handler succeeded (offsets never run ahead of stored data), through coordinated(): a lost coordinator makes the group rejoin.
          const topics = [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: incoming.nextOffset }] }];
          const at = { groupId: opts.groupId, running: () => !this.closed && payload.isRunning(), elsewhere: this.elsewhere };
          await coordinated(() => payload.commitOffsetsIfNecessary({ topics }), at);
          recordLag(opts.groupId, batch.topic, batch.partition, BigInt(batch.highWatermark), BigInt(incoming.nextOffset));
          await coordinated(() => payload.heartbeat(), { ...at, retry: false });
        }
      },
    });
  }

  /**
   * Runs onAssign for a new assignment. Its failure is not left unhandled (a process
   * would die of it with no batch waiting): it is logged, the batch waiting on it fails
   * and is redelivered, and the next batch runs the setup again.
   */
  private setUp(assigned: TopicPartition[]): Promise<void> {
    const opts = this.opts;
    if (!opts.onAssign) return Promise.resolve();
    const gate: Promise<void> = Promise.resolve()
      .then(() => opts.onAssign?.(assigned.map((p) => ({ ...p }))))
      .catch((err: unknown) => {
        log.warn({ err, group: this.opts.groupId }, 'partition setup failed; it runs again before the next batch');
        if (this.assignGate === gate) this.assignGate = undefined;
        throw err;
      });
    gate.catch(() => undefined);
    return gate;
  }

  seek(topic: string, partition: number, offset: string): void {
    if (!this.owned.some((p) => p.topic === topic && p.partition === partition)) {
      throw new LogwardenError(BUS_ERRORS.LW_BUS_NOT_ASSIGNED, `seek: ${topic}/${partition} is not assigned to this member`);
    }
    this.consumer.seek({ topic, partition, offset });
  }

  assignment(): TopicPartition[] {
    return this.owned.map((p) => ({ ...p }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    // A disconnect while kafkajs is still starting the consumer (connecting, joining) does not
    // stop that start: it would finish later, running and heartbeating. Let it end first —
    // it fails once its retries run out if the broker stays away.
    await this.starting.catch(() => undefined);
    await this.consumer.disconnect();
    this.onClose();
  }
}
