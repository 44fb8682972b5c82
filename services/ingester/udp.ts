// UDP syslog input: what nginx's `access_log syslog:server=...` sends, one
// datagram per request.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { componentLogger } from '../../shared/log.js';
import type { IngestPipeline } from './pipeline.js';

const log = componentLogger('ingester.udp');

export interface UdpInput {
  port: number;
  close(): Promise<void>;
}

export async function startUdpInput(pipeline: IngestPipeline, host: string, port: number, recvBufferBytes = 32 * 1024 * 1024): Promise<UdpInput> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: true });
  socket.on('message', (msg) => {
    pipeline.offer(msg, 'udp');
  });
  socket.on('error', (err) => log.error({ err }, 'UDP socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: false }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A large kernel buffer absorbs bursts while the event loop is busy encoding
  // (the kernel charges each small datagram far more than its payload).
  try {
    socket.setRecvBufferSize(recvBufferBytes);
  } catch (err) {
    log.warn({ err }, 'could not set the UDP receive buffer');
  }
  // Linux caps the value asked at net.core.rmem_max, silently, then doubles it
  // (the other half is its bookkeeping): got is twice what it granted.
  const got = socket.getRecvBufferSize();
  const granted = process.platform === 'linux' ? Math.floor(got / 2) : got;
  if (granted < recvBufferBytes) {
    log.warn(
      { asked: recvBufferBytes, granted },
      `UDP receive buffer capped by net.core.rmem_max: raise it (sysctl -w net.core.rmem_max=${recvBufferBytes}) or bursts are lost in the kernel`,
    );
  }
  const bound = socket.address().port;
  log.info({ host, port: bound }, 'listening for syslog over UDP');
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
