// Sends log lines to a local ingester at a target rate, for a bounded time:
// UDP (one datagram per line, as nginx sends syslog) or TCP (newline or RFC
// 6587 octet-counted framing, as relays do). Only to loopback: this project
// never sends traffic anywhere else, so any other address is refused before a
// socket exists. Hard caps: MAX_SECONDS, and --max-lines.
//
// The pace is kept by a token bucket on the monotonic clock: each turn of the
// event loop sends what is due (at most a batch), then yields so the socket's
// I/O and the clock move on.
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { isLoopback } from '../../shared/loopback.js';

export const MAX_SECONDS = 120;

export class BlastTargetError extends Error {
  readonly code = 'LOGWARDEN_BLAST_TARGET';
}

export interface Target {
  host: string;
  port: number;
  family: 4 | 6;
}

// The one loopback guard, shared with the demo.
export { isLoopback };

/** "HOST:PORT" or "[V6]:PORT" → a loopback target, or BlastTargetError. */
export function parseLoopbackTarget(spec: string): Target {
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(spec);
  if (bracket !== null) {
    host = bracket[1] as string;
    portText = bracket[2] as string;
  } else {
    const i = spec.lastIndexOf(':');
    if (i <= 0) throw new BlastTargetError(`target "${spec}" is not HOST:PORT`);
    host = spec.slice(0, i);
    portText = spec.slice(i + 1);
    if (host.includes(':')) throw new BlastTargetError(`target "${spec}": write an IPv6 address as [ADDR]:PORT`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || !Number.isInteger(port) || port < 1 || port > 65535) throw new BlastTargetError(`target "${spec}": bad port`);
  if (host === 'localhost') host = '127.0.0.1';
  if (!isLoopback(host)) {
    throw new BlastTargetError(`refusing ${host}: blast sends only to loopback addresses (127.0.0.0/8, ::1)`);
  }
  return { host, port, family: net.isIPv6(host) ? 6 : 4 };
}

export type Framing = 'newline' | 'octet';

export interface BlastOptions {
  protocol: 'udp' | 'tcp';
  target: Target;
  /** TCP only. */
  framing: Framing;
  /** Lines per second. */
  rate: number;
  seconds: number;
  maxLines: number;
}

export interface BlastStats {
  sent: number;
  bytes: number;
  seconds: number;
  rate: number;
  target_rate: number;
  /** Send errors (UDP: e.g. ECONNREFUSED while nothing listens). */
  errors: number;
  /** Why it stopped: the time cap, the line cap, or the source ran out. */
  stopped_by: 'seconds' | 'max_lines' | 'source';
}

const BATCH = 4096;
const NEWLINE = Buffer.from('\n');
/** UDP sends Node has queued but not handed to the kernel: above this, wait a turn. */
const MAX_UDP_QUEUE = 8192;

export function checkBlastOptions(o: BlastOptions): void {
  if (!(o.seconds > 0) || o.seconds > MAX_SECONDS) throw new RangeError(`seconds must be within (0, ${MAX_SECONDS}], got ${o.seconds}`);
  if (!(o.rate > 0)) throw new RangeError(`rate must be positive, got ${o.rate}`);
  if (!Number.isInteger(o.maxLines) || o.maxLines < 0) throw new RangeError(`maxLines must be a non-negative integer, got ${o.maxLines}`);
  // Re-checked here so that no caller can reach a socket with another address.
  if (!isLoopback(o.target.host)) throw new BlastTargetError(`refusing ${o.target.host}: blast sends only to loopback addresses (127.0.0.0/8, ::1)`);
}

export async function blast(o: BlastOptions, lines: Iterator<Uint8Array>): Promise<BlastStats> {
  checkBlastOptions(o);
  return o.protocol === 'udp' ? blastUdp(o, lines) : blastTcp(o, lines);
}

/**
 * A token bucket on the monotonic clock. Its credit is capped at BURST_MS of
 * traffic: after a stall (a GC pause, a slow turn) it resumes the pace instead
 * of firing the backlog at once, which a receiver's socket buffer would drop.
 */
class Pace {
  readonly t0 = performance.now();
  readonly deadline: number;
  private last = this.t0;
  private tokens = 1;
  private readonly burst: number;

  constructor(private readonly rate: number, seconds: number) {
    this.deadline = this.t0 + seconds * 1000;
    this.burst = Math.max(1, (rate * BURST_MS) / 1000);
  }

  /** Lines that may go now. */
  take(max: number): number {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    const n = Math.min(max, Math.floor(this.tokens));
    this.tokens -= n;
    return n;
  }
}

const BURST_MS = 20;

/** The first line, pulled before the clock starts: a generator's set-up must not count as sending time. */
function primed(lines: Iterator<Uint8Array>): Iterator<Uint8Array> {
  const first = lines.next();
  let used = false;
  return {
    next: () => {
      if (!used) {
        used = true;
        return first;
      }
      return lines.next();
    },
  };
}

function stats(o: BlastOptions, sent: number, bytes: number, t0: number, errors: number, stoppedBy: BlastStats['stopped_by']): BlastStats {
  const seconds = (performance.now() - t0) / 1000;
  return { sent, bytes, seconds: Math.round(seconds * 1000) / 1000, rate: Math.round(sent / Math.max(seconds, 1e-9)), target_rate: o.rate, errors, stopped_by: stoppedBy };
}

/** Hands up to `n` lines to `each`; true when the source ran out first. */
function takeLines(lines: Iterator<Uint8Array>, n: number, each: (line: Uint8Array) => void): boolean {
  for (let i = 0; i < n; i++) {
    const it = lines.next();
    if (it.done === true) return true;
    each(it.value);
  }
  return false;
}

async function blastUdp(o: BlastOptions, lines: Iterator<Uint8Array>): Promise<BlastStats> {
  const sock = dgram.createSocket(o.target.family === 6 ? 'udp6' : 'udp4');
  let errors = 0;
  sock.on('error', () => {
    errors++;
  });
  try {
    sock.setSendBufferSize(4 << 20);
  } catch {
    // The kernel's cap (net.core.wmem_max) applies; the default still works, a little slower.
  }
  sock.connect(o.target.port, o.target.host);
  await once(sock, 'connect');
  lines = primed(lines);
  const p = new Pace(o.rate, o.seconds);
  let sent = 0;
  let bytes = 0;
  let stoppedBy: BlastStats['stopped_by'] = 'seconds';
  const onSent = (err: Error | null): void => {
    if (err) errors++;
  };
  try {
    for (;;) {
      if (performance.now() >= p.deadline) break;
      if (sent >= o.maxLines) {
        stoppedBy = 'max_lines';
        break;
      }
      const n = sock.getSendQueueCount() > MAX_UDP_QUEUE ? 0 : p.take(Math.min(BATCH, o.maxLines - sent));
      if (n === 0) {
        await sleep(1);
        continue;
      }
      const exhausted = takeLines(lines, n, (line) => {
        sock.send(line, onSent);
        sent++;
        bytes += line.length;
      });
      if (exhausted) {
        stoppedBy = 'source';
        break;
      }
      await yieldToLoop();
    }
    // Let queued datagrams leave before closing.
    while (sock.getSendQueueCount() > 0 && performance.now() < p.deadline + 2000) await sleep(1);
    return stats(o, sent, bytes, p.t0, errors, stoppedBy);
  } finally {
    sock.close();
  }
}

async function blastTcp(o: BlastOptions, lines: Iterator<Uint8Array>): Promise<BlastStats> {
  const sock = net.connect({ host: o.target.host, port: o.target.port });
  await once(sock, 'connect');
  let errors = 0;
  sock.on('error', () => {
    errors++;
  });
  lines = primed(lines);
  const p = new Pace(o.rate, o.seconds);
  let sent = 0;
  let bytes = 0;
  let stoppedBy: BlastStats['stopped_by'] = 'seconds';
  try {
    for (;;) {
      if (performance.now() >= p.deadline) break;
      if (sent >= o.maxLines) {
        stoppedBy = 'max_lines';
        break;
      }
      const n = p.take(Math.min(BATCH, o.maxLines - sent));
      if (n === 0) {
        await sleep(1);
        continue;
      }
      const frames: Uint8Array[] = [];
      const exhausted = takeLines(lines, n, (line) => {
        if (o.framing === 'octet') frames.push(Buffer.from(`${line.length} `), line);
        else frames.push(line, NEWLINE);
        sent++;
      });
      if (frames.length > 0) {
        const chunk = Buffer.concat(frames);
        bytes += chunk.length;
        if (!sock.write(chunk)) {
          // Backpressure: the receiver is slower than the target rate; wait, but not past the deadline.
          const left = p.deadline - performance.now();
          if (left > 0) await Promise.race([once(sock, 'drain'), sleep(left)]);
        }
      }
      if (exhausted) {
        stoppedBy = 'source';
        break;
      }
      await yieldToLoop();
    }
    sock.end();
    await Promise.race([once(sock, 'finish'), sleep(2000)]);
    return stats(o, sent, bytes, p.t0, errors, stoppedBy);
  } finally {
    sock.destroy();
  }
}

export interface CountStats {
  received: number;
  bytes: number;
  /** From the first to the last line received. */
  active_seconds: number;
  rate: number;
}

/**
 * A receiver that only counts (UDP datagrams, or TCP lines/frames), bound to
 * loopback, for `seconds`: the null ingester against which blast is measured.
 */
export async function count(
  protocol: 'udp' | 'tcp',
  target: Target,
  seconds: number,
  framing: Framing = 'newline',
  /** Called once listening, with the bound port (useful with port 0). */
  onReady?: (port: number) => void,
): Promise<CountStats> {
  if (!(seconds > 0) || seconds > MAX_SECONDS + 10) throw new RangeError(`seconds must be within (0, ${MAX_SECONDS + 10}]`);
  if (!isLoopback(target.host)) throw new BlastTargetError(`refusing to listen on ${target.host}: loopback only`);
  let received = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  const seen = (n: number, b: number): void => {
    if (received === 0) first = performance.now();
    received += n;
    bytes += b;
    last = performance.now();
  };
  if (protocol === 'udp') {
    const sock = dgram.createSocket(target.family === 6 ? 'udp6' : 'udp4');
    sock.on('message', (m) => seen(1, m.length));
    sock.bind(target.port, target.host);
    await once(sock, 'listening');
    try {
      sock.setRecvBufferSize(32 << 20);
    } catch {
      // Capped by net.core.rmem_max.
    }
    onReady?.(sock.address().port);
    await sleep(seconds * 1000);
    sock.close();
  } else {
    const server = net.createServer((c) => {
      let pending: Buffer = Buffer.alloc(0);
      c.on('data', (d: Buffer) => {
        if (framing === 'newline') {
          let n = 0;
          for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) n++;
          seen(n, d.length);
          return;
        }
        pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
        let n = 0;
        let at = 0;
        for (;;) {
          const sp = pending.indexOf(32, at);
          if (sp < 0) break;
          const len = Number(pending.toString('latin1', at, sp));
          if (!Number.isInteger(len) || pending.length < sp + 1 + len) break;
          at = sp + 1 + len;
          n++;
        }
        pending = pending.subarray(at);
        seen(n, d.length);
      });
      c.on('error', () => undefined);
    });
    server.listen(target.port, target.host);
    await once(server, 'listening');
    const address = server.address();
    onReady?.(typeof address === 'object' && address !== null ? address.port : target.port);
    await sleep(seconds * 1000);
    server.close();
  }
  const active = received > 1 ? (last - first) / 1000 : 0;
  return { received, bytes, active_seconds: Math.round(active * 1000) / 1000, rate: active > 0 ? Math.round(received / active) : received };
}
