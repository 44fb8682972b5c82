// A deadline on the API's ClickHouse reads. Against a ClickHouse that does
// not answer (a host that drops packets, a server stuck on merges) a read
// would wait for the HTTP client's request_timeout (30 s), and the embedded
// engine has none at all: the API would hang instead of saying "storage
// unavailable". With the deadline a read that has not answered gives the
// caller a 503 (LW_API_STORAGE_UNAVAILABLE) in bounded time.
//
// The call itself is not cancelled (the embedded engine cannot be
// interrupted; a server request ends at its own timeout): the deadline bounds
// what the caller waits for, not the work. Writes are left alone: a write
// abandoned by the caller may still land, and the API must not report a
// change as failed that then happens.
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import { withDeadline as deadline } from '../../shared/clickhouse/deadline.js';
import type { ControlStore } from '../../shared/control/store.js';

export const STORAGE_READ_TIMEOUT_MS = 10_000;

/** The same connection, with query() failing as unavailable after `ms`, and ping() answering false. */
export function withReadDeadline(ch: ClickHouse, ms: number = STORAGE_READ_TIMEOUT_MS): ClickHouse {
  return new Proxy(ch, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return <T>(sql: string, params?: Record<string, unknown>): Promise<T[]> => deadline(target.query<T>(sql, params), ms, 'query');
      }
      if (prop === 'ping') {
        return (): Promise<boolean> => deadline(target.ping(), ms, 'ping').catch(() => false);
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The control store's reads (what the API lists from control_blocks) under the same deadline; its writes untouched. */
const STORE_READS: ReadonlySet<PropertyKey> = new Set(['listBlocks', 'activeDecisions']);

export function storeWithReadDeadline(store: ControlStore, ms: number = STORAGE_READ_TIMEOUT_MS): ControlStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (!STORE_READS.has(prop)) return fn;
      return (...args: unknown[]): Promise<unknown> => deadline(fn(...args) as Promise<unknown>, ms, String(prop));
    },
  });
}
