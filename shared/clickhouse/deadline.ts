// A bound on how long a caller waits for a ClickHouse answer. Against a
// server that does not answer (a host that drops packets, a server stuck on
// merges) a call waits for the HTTP client's request_timeout (30 s), and the
// embedded engine has none at all. The call itself is not cancelled (the
// embedded engine cannot be interrupted): the deadline bounds the wait, not
// the work.
import { ClickHouseUnavailableError } from './errors.js';

/** `call`, or ClickHouseUnavailableError once `ms` passed without its answer. */
export function withDeadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClickHouseUnavailableError(`${what}: ClickHouse did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  // A late failure of the abandoned call must not become an unhandled rejection.
  call.catch(() => undefined);
  return Promise.race([call, expired]).finally(() => clearTimeout(timer));
}
