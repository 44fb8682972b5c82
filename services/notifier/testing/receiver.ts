// A webhook receiver on loopback for the notifier's tests: it keeps every
// request (raw body and headers) and answers what the test says.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The status answered. */
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests answered 2xx. */
  accepted(): Received[];
  /** Decides each answer (default 200); may wait. */
  answer: (req: Received, n: number) => number | Promise<number>;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hook'): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    received: [],
    accepted: () => r.received.filter((x) => x.status >= 200 && x.status < 300),
    answer: () => 200,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: 0 };
      void Promise.resolve(r.answer(entry, r.received.length)).then((status) => {
        entry.status = status;
        r.received.push(entry);
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return r;
}
