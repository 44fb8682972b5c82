// A UDP socket on 127.0.0.1 standing where the ingester would: a test nginx's
// access log arrives here, one datagram a request, kept as text.
import { createSocket } from 'node:dgram';

export interface SyslogSink {
  /** host:port for a test nginx's `syslog` option. */
  address: string;
  datagrams: string[];
  close(): void;
}

export async function syslogSink(): Promise<SyslogSink> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const sink: SyslogSink = { address: `127.0.0.1:${socket.address().port}`, datagrams: [], close: () => socket.close() };
  // Read through the property: a test may hand the sink an array of its own.
  socket.on('message', (msg) => sink.datagrams.push(msg.toString('utf8')));
  return sink;
}
