// A small client of the management API for the CLI: JSON calls with the
// bearer token, the API's error bodies as typed errors, and the SSE streams.
// Every failure carries the exit code the CLI documents, so a script can tell
// "the API said no" from "the API is down" without parsing text.

/** Exit codes of the API subcommands (listed in the usage text). */
export const EXIT = {
  OK: 0,
  /** Runtime failure: unreachable API, 5xx, a broken stream. */
  FAILURE: 1,
  USAGE: 2,
  /** 401, 403, 429: no valid token, the wrong role, or too many failed logins. */
  AUTH: 3,
  NOT_FOUND: 4,
  /** Any other 4xx: the API refused the input (its message and field are printed). */
  REJECTED: 5,
} as const;

export function exitCodeForStatus(status: number): number {
  if (status >= 200 && status < 300) return EXIT.OK;
  if (status === 401 || status === 403 || status === 429) return EXIT.AUTH;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status >= 400 && status < 500) return EXIT.REJECTED;
  return EXIT.FAILURE;
}

/** A failed call: an error body of the API ({ error, code, field? }), or no answer at all (status 0). */
export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly field: string | undefined,
    readonly exitCode: number = status === 0 ? EXIT.FAILURE : exitCodeForStatus(status),
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

/** FlatRun's envelope: { data, message?, total?, next_cursor? }. */
export interface Envelope<T> {
  data: T;
  message?: string;
  total?: number;
  next_cursor?: string | null;
}

export interface ApiClientOptions {
  baseUrl: string;
  token: string;
  /** Per call, so a hung API does not hang a script. Streams have none. */
  timeoutMs?: number;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  url(path: string, query: Query = {}): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async call<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<Envelope<T>> {
    const res = await this.send(method, path, opts.query, opts.body, AbortSignal.timeout(this.timeoutMs), 'application/json');
    const text = await res.text().catch((err: unknown) => {
      throw new ApiCallError(`reading the answer of ${this.baseUrl} failed: ${(err as Error).message}`, 0, undefined, undefined);
    });
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new ApiCallError(`${method} ${path}: HTTP ${res.status}, and the answer is not JSON (is ${this.baseUrl} the logwarden API?)`, res.status, undefined, undefined, res.ok ? EXIT.FAILURE : undefined);
    }
    if (!res.ok) throw errorFromBody(res.status, body);
    return body as Envelope<T>;
  }

  /**
   * Follows a Server-Sent Events stream, calling `onEvent` for each event, until
   * the server ends it (rejects: a follow that stops is a failure) or `signal` aborts (resolves).
   */
  async stream(path: string, query: Query, onEvent: (name: string, data: string) => void, signal: AbortSignal): Promise<void> {
    const res = await this.send('GET', path, query, undefined, signal, 'text/event-stream');
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = { error: text };
      }
      throw errorFromBody(res.status, body);
    }
    if (!res.body) throw new ApiCallError(`${path}: the answer has no body`, 0, undefined, undefined);
    const decoder = new TextDecoder();
    let buf = '';
    let name = 'message';
    let data: string[] = [];
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (data.length > 0) onEvent(name, data.join('\n'));
            name = 'message';
            data = [];
          } else if (line.startsWith(':')) {
            // A comment: the greeting and keep-alive pings.
          } else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') name = value;
            else if (field === 'data') data.push(value);
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw new ApiCallError(`the stream ${path} broke: ${(err as Error).message}`, 0, undefined, undefined);
    }
    if (signal.aborted) return;
    throw new ApiCallError(`the API ended the stream ${path}`, 0, undefined, undefined);
  }

  private async send(method: string, path: string, query: Query | undefined, body: unknown, signal: AbortSignal, accept: string): Promise<Response> {
    try {
      return await fetch(this.url(path, query), {
        method,
        signal,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new ApiCallError(`cannot reach the API at ${this.baseUrl} (${why}); set --api URL or LOGWARDEN_API_URL`, 0, undefined, undefined);
    }
  }
}

function errorFromBody(status: number, body: unknown): ApiCallError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; code?: unknown; field?: unknown };
  const message = typeof b.error === 'string' ? b.error : `HTTP ${status}`;
  return new ApiCallError(message, status, typeof b.code === 'string' ? b.code : undefined, typeof b.field === 'string' ? b.field : undefined);
}
