// `logwarden ingester --workers N`: N processes share the UDP and TCP sockets
// (Node 20's dgram has no reusePort; the cluster module shares the primary's
// handle, and the kernel spreads datagrams over the workers' reads). The
// primary only supervises: a worker that dies is replaced.
import cluster from 'node:cluster';
import type { Config } from '../../shared/config/load.js';
import { componentLogger } from '../../shared/log.js';
import { startMetricsServer } from '../../shared/metrics.js';

const log = componentLogger('ingester.workers');

export async function superviseWorkers(n: number, config: Config): Promise<void> {
  let stopping = false;
  const fork = (): void => {
    cluster.fork();
  };
  for (let i = 0; i < n; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ pid: worker.process.pid, code, signal }, 'ingester worker died; starting another');
    setTimeout(fork, 1000).unref();
  });
  const stop = (): void => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    const exitWhenDone = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    }, 100);
    exitWhenDone.unref();
    setTimeout(() => process.exit(0), 15_000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (config.metrics.port !== 0) {
    const m = await startMetricsServer(config.metrics.host, config.metrics.port, true);
    process.stdout.write(`logwarden ingester: ${n} workers; metrics (summed) at http://${config.metrics.host}:${m.port}/metrics\n`);
  }
  log.info({ workers: n }, 'ingester workers started');
}
