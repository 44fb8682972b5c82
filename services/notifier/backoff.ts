// The wait before a delivery's retry, for webhook and SIEM targets alike:
// retry_initial doubling per attempt up to retry_max, drawn from the upper
// half of that (so that many targets failing at once do not retry in step),
// and never shorter than what the receiver asked for (Retry-After).

/** A receiver's Retry-After (seconds) in ms; 0 when absent or not a positive number. */
export function retryAfterMs(headers: Headers): number {
  const seconds = Number(headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

/** The wait before retry `attempt` (1, 2, ...), in ms. */
export function retryWaitMs(attempt: number, initialMs: number, maxMs: number, retryAfterMs = 0): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.min(maxMs, Math.max(retryAfterMs, ceiling / 2 + Math.random() * (ceiling / 2)));
}
