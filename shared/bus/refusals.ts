// Records the bus refuses for what they are (BusRefusedError: over the
// topic's size limit, an unknown topic), apart from the rest of a publish.
// Kafka refuses a partition's whole record batch for one record in it, so a
// refused publish is sent again by halves until each refused record is alone;
// the others are stored. The refused ones are handed back with the bus's
// reason, for the caller to dead-letter: sent again, they would be refused
// again, and holding them would stop everything behind them. Halves resend
// records the broker may hold already (what it reports stored is not sent
// again): at least once, as any retry.
import { BusRefusedError, BusUnavailableError, isBusUnavailable } from './errors.js';
import type { Bus, OutgoingMessage } from './types.js';

/** A record the bus refused, and why. */
export interface RefusedRecord {
  message: OutgoingMessage;
  /** BusRefusedError.reason, low-cardinality: e.g. `message_too_large`. */
  reason: string;
  detail: string;
}

/**
 * Publishes `messages` to `topic`; resolves with the records the bus refused,
 * every other one stored. Any other failure (the bus unavailable) is thrown as
 * it came, `stored` then holding the records stored before it, which must not
 * be sent again; the rest, refused ones included, are the caller's to retry.
 */
export async function publishIsolating(
  bus: Pick<Bus, 'publish'>,
  topic: string,
  messages: readonly OutgoingMessage[],
  stored: Set<OutgoingMessage>,
): Promise<RefusedRecord[]> {
  const refused: RefusedRecord[] = [];
  const send = async (part: readonly OutgoingMessage[]): Promise<void> => {
    try {
      await bus.publish(topic, part as OutgoingMessage[]);
      for (const m of part) stored.add(m);
    } catch (err) {
      const kept = err instanceof BusRefusedError || err instanceof BusUnavailableError ? err.stored : new Set<number>();
      for (const i of kept) stored.add(part[i] as OutgoingMessage);
      if (isBusUnavailable(err)) throw err;
      const rest = part.filter((m) => !stored.has(m));
      if (rest.length === 0) return;
      if (rest.length === 1) {
        refused.push({ message: rest[0] as OutgoingMessage, reason: (err as BusRefusedError).reason, detail: String((err as Error).message) });
        return;
      }
      const half = rest.length >> 1;
      await send(rest.slice(0, half));
      await send(rest.slice(half));
    }
  };
  if (messages.length > 0) await send(messages);
  return refused;
}

/** Bytes of a record kept in its dead letter: the dead-letter topic must not become the memory bomb a size limit guards against. */
export const DEAD_LETTER_MAX_BYTES = 8192;

/**
 * The dead letter of a refused record: the record (its first 8 KiB, with
 * `truncated_from`), its headers, and why (`reason`, `detail`, `topic`).
 */
export function refusedDeadLetter(topic: string, r: RefusedRecord): OutgoingMessage {
  const m = r.message;
  const value = m.value.length > DEAD_LETTER_MAX_BYTES ? m.value.subarray(0, DEAD_LETTER_MAX_BYTES) : m.value;
  return {
    key: m.key,
    value,
    headers: {
      ...m.headers,
      reason: r.reason,
      detail: r.detail.slice(0, 200),
      topic,
      ...(value.length < m.value.length ? { truncated_from: String(m.value.length) } : {}),
    },
    ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
  };
}
