// Ports for a test's own servers on 127.0.0.1 (TCP ones come from ./nginx.ts's freePort).
import { createSocket } from 'node:dgram';

/** A UDP port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
