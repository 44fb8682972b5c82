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
// sends before it stored.
//
// Fetches: kafkajs brings at most 1 MiB of a partition per fetch, and a
// consumer hands a partition's fetch over as one batch. A consumer that pays
// per batch (a sink: an insert, and the views' parts, each) asks for more.
import { BusRefusedError, BusUnavailableError } from './errors.js';
import type { OutgoingMessage, SubscribeOptions } from './types.js';

/** Record bytes per kafkajs send: under Kafka's default max.message.bytes (1,048,588) with room for batch and record headers. */
export const REQUEST_BYTES = 786_432;
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
