// Reads a feed's source: a local file, or an http(s) URL. Conditional: the
// validators of the last good read (ETag and Last-Modified for HTTP, mtime
// and size for a file) are sent back, and an unchanged source answers "not
// modified" without a body. Bounded: the whole read (connect, headers, body)
// within the feed's timeout, and a body larger than max_size is refused — by
// its Content-Length before reading, or as soon as the bytes read pass it
// (a compressed body counts decompressed).
import { readFile, stat } from 'node:fs/promises';
import { LogwardenError } from '../../shared/errors.js';
import { FEED_ERRORS } from './errors.js';

export interface Validators {
  etag?: string;
  lastModified?: string;
}

export type Fetched = { notModified: true } | { notModified: false; body: string; bytes: number; validators: Validators };

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

export async function fetchSource(source: string, known: Validators, o: FetchOptions): Promise<Fetched> {
  return isUrl(source) ? fetchHttp(source, known, o) : readLocal(source, known, o);
}

async function readLocal(path: string, known: Validators, o: FetchOptions): Promise<Fetched> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new LogwardenError(FEED_ERRORS.LW_FEED_UNREACHABLE, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const tag = `${st.mtimeMs}:${st.size}`;
  if (known.etag === tag) return { notModified: true };
  if (st.size > o.maxBytes) throw tooLarge(st.size, o.maxBytes);
  let buf: Buffer;
  try {
    buf = await readFile(path, { signal: AbortSignal.timeout(o.timeoutMs) });
  } catch (err) {
    throw new LogwardenError(FEED_ERRORS.LW_FEED_UNREACHABLE, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  // The file may have grown between stat and read.
  if (buf.length > o.maxBytes) throw tooLarge(buf.length, o.maxBytes);
  return { notModified: false, body: buf.toString('utf8'), bytes: buf.length, validators: { etag: tag } };
}

async function fetchHttp(url: string, known: Validators, o: FetchOptions): Promise<Fetched> {
  const headers: Record<string, string> = { accept: 'text/plain, text/csv, */*;q=0.5', 'user-agent': 'logwarden-feeds' };
  if (known.etag) headers['if-none-match'] = known.etag;
  if (known.lastModified) headers['if-modified-since'] = known.lastModified;
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await fetch(url, { headers, signal, redirect: 'follow' });
    if (res.status === 304) {
      await res.body?.cancel();
      return { notModified: true };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new LogwardenError(FEED_ERRORS.LW_FEED_HTTP_STATUS, `${url} answered HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > o.maxBytes) {
      await res.body?.cancel();
      throw tooLarge(declared, o.maxBytes);
    }
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    if (res.body) {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      for (;;) {
        const { done, value } = (await reader.read()) as { done: true; value?: undefined } | { done: false; value: Uint8Array };
        if (done) break;
        bytes += value.byteLength;
        if (bytes > o.maxBytes) {
          await reader.cancel();
          throw tooLarge(bytes, o.maxBytes, 'more than');
        }
        chunks.push(value);
      }
    }
    const validators: Validators = {};
    const etag = res.headers.get('etag');
    const lastModified = res.headers.get('last-modified');
    if (etag) validators.etag = etag;
    if (lastModified) validators.lastModified = lastModified;
    return { notModified: false, body: Buffer.concat(chunks).toString('utf8'), bytes, validators };
  } catch (err) {
    if (err instanceof LogwardenError) throw err;
    if (signal.aborted) throw new LogwardenError(FEED_ERRORS.LW_FEED_TIMEOUT, `${url}: no complete answer within ${o.timeoutMs} ms`, { cause: err });
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new LogwardenError(FEED_ERRORS.LW_FEED_UNREACHABLE, `${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
  }
}

function tooLarge(bytes: number, max: number, how = ''): LogwardenError {
  return new LogwardenError(FEED_ERRORS.LW_FEED_TOO_LARGE, `body of ${how ? `${how} ` : ''}${bytes} bytes is larger than max_size (${max} bytes)`);
}
