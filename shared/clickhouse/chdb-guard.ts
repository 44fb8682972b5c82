// The chdb connection as the embedded client's connection, made safe against
// one engine behaviour: a statement that fails after it has written part of
// its output (an overflow limit with mode throw, max_execution_time, a
// throwIf on a later row) leaves those rows in the native connection's
// output buffer, and the connection hands them to the NEXT statement run on
// it, prepended to that statement's own output. Failures accumulate; the
// first statement that succeeds, whatever it is, takes them all.
//
// So: one statement at a time on the connection (the engine runs them one
// at a time per connection anyway), and after any failure a statement that
// succeeds and whose output is thrown away (`SELECT 1`) runs before the
// connection is handed to anyone else. If that fails too, the connection
// stays marked and the next call drains first; a call never runs on a
// connection that may still hold someone else's rows. The session's state
// (USE, SET) is kept, which a fresh connection would lose.

/** The slice of @clickhouse/client-common's Connection that chdb implements and the client calls. */
export interface EngineConnection {
  query(params: unknown): Promise<unknown>;
  exec(params: unknown): Promise<unknown>;
  command(params: unknown): Promise<unknown>;
  insert(params: unknown): Promise<unknown>;
  ping(params: unknown): Promise<{ success: boolean; error?: Error }>;
  close(): Promise<void>;
}

const DRAIN = { query: 'SELECT 1' };

export class DrainingConnection implements EngineConnection {
  private tail: Promise<unknown> = Promise.resolve();
  /** The connection may hold output of a failed statement. */
  private dirty = false;

  constructor(private readonly inner: EngineConnection) {}

  /** Runs fn alone on the connection, drained before and after as needed. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.dirty) await this.drain();
      try {
        return await fn();
      } catch (err) {
        this.dirty = true;
        // Drain now so the next caller does not pay for it; a failed drain is
        // retried by the next call (dirty stays set), the caller gets its own error.
        await this.drain().catch(() => undefined);
        throw err;
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  private async drain(): Promise<void> {
    await this.inner.command(DRAIN);
    this.dirty = false;
  }

  query(params: unknown): Promise<unknown> {
    return this.exclusive(() => this.inner.query(params));
  }
  exec(params: unknown): Promise<unknown> {
    return this.exclusive(() => this.inner.exec(params));
  }
  command(params: unknown): Promise<unknown> {
    return this.exclusive(() => this.inner.command(params));
  }
  insert(params: unknown): Promise<unknown> {
    return this.exclusive(() => this.inner.insert(params));
  }
  ping(params: unknown): Promise<{ success: boolean; error?: Error }> {
    // chdb answers a failed ping as { success: false } rather than throwing.
    return this.exclusive(async () => {
      const r = await this.inner.ping(params);
      if (!r.success) this.dirty = true;
      return r;
    });
  }
  close(): Promise<void> {
    // After the calls already queued, like the engine would order them.
    return this.tail.then(() => this.inner.close());
  }
}
