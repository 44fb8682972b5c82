// How a batch reaches a SIEM target: an HTTP POST, or a write on a TCP
// connection kept open between batches (reconnected after any failure).
//
// Acknowledged means: HTTP — a 2xx answer; TCP — the bytes were handed to the
// kernel (the write's callback). Plain TCP syslog has no receipt of its own, so
// a connection the receiver drops while bytes are in flight can lose them;
// after a failure the whole batch is sent again, so a receiver may get a
// record twice (every document has event.id to deduplicate by).
import { connect, type Socket } from 'node:net';
import type { SiemTarget } from '../../shared/config/types.js';
import { retryAfterMs } from './backoff.js';
import { retryableStatus, type NotifyErrorCode } from './errors.js';

export interface SendOutcome {
  /** undefined: acknowledged. */
  code: NotifyErrorCode | undefined;
  detail: string;
  /** A Retry-After the receiver asked for, ms (0 when none). */
  retryAfterMs: number;
}

export interface Transport {
  /** Sends one batch; throws only when `signal` aborted (a stop). */
  send(payload: Buffer, signal: AbortSignal): Promise<SendOutcome>;
  /** Whether a connection is open now (always true for HTTP, which opens one per request). */
  connected(): boolean;
  close(): void;
}

const OK: SendOutcome = { code: undefined, detail: '', retryAfterMs: 0 };
const unavailable = (detail: string): SendOutcome => ({ code: 'LW_NOTIFY_SIEM_UNAVAILABLE', detail, retryAfterMs: 0 });

export function httpTransport(t: SiemTarget): Transport {
  const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', 'user-agent': 'logwarden-siem' };
  if (t.header_value !== '') headers[t.header.toLowerCase()] = t.header_value;
  return {
    async send(payload, signal) {
      try {
        const res = await fetch(t.url, { method: 'POST', headers, body: payload, redirect: 'error', signal: AbortSignal.any([AbortSignal.timeout(t.timeout_ms), signal]) });
        await res.arrayBuffer();
        if (res.status >= 200 && res.status < 300) return OK;
        return { code: retryableStatus(res.status) ? 'LW_NOTIFY_SIEM_UNAVAILABLE' : 'LW_NOTIFY_SIEM_REFUSED', detail: `HTTP ${res.status}`, retryAfterMs: retryAfterMs(res.headers) };
      } catch (err) {
        if (signal.aborted) throw err;
        return unavailable(String((err as Error).cause ?? err));
      }
    },
    connected: () => true,
    close: () => undefined,
  };
}

export function tcpTransport(t: SiemTarget): Transport {
  const url = new URL(t.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port);
  let socket: Socket | undefined;

  const drop = (s: Socket | undefined): void => {
    s?.destroy();
    if (socket === s) socket = undefined;
  };

  const open = (signal: AbortSignal): Promise<Socket> => new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => fail(new Error(`connect timed out after ${t.timeout_ms} ms`)), t.timeout_ms);
    const onAbort = (): void => fail(signal.reason as Error);
    function fail(err: Error): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      reject(err);
    }
    signal.addEventListener('abort', onAbort, { once: true });
    // A listener always: an error after connect (a reset) must not crash the process; 'close' follows it.
    s.on('error', (err) => fail(err));
    s.once('connect', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.setKeepAlive(true, 30_000);
      s.setNoDelay(true);
      // The receiver closing its side (a restart) is noticed before the next batch is written.
      s.once('end', () => drop(s));
      s.once('close', () => drop(s));
      s.resume();
      resolve(s);
    });
  });

  const write = (s: Socket, payload: Buffer, signal: AbortSignal): Promise<void> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`write not taken within ${t.timeout_ms} ms`)), t.timeout_ms);
    const onAbort = (): void => done(signal.reason as Error);
    const onClose = (): void => done(new Error('connection closed during the write'));
    function done(err?: Error | null): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.removeListener('close', onClose);
      if (err) reject(err);
      else resolve();
    }
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('close', onClose);
    s.write(payload, (err) => done(err));
  });

  return {
    async send(payload, signal) {
      try {
        socket ??= await open(signal);
        await write(socket, payload, signal);
        return OK;
      } catch (err) {
        drop(socket);
        if (signal.aborted) throw err;
        return unavailable(String((err as Error).message ?? err));
      }
    },
    connected: () => socket !== undefined,
    close: () => drop(socket),
  };
}

export function transportFor(t: SiemTarget): Transport {
  return t.transport === 'http' ? httpTransport(t) : tcpTransport(t);
}
