// Fault injection at the ClickHouse client boundary, for tests.
//
// The embedded engine (chdb) runs inside the test process and cannot be
// stopped the way a server can, and no ClickHouse server is part of the test
// setup. So outages are played at the one interface every service uses
// (shared/clickhouse/client.ts `ClickHouse`): the wrapper passes calls to a
// real ClickHouse, except while a fault is on, when calls fail exactly as the
// HTTP client's do against a server in that state — through the same
// classifier (`classifyError`), so callers see the same typed errors:
//
// - `refused`  server down: every call fails at once (ECONNREFUSED).
// - `ack_lost` the call runs in ClickHouse, then the answer is lost on the
//              way back (ECONNRESET): an insert that landed but looks failed.
// - `hang`     server unreachable (packets dropped): every call waits
//              `hangMs` (the client's request_timeout), then fails with the
//              client's "Timeout error"; ping() likewise.
//
// What it does not play: partial writes inside one insert (ClickHouse inserts
// a block atomically) and the TCP details of a real outage.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouse, InsertOptions, QueryParams } from '../clickhouse/client.js';
import { classifyError } from '../clickhouse/errors.js';

export type ClickHouseFault = 'none' | 'refused' | 'ack_lost' | 'hang';

export interface FaultyClickHouse extends ClickHouse {
  fault: ClickHouseFault;
  /** How long a call hangs in `hang` before it times out (the client's request_timeout: 30 s by default). */
  hangMs: number;
  /** Only calls whose description matches (`insert into requests`, `query [SELECT …`) get the fault; default all. */
  match: RegExp | undefined;
  /** Calls that failed because of an injected fault, by operation. */
  readonly failed: { query: number; command: number; insert: number; ping: number };
}

function sysError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export function faultyClickHouse(real: ClickHouse, hangMs = 30_000): FaultyClickHouse {
  const failed = { query: 0, command: 0, insert: 0, ping: 0 };
  const self: FaultyClickHouse = {
    fault: 'none',
    hangMs,
    match: undefined,
    failed,
    get client() {
      return real.client;
    },
    database: real.database,
    mode: real.mode,
    cluster: real.cluster,
    dataDir: real.dataDir,
    url: real.url,
    table: (name) => real.table(name),
    query: <T>(sql: string, params?: QueryParams) => around('query', `query [${sql.slice(0, 40)}]`, () => real.query<T>(sql, params)),
    command: (sql: string, params?: QueryParams) => around('command', `command [${sql.slice(0, 40)}]`, () => real.command(sql, params)),
    insert: (table: string, rows: readonly object[], opts?: InsertOptions) => around('insert', `insert into ${table}`, () => real.insert(table, rows, opts)),
    async ping() {
      if (self.fault === 'refused') {
        failed.ping++;
        return false;
      }
      if (self.fault === 'hang') {
        failed.ping++;
        await sleep(self.hangMs, undefined, { ref: false });
        return false;
      }
      return real.ping();
    },
    close: () => real.close(),
  };

  async function around<T>(op: 'query' | 'command' | 'insert', what: string, call: () => Promise<T>): Promise<T> {
    const fault = self.match && !self.match.test(what) ? 'none' : self.fault;
    if (fault === 'refused') {
      failed[op]++;
      throw classifyError(sysError('connect ECONNREFUSED 127.0.0.1:8123', 'ECONNREFUSED'), what);
    }
    if (fault === 'hang') {
      failed[op]++;
      await sleep(self.hangMs, undefined, { ref: false });
      throw classifyError(new Error('Timeout error.'), what);
    }
    const out = await call();
    if (fault === 'ack_lost') {
      failed[op]++;
      throw classifyError(sysError('read ECONNRESET', 'ECONNRESET'), what);
    }
    return out;
  }

  return self;
}
