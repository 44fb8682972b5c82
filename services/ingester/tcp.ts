// TCP syslog input, for relays (rsyslog, syslog-ng) that forward nginx's lines.
//
// Framing, per connection, decided by its first byte (RFC 6587):
//   octet counting   "123 <190>Nov 21 ...": a decimal length, a space, that many bytes
//   non-transparent  "<190>Nov 21 ...\n":   one message per line (LF; a trailing CR is dropped)
// Bounded memory: a frame longer than the limit is skipped (counted as too_long)
// without being buffered; when the pipeline is over its memory bound the socket
// is paused (TCP backpressure reaches the relay) until it drains.
import net from 'node:net';
import { Counter, Gauge } from 'prom-client';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { IngestPipeline } from './pipeline.js';

const log = componentLogger('ingester.tcp');

const connections = new Gauge({ name: 'logwarden_ingest_tcp_connections', help: 'Open TCP syslog connections', registers: [registry] });
const framingErrors = new Counter({
  name: 'logwarden_ingest_tcp_framing_errors_total',
  help: 'TCP frames skipped (too long, bad octet count), by reason',
  labelNames: ['reason'],
  registers: [registry],
});
const pauses = new Counter({ name: 'logwarden_ingest_tcp_pauses_total', help: 'Times a TCP connection was paused for backpressure', registers: [registry] });

export interface TcpInputOptions {
  host: string;
  port: number;
  /** Longest frame accepted (the line limit plus room for the syslog header). */
  maxFrameBytes: number;
  /** A connection idle this long is closed (half-open peers do not hold resources forever). */
  idleTimeoutMs?: number;
  maxConnections?: number;
}

export interface TcpInput {
  port: number;
  close(): Promise<void>;
}

type Mode = 'unknown' | 'octet' | 'line';

/** Splits one connection's byte stream into frames; feeds each to `emit`. Exported for tests. */
export class FrameSplitter {
  private mode: Mode = 'unknown';
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes still to discard from an oversize frame. -1: discard up to the next LF. */
  private skip = 0;

  constructor(
    private readonly maxFrame: number,
    private readonly emit: (frame: Buffer) => void,
    private readonly onError: (reason: 'too_long' | 'bad_octet_count' | 'truncated', bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    const data = this.buf.length > 0 ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = Buffer.alloc(0);
    let pos = 0;
    while (pos < data.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - pos);
        this.skip -= n;
        pos += n;
        continue;
      }
      if (this.skip === -1) {
        const lf = data.indexOf(10, pos);
        if (lf < 0) return;
        this.skip = 0;
        pos = lf + 1;
        continue;
      }
      if (this.mode === 'unknown') {
        const c = data[pos] as number;
        this.mode = c >= 49 && c <= 57 ? 'octet' : 'line';
      }
      if (this.mode === 'octet') {
        const sp = data.indexOf(32, pos);
        if (sp < 0 || sp - pos > 10) {
          if (sp < 0 && data.length - pos <= 10) break; // the length itself is split across chunks
          this.onError('bad_octet_count', data.length - pos);
          // Not octet counting after all (or garbage): fall back to lines from here.
          this.mode = 'line';
          continue;
        }
        const len = Number(data.toString('latin1', pos, sp));
        if (!Number.isInteger(len) || len <= 0) {
          this.onError('bad_octet_count', sp - pos);
          this.mode = 'line';
          continue;
        }
        if (len > this.maxFrame) {
          this.onError('too_long', len);
          this.skip = len;
          pos = sp + 1;
          continue;
        }
        if (data.length - (sp + 1) < len) break;
        this.emit(data.subarray(sp + 1, sp + 1 + len));
        pos = sp + 1 + len;
        // Relays may also end octet-counted frames with LF; tolerate it.
        if (data[pos] === 10) pos++;
        continue;
      }
      const lf = data.indexOf(10, pos);
      if (lf < 0) {
        if (data.length - pos > this.maxFrame) {
          this.onError('too_long', data.length - pos);
          this.skip = -1;
          return;
        }
        break;
      }
      if (lf - pos > this.maxFrame) this.onError('too_long', lf - pos);
      else if (lf > pos) this.emit(data.subarray(pos, data[lf - 1] === 13 ? lf - 1 : lf));
      pos = lf + 1;
    }
    // Keep the unfinished frame (copied, so the big chunk it came from can be freed).
    if (pos < data.length) this.buf = Buffer.from(data.subarray(pos));
  }

  /** The connection died (timeout, reset): a half-received frame is reported, not emitted. */
  abort(): void {
    if (this.buf.length > 0 || this.skip !== 0) this.onError('truncated', this.buf.length);
    this.buf = Buffer.alloc(0);
    this.skip = 0;
  }

  /** The peer closed: a last line without LF is still a message. */
  end(): void {
    if (this.mode !== 'octet' && this.skip === 0 && this.buf.length > 0) this.emit(this.buf);
    else if (this.buf.length > 0) this.onError('too_long', this.buf.length);
    this.buf = Buffer.alloc(0);
  }
}

export async function startTcpInput(pipeline: IngestPipeline, opts: TcpInputOptions): Promise<TcpInput> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: false, noDelay: true }, (socket) => {
    sockets.add(socket);
    connections.inc();
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(opts.idleTimeoutMs ?? 5 * 60_000, () => socket.destroy());
    let paused = false;
    const splitter = new FrameSplitter(
      opts.maxFrameBytes,
      (frame) => {
        if (!pipeline.offer(frame, 'tcp') && !paused) {
          paused = true;
          pauses.inc();
          socket.pause();
          void pipeline.drained().then(() => {
            paused = false;
            if (!socket.destroyed) socket.resume();
          });
        }
      },
      (reason, bytes) => {
        framingErrors.inc({ reason });
        pipeline.reject(reason === 'too_long' ? 'too_long' : 'bad_format', 'tcp', reason === 'truncated' ? `connection lost mid-frame (${bytes} bytes)` : `${reason}: ${bytes} bytes`);
      },
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    let ended = false;
    socket.on('end', () => {
      ended = true;
      splitter.end();
    });
    socket.on('error', (err) => log.debug({ err }, 'TCP connection error'));
    socket.on('close', () => {
      if (!ended) splitter.abort();
      sockets.delete(socket);
      connections.dec();
    });
  });
  server.maxConnections = opts.maxConnections ?? 4096;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port, exclusive: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  log.info({ host: opts.host, port }, 'listening for syslog over TCP');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.end();
        // Peers that do not close within a moment are cut.
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 2_000).unref();
      }),
  };
}
