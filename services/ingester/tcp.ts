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
  /**
   * The unfinished frame, as the chunks it arrived in. They are joined only
   * once the frame can be complete: joining at every chunk would cost the
   * square of the frame's size when a peer dribbles it in tiny segments.
   */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** What the held frame waits for: this many bytes in all (octet counting), -1: an LF, 0: anything (a count cut short). */
  private waitFor = 0;
  /** Bytes still to discard from an oversize frame. -1: discard up to the next LF. */
  private skip = 0;

  /**
   * `onError`: a frame is lost (`too_long`, `truncated`: count it), or, for
   * `bad_octet_count`, the stream is not octet counted after all and is
   * framed as lines from there on (those lines are emitted: nothing is lost).
   */
  constructor(
    private readonly maxFrame: number,
    private readonly emit: (frame: Buffer) => void,
    private readonly onError: (reason: 'too_long' | 'bad_octet_count' | 'truncated', bytes: number) => void,
  ) {}

  /** Bytes of an unfinished frame held until the rest arrives (at most the frame limit plus one chunk). */
  get bufferedBytes(): number {
    return this.heldBytes;
  }

  push(chunk: Buffer): void {
    if (this.heldBytes === 0) {
      this.split(chunk);
      return;
    }
    const total = this.heldBytes + chunk.length;
    const incomplete = this.waitFor > 0 ? total < this.waitFor : this.waitFor === -1 && total <= this.maxFrame && chunk.indexOf(10) < 0;
    // Copied: a chunk may be a view into a larger read buffer, which holding it would keep alive uncounted.
    this.held.push(incomplete ? Buffer.from(chunk) : chunk);
    this.heldBytes = total;
    if (incomplete) return;
    const data = Buffer.concat(this.held, total);
    this.held = [];
    this.heldBytes = 0;
    this.split(data);
  }

  private hold(data: Buffer, from: number, waitFor: number): void {
    this.held = [Buffer.from(data.subarray(from))];
    this.heldBytes = data.length - from;
    this.waitFor = waitFor;
  }

  private split(data: Buffer): void {
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
      const c = data[pos] as number;
      if (this.mode === 'unknown') this.mode = c >= 49 && c <= 57 ? 'octet' : 'line';
      if (this.mode === 'octet') {
        // Relays may end octet-counted frames with LF (or CRLF): tolerated between frames, wherever the chunks split.
        if (c === 10 || c === 13) {
          pos++;
          continue;
        }
        // MSG-LEN (RFC 6587): a nonzero digit and at most nine more, then SP.
        let i = pos;
        let len = 0;
        while (i < data.length && i - pos < 10) {
          const d = (data[i] as number) - 48;
          if (d < 0 || d > 9) break;
          len = len * 10 + d;
          i++;
        }
        if (i === data.length) {
          this.hold(data, pos, 0); // the count itself is split across chunks
          return;
        }
        if (i === pos || c === 48 || data[i] !== 32) {
          this.onError('bad_octet_count', i - pos + 1);
          // Not octet counting after all (or garbage): lines from here on.
          this.mode = 'line';
          continue;
        }
        if (len > this.maxFrame) {
          this.onError('too_long', len);
          this.skip = len;
          pos = i + 1;
          continue;
        }
        if (data.length - (i + 1) < len) {
          this.hold(data, pos, i + 1 + len - pos);
          return;
        }
        this.emit(data.subarray(i + 1, i + 1 + len));
        pos = i + 1 + len;
        continue;
      }
      const lf = data.indexOf(10, pos);
      if (lf < 0) {
        if (data.length - pos > this.maxFrame) {
          this.onError('too_long', data.length - pos);
          this.skip = -1;
          return;
        }
        this.hold(data, pos, -1);
        return;
      }
      if (lf - pos > this.maxFrame) this.onError('too_long', lf - pos);
      else if (lf > pos) this.emit(data.subarray(pos, data[lf - 1] === 13 ? lf - 1 : lf));
      pos = lf + 1;
    }
  }

  /** The connection died (timeout, reset): a half-received frame is reported, not emitted. */
  abort(): void {
    // An oversize frame being skipped was counted when the skipping began.
    if (this.heldBytes > 0) this.onError('truncated', this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    this.skip = 0;
  }

  /** The peer closed: a last line without LF is still a message; a frame short of its octet count is not. */
  end(): void {
    if (this.heldBytes > 0) {
      if (this.mode === 'line') this.emit(Buffer.concat(this.held, this.heldBytes));
      else this.onError('truncated', this.heldBytes);
    }
    this.held = [];
    this.heldBytes = 0;
    this.skip = 0;
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
        // The bytes of a bad count are framed as lines next, and counted there: once is enough.
        if (reason === 'bad_octet_count') return;
        pipeline.reject(reason === 'too_long' ? 'too_long' : 'bad_format', 'tcp', reason === 'truncated' ? `connection ended mid-frame (${bytes} bytes)` : `${reason}: ${bytes} bytes`);
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
