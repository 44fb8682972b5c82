// The process-wide Prometheus registry. Each module declares its own metrics
// at its top (see STYLE.md: metrics live with the code that owns them).
// `logwarden all` and `api` serve them at /metrics on the API port; the other
// services, run alone, serve them on `metrics.port`. Ingester workers
// (cluster) report to their primary, which serves the sum.
import cluster from 'node:cluster';
import http from 'node:http';
import { AggregatorRegistry, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
registry.setDefaultLabels({ app: 'logwarden' });
collectDefaultMetrics({ register: registry, prefix: 'logwarden_process_' });
if (cluster.isWorker) {
  // Constructing one installs prom-client's worker-side listener for the primary's requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries(registry);
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** GET /metrics on host:port; with `aggregateWorkers`, the sum over the cluster's workers. */
export async function startMetricsServer(host: string, port: number, aggregateWorkers = false): Promise<MetricsServer> {
  const aggregator = aggregateWorkers ? new AggregatorRegistry() : undefined;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","message":"only GET /metrics"}');
      return;
    }
    const body = aggregator ? aggregator.clusterMetrics() : registry.metrics();
    body.then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'metrics_failed', message: String(err) })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
