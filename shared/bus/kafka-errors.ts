// What a kafkajs error means to the bus: the broker unavailable (retry:
// BusUnavailableError) or the request refused (BusRefusedError with the
// broker's reason), looking through kafkajs's causes.
import kafkajs from 'kafkajs';
import { BusRefusedError, BusUnavailableError } from './errors.js';

const { KafkaJSError, KafkaJSProtocolError } = kafkajs;

/** kafkajs errors that mean "the broker is not there (yet)", as opposed to a rejected request. */
export function wrap(err: unknown, what: string): Error {
  if (unavailable(err)) return new BusUnavailableError(`${what}: ${(err as Error).message}`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/** A publish error: the broker unavailable, or the request refused (the reason: the broker's error name, e.g. MESSAGE_TOO_LARGE). */
export function publishError(err: unknown, what: string): Error {
  if (unavailable(err)) return new BusUnavailableError(`${what}: ${(err as Error).message}`, { cause: err });
  let type: string | undefined;
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth <= 5 && type === undefined; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof KafkaJSProtocolError) type = e.type;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BusRefusedError(`${what}: ${message}`, type?.toLowerCase() ?? 'refused', { cause: err });
}

function unavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  if (err instanceof KafkaJSError && err.retriable) return true;
  const name = (err as { name?: string }).name ?? '';
  if (/Connection|NumberOfRetriesExceeded|RequestTimeout|BrokerNotFound|NoBrokerAvailable/.test(name)) return true;
  // kafkajs gives up on a broker that stays away with a KafkaJSNonRetriableError whose cause is the connection error.
  return unavailable((err as { cause?: unknown }).cause, depth + 1);
}
