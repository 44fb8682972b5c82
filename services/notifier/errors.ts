// The errors of delivering a notification (LW_NOTIFY_*) or a SIEM batch
// (LW_NOTIFY_SIEM_*). They reach the log and the `code` label of
// logwarden_notify_failures_total (_siem_failures_total), never the detection
// path: a receiver that is down or refuses costs notifications, nothing else.
import { def, defineErrors } from '../../shared/errors.js';

export const NOTIFY_ERRORS = defineErrors('notify', {
  LW_NOTIFY_UNAVAILABLE: def('LW_NOTIFY_UNAVAILABLE', 'a webhook answered 5xx, 408 or 429, or not at all (timeout, connection refused): retried with backoff', { retryable: true }),
  LW_NOTIFY_REFUSED: def('LW_NOTIFY_REFUSED', 'a webhook refused the notification (another 4xx: bad signature, wrong URL): not retried'),
  LW_NOTIFY_SIEM_UNAVAILABLE: def('LW_NOTIFY_SIEM_UNAVAILABLE', 'a SIEM target did not take a batch (TCP: no connection, write failed or timed out; HTTP: 5xx, 408, 429 or no answer): retried with backoff until siem.targets[].give_up_after', { retryable: true }),
  LW_NOTIFY_SIEM_REFUSED: def('LW_NOTIFY_SIEM_REFUSED', 'an HTTP SIEM target refused a batch (another 4xx: wrong credentials or URL): not retried, its records are dropped and counted'),
});

export type NotifyErrorCode = keyof typeof NOTIFY_ERRORS;

/** The code of a receiver's answer, or undefined for a 2xx. */
export function answerCode(status: number): NotifyErrorCode | undefined {
  if (status >= 200 && status < 300) return undefined;
  return retryableStatus(status) ? 'LW_NOTIFY_UNAVAILABLE' : 'LW_NOTIFY_REFUSED';
}

/** An HTTP answer worth retrying (webhooks and SIEM targets alike): the receiver is down, timed out or asks to slow down. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}
