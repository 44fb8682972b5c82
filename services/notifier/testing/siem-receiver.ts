// A SIEM on loopback for the SIEM push's tests and bench: a TCP listener that
// splits what arrives into messages — octet-counted (RFC 6587 3.4.1, what a
// syslog+tcp:// target sends) or newline-framed (a tcp:// target) — and can
// be stopped and started again on the same port, as a SIEM that goes down.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpReceiver {
  port: number;
  messages: string[];
  /** Bytes received; for the bench, which does not keep messages. */
  bytes: number;
  /** Listens (again) on the same port. */
  start(): Promise<void>;
  /** Closes the listener and every connection: the target sees a SIEM that is down. */
  stop(): Promise<void>;
}

/** Splits octet-counted frames off `buf`; returns the rest (an incomplete frame). */
function octetFrames(buf: Buffer, out: string[] | undefined): Buffer {
  let at = 0;
  for (;;) {
    const space = buf.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(buf.toString('latin1', at, space));
    if (!Number.isSafeInteger(len) || len <= 0) throw new Error(`not an octet count: ${buf.toString('latin1', at, Math.min(space, at + 20))}`);
    if (buf.length < space + 1 + len) break;
    out?.push(buf.toString('utf8', space + 1, space + 1 + len));
    at = space + 1 + len;
  }
  return buf.subarray(at);
}

function lineFrames(buf: Buffer, out: string[] | undefined): Buffer {
  let at = 0;
  for (let nl = buf.indexOf(0x0a, at); nl >= 0; nl = buf.indexOf(0x0a, at)) {
    out?.push(buf.toString('utf8', at, nl));
    at = nl + 1;
  }
  return buf.subarray(at);
}

export async function tcpReceiver(framing: 'octet' | 'line', opts: { keep?: boolean; port?: number } = {}): Promise<TcpReceiver> {
  const keep = opts.keep ?? true;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const r: TcpReceiver = {
    port: opts.port ?? 0,
    messages: [],
    bytes: 0,
    async start() {
      const s = createServer((sock) => {
        sockets.add(sock);
        let rest: Buffer = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          r.bytes += chunk.length;
          const buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
          rest = framing === 'octet' ? octetFrames(buf, keep ? r.messages : []) : lineFrames(buf, keep ? r.messages : []);
        });
        sock.on('error', () => undefined);
        sock.on('close', () => sockets.delete(sock));
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(r.port, '127.0.0.1', () => resolve());
      });
      r.port = (s.address() as AddressInfo).port;
      server = s;
    },
    async stop() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await r.start();
  return r;
}
