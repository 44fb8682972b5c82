// The ingester service: the syslog inputs (UDP from nginx, TCP from relays)
// feeding one pipeline (pipeline.ts) that parses lines and publishes
// AccessRecords. Stopped inputs first, so the pipeline's last sends hold
// everything that was taken.
import type { Started, ServiceContext } from '../context.js';
import { IngestPipeline } from './pipeline.js';

export { IngestPipeline };
export { DiskBuffer, readSlot } from './disk-buffer.js';
import { join } from 'node:path';
import type { Config } from '../../shared/config/load.js';
import { INGEST_ERRORS } from '../../shared/access-log/errors.js';
import { LogwardenError } from '../../shared/errors.js';
import { DiskBuffer } from './disk-buffer.js';
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
  const disk = openDiskBuffer(config);
  const pipeline = new IngestPipeline(config, bus, topics, {}, disk);
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

/** The disk buffer under `<data_dir>/ingest-buffer` (a slot per ingester process), unless ingest.disk_buffer.max_bytes is 0. */
function openDiskBuffer(config: Config): DiskBuffer | undefined {
  const o = config.ingest.disk_buffer;
  if (o.max_bytes === 0) return undefined;
  const dir = join(config.data_dir, 'ingest-buffer');
  try {
    return DiskBuffer.open(dir, { maxBytes: o.max_bytes, segmentBytes: o.segment_bytes, fsync: o.fsync, fsyncIntervalMs: o.fsync_interval_ms });
  } catch (err) {
    throw new LogwardenError(INGEST_ERRORS.LW_INGEST_DISK_BUFFER_UNAVAILABLE, `cannot open the disk buffer under ${dir}: ${(err as Error).message}`, { field: 'ingest.disk_buffer', cause: err });
  }
}
