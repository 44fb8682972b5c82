// The errors of the message bus (Kafka or the in-memory bus). The one callers
// branch on is LW_BUS_UNAVAILABLE: the broker is down or unreachable, so the
// same call may succeed later (retry, keep the offsets); anything else is a
// refused request or a misuse, which retrying repeats.
import { def, defineErrors, LogwardenError } from '../errors.js';

export const BUS_ERRORS = defineErrors('bus', {
  LW_BUS_UNAVAILABLE: def('LW_BUS_UNAVAILABLE', 'the broker is down or unreachable; retry later', { retryable: true }),
  LW_BUS_REFUSED: def('LW_BUS_REFUSED', 'the bus refused the request itself (a message over the topic\'s size limit, an invalid or unknown topic): sent again, it is refused again'),
  LW_BUS_CODEC_UNAVAILABLE: def('LW_BUS_CODEC_UNAVAILABLE', 'kafka.compression names a codec whose library does not load on this platform'),
  LW_BUS_CLIENT_UNAVAILABLE: def('LW_BUS_CLIENT_UNAVAILABLE', 'kafka.producer_client librdkafka, and @confluentinc/kafka-javascript does not load: install it with infra/kafka/install-librdkafka.sh, or use kafkajs'),
  LW_BUS_CLOSED: def('LW_BUS_CLOSED', 'the bus was used after close()'),
  LW_BUS_UNKNOWN_TOPIC: def('LW_BUS_UNKNOWN_TOPIC', 'the topic does not exist (topics are created at start with ensureTopics)'),
  LW_BUS_UNKNOWN_PARTITION: def('LW_BUS_UNKNOWN_PARTITION', 'the topic has no such partition'),
  LW_BUS_NOT_ASSIGNED: def('LW_BUS_NOT_ASSIGNED', 'seek on a partition this group member does not hold (it was revoked)'),
});

/** A dependency (broker) that is down or unreachable: worth retrying, unlike a rejected request. */
export class BusUnavailableError extends LogwardenError {
  declare readonly code: 'LW_BUS_UNAVAILABLE';
  /** As BusRefusedError's: the records of the publish stored before the bus went away, not to be sent again. */
  readonly stored: ReadonlySet<number>;
  constructor(message: string, options?: { cause?: unknown; stored?: ReadonlySet<number> }) {
    super(BUS_ERRORS.LW_BUS_UNAVAILABLE, message, options?.cause === undefined ? {} : { cause: options.cause });
    this.stored = options?.stored ?? new Set();
  }
}

/**
 * The bus refused the request itself (a message over the topic's size limit,
 * an invalid or unknown topic): the same request will be refused again.
 */
export class BusRefusedError extends LogwardenError {
  declare readonly code: 'LW_BUS_REFUSED';
  /** Why, low-cardinality (a metric label): e.g. `message_too_large`, `invalid_topic_exception`, `unknown_topic`. */
  readonly reason: string;
  /**
   * Positions in the publish of the records the bus stored all the same: a client that
   * sends one publish as several requests (librdkafka's batches, kafkajs's requests of
   * KafkaBus) can have some taken and one refused. Empty: none was stored.
   */
  readonly stored: ReadonlySet<number>;
  constructor(message: string, reason: string, options?: { cause?: unknown; stored?: ReadonlySet<number> }) {
    super(BUS_ERRORS.LW_BUS_REFUSED, message, options?.cause === undefined ? {} : { cause: options.cause });
    this.reason = reason;
    this.stored = options?.stored ?? new Set();
  }
}

// Whether to retry a failed bus call: the one place services ask it. Each bus
// types its errors (KafkaBus from kafkajs's own `retriable` and error kinds,
// MemoryBus from its state); only a refusal the bus typed as such is final.
// An error no bus typed is retried: dead-lettering records on a guess would
// divert them for what may be an outage.

/** True when the failed call may succeed if made again later ("dependency unavailable"). */
export function isBusUnavailable(err: unknown): boolean {
  return !(err instanceof BusRefusedError);
}
