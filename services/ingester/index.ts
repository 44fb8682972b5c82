// The ingester service: the syslog inputs (UDP from nginx, TCP from relays)
// feeding one pipeline (pipeline.ts) that parses lines and publishes
// AccessRecords. Stopped inputs first, so the pipeline's last sends hold
// everything that was taken.
import type { Started, ServiceContext } from '../context.js';
import { IngestPipeline } from './pipeline.js';

export type { IngestPipeline };
import { startTcpInput } from './tcp.js';
import { startUdpInput } from './udp.js';

export interface StartedIngester extends Started {
  pipeline: IngestPipeline;
  /** The bound ports (a configured port 0 picks one). */
  udpPort: number | undefined;
  tcpPort: number | undefined;
}

/** What the pipeline's last sends leave of a stop's bound: what the bus did not take is counted, not just left behind. */
const CLOSE_MARGIN_MS = 500;

export async function start(ctx: ServiceContext): Promise<StartedIngester> {
  const { config, bus, topics } = ctx;
  const { udp, tcp } = config.ingest;
  const pipeline = new IngestPipeline(config, bus, topics);
  const inputs: Array<{ close(): Promise<void> }> = [];
  const stop = async (withinMs: number): Promise<void> => {
    const t0 = Date.now();
    for (const input of inputs.reverse()) await input.close();
    await pipeline.close(Math.max(100, withinMs - (Date.now() - t0) - CLOSE_MARGIN_MS));
  };
  let udpPort: number | undefined;
  let tcpPort: number | undefined;
  try {
    if (udp.enabled) {
      const input = await startUdpInput(pipeline, udp.host, udp.port, udp.recv_buffer_bytes);
      inputs.push(input);
      udpPort = input.port;
    }
    if (tcp.enabled) {
      // Room for the syslog header and octet count around the longest accepted line.
      const input = await startTcpInput(pipeline, { host: tcp.host, port: tcp.port, maxFrameBytes: config.ingest.max_line_bytes + 1024 });
      inputs.push(input);
      tcpPort = input.port;
    }
  } catch (err) {
    await stop(1_000);
    throw err;
  }
  return { pipeline, udpPort, tcpPort, stop };
}
