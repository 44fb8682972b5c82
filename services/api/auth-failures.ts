// Failed API logins, counted per client address: past
// api.auth_failures_per_minute they get 429, and every failure is logged and
// published as an `auth_failed` event of the API itself (server.ts), so the SOC
// sees password spraying against the API like any other. The tokens
// themselves (format, hash, verification) are shared/auth/tokens.ts.

/** Counts failures per address over a sliding minute; bounded so a spray from many addresses cannot grow it without end. */
export class FailureLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly maxAddresses = 100_000,
  ) {}

  /** True when the address is over its limit (before counting another failure). */
  limited(ip: string, now = Date.now()): boolean {
    const h = this.hits.get(ip);
    if (!h) return false;
    while (h.length > 0 && (h[0] as number) <= now - 60_000) h.shift();
    if (h.length === 0) this.hits.delete(ip);
    return h.length >= this.perMinute;
  }

  /** Seconds until the address may try again. */
  retryAfter(ip: string, now = Date.now()): number {
    const first = this.hits.get(ip)?.[0];
    return first === undefined ? 0 : Math.max(1, Math.ceil((first + 60_000 - now) / 1000));
  }

  fail(ip: string, now = Date.now()): number {
    let h = this.hits.get(ip);
    if (!h) {
      if (this.hits.size >= this.maxAddresses) {
        const oldest = this.hits.keys().next().value;
        if (oldest !== undefined) this.hits.delete(oldest);
      }
      h = [];
      this.hits.set(ip, h);
    }
    h.push(now);
    return h.length;
  }
}
