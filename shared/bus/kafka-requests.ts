// How KafkaBus sizes its kafkajs requests: the sends of a publish, and the
// fetches of a consumer.
//
// Sends: kafkajs writes the records a send holds for one partition as one
// record batch, and Kafka refuses a batch over the topic's max.message.bytes
// (1 MiB by default) whole; a flood from one client fills one partition (its
// key), so a publish of a few thousand long lines was refused while the same
// request's other partitions were stored, and sending it again by halves
// stored those twice. Sends of at most REQUEST_BYTES stay under the limit;
// one after the other, they keep the order, and a failure names what the
// sends before it stored. A topic with a lower limit gets smaller sends: a
// refused send is then a record over the limit alone (kafkajs, failing a
// request, also takes back the batch numbers of every partition in it, and
// the next batch of a partition stored meanwhile was refused as out of order).
//
// Fetches: kafkajs brings at most 1 MiB of a partition per fetch, and a
// consumer hands a partition's fetch over as one batch. A consumer that pays
// per batch (a sink: an insert, and the views' parts, each) asks for more.
import { BusRefusedError, BusUnavailableError } from './errors.js';
import type { OutgoingMessage, SubscribeOptions } from './types.js';

/** Record bytes per kafkajs send: under Kafka's default max.message.bytes (1,048,588) with room for batch and record headers. */
export const REQUEST_BYTES = 786_432;
/** Kafka's default max.message.bytes: a topic's whose own cannot be read. */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * Record bytes per send to a topic whose max.message.bytes is `limit` (undefined: Kafka's
 * default): REQUEST_BYTES, or three quarters of a lower limit (bytesOf is an estimate).
 */
export function sendBudget(limit: number | undefined): number {
  return Math.min(REQUEST_BYTES, Math.floor(((limit ?? DEFAULT_MAX_MESSAGE_BYTES) * 3) / 4));
}

/** What topicMessageLimit asks of kafkajs's admin client. */
export interface ConfigView {
  describeConfigs(o: { includeSynonyms: boolean; resources: Array<{ type: number; name: string; configNames: string[] }> }): Promise<{
    resources: Array<{ configEntries: Array<{ configName: string; configValue: string }> }>;
  }>;
}

/** ConfigResourceTypes.TOPIC in Kafka's protocol. */
const TOPIC_RESOURCE = 2;

/** The topic's max.message.bytes, or undefined when the broker does not say (no DescribeConfigs right, the broker away). */
async function topicMessageLimit(admin: ConfigView, topic: string): Promise<number | undefined> {
  try {
    const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }] });
    const v = Number(r.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
    return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Per topic, record bytes per send (sendBudget), read once from the broker. */
export class SendBudgets {
  private readonly known = new Map<string, number>();

  async of(topic: string, admin: () => Promise<ConfigView>): Promise<number> {
    const known = this.known.get(topic);
    if (known !== undefined) return known;
    const limit = await topicMessageLimit(await admin(), topic);
    // Kept only when the broker said: otherwise asked again at the next publish.
    if (limit !== undefined) this.known.set(topic, sendBudget(limit));
    return sendBudget(limit);
  }

  /** After a refusal of several records: the topic's limit may have been lowered since it was read. */
  forget(topic: string): void {
    this.known.delete(topic);
  }
}

/** What a record adds besides its value and key (timestamp, lengths, headers' framing). */
const RECORD_OVERHEAD = 32;

function bytesOf(m: OutgoingMessage): number {
  let n = m.value.length + RECORD_OVERHEAD + (m.key === null ? 0 : m.key.length);
  if (m.headers) for (const k in m.headers) n += k.length + (m.headers[k]?.length ?? 0);
  return n;
}

/** Where each send ends (exclusive): at most `limit` bytes each, and at least one record (a record over it goes alone). */
export function requestEnds(messages: readonly OutgoingMessage[], limit = REQUEST_BYTES): number[] {
  const ends: number[] = [];
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const b = bytesOf(messages[i] as OutgoingMessage);
    if (bytes > 0 && bytes + b > limit) {
      ends.push(i);
      bytes = 0;
    }
    bytes += b;
  }
  if (messages.length > 0) ends.push(messages.length);
  return ends;
}

/** A send's failure, after the sends before it stored the publish's first `stored` records. */
export function afterStored(err: unknown, stored: number): unknown {
  if (stored === 0) return err;
  const positions = new Set(Array.from({ length: stored }, (_, i) => i));
  if (err instanceof BusRefusedError) return new BusRefusedError(err.message, err.reason, { cause: err.cause, stored: positions });
  if (err instanceof BusUnavailableError) return new BusUnavailableError(err.message, { cause: err.cause, stored: positions });
  return err;
}

/** kafkajs's own fetch limits: 1 MiB of one partition, 10 MiB a response. */
const FETCH_PARTITION_BYTES = 1_048_576;
const FETCH_BYTES = 10_485_760;

/** kafkajs answers a fetch with the first record, or after 5 s without one. */
const FETCH_WAIT_MS = 5_000;

/**
 * A consumer's fetch limits: `perPartition` bytes of one partition (kafkajs's
 * 1 MiB by default), in responses with room for at least two such partitions.
 * The broker caps a response at its own fetch.max.bytes (55 MiB by default).
 * `accumulate`: the broker answers once that many bytes are there, or after
 * that wait.
 */
export function fetchSizes(
  perPartition: number | undefined,
  accumulate: SubscribeOptions['accumulate'],
): { maxBytesPerPartition: number; maxBytes: number; minBytes: number; maxWaitTimeInMs: number } {
  const p = perPartition ?? FETCH_PARTITION_BYTES;
  return {
    maxBytesPerPartition: p,
    maxBytes: Math.max(FETCH_BYTES, 2 * p),
    minBytes: accumulate?.bytes ?? 1,
    maxWaitTimeInMs: accumulate?.waitMs ?? FETCH_WAIT_MS,
  };
}
