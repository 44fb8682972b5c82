// The errors of the message bus (Kafka or the in-memory bus). The one callers
// branch on is LW_BUS_UNAVAILABLE: the broker is down or unreachable, so the
// same call may succeed later (retry, keep the offsets); anything else is a
// refused request or a misuse, which retrying repeats.
import { def, defineErrors, LogwardenError } from '../errors.js';

export const BUS_ERRORS = defineErrors('bus', {
  LW_BUS_UNAVAILABLE: def('LW_BUS_UNAVAILABLE', 'the broker is down or unreachable; retry later', { retryable: true }),
  LW_BUS_CLOSED: def('LW_BUS_CLOSED', 'the bus was used after close()'),
  LW_BUS_UNKNOWN_TOPIC: def('LW_BUS_UNKNOWN_TOPIC', 'the topic does not exist (topics are created at start with ensureTopics)'),
  LW_BUS_UNKNOWN_PARTITION: def('LW_BUS_UNKNOWN_PARTITION', 'the topic has no such partition'),
  LW_BUS_NOT_ASSIGNED: def('LW_BUS_NOT_ASSIGNED', 'seek on a partition this group member does not hold (it was revoked)'),
});

/** A dependency (broker) that is down or unreachable: worth retrying, unlike a rejected request. */
export class BusUnavailableError extends LogwardenError {
  declare readonly code: 'LW_BUS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(BUS_ERRORS.LW_BUS_UNAVAILABLE, message, options);
  }
}
