// Consumer lag, as each subscription sees it after a batch: the records of its
// partition not yet handled (the log's end minus the committed position). One
// gauge for both buses, so dashboards and alerts read the same series in
// embedded and distributed mode.
import { Gauge } from 'prom-client';
import { registry } from '../metrics.js';

const lag = new Gauge({
  name: 'logwarden_bus_consumer_lag',
  help: 'Records of a partition not yet handled by a consumer group, after its last batch (log end minus committed position)',
  labelNames: ['group', 'topic', 'partition'],
  registers: [registry],
});

/** After a batch is committed at `next`, with the partition's log ending at `end` (the offset the next record will get). */
export function recordLag(group: string, topic: string, partition: number, end: bigint, next: bigint): void {
  lag.set({ group, topic, partition: String(partition) }, Number(end > next ? end - next : 0n));
}
