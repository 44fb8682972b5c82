// The management API (fastify, port 8090). This first slice serves the
// probes and metrics; the FlatRun-compatible /api/security routes build on it.
import Fastify, { LogController } from 'fastify';
import type { Bus } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import type { Config } from '../../shared/config/load.js';
import { rootLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';

export interface ApiDeps {
  config: Config;
  bus: Bus;
  ch: ClickHouse;
  version: string;
}

export function buildApi(deps: ApiDeps) {
  const app = Fastify({
    loggerInstance: rootLogger.child({ component: 'api' }),
    bodyLimit: deps.config.api.body_limit_bytes,
    // Per-request lines would double the log volume of probes and scrapes; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });

  // Liveness: the process answers. Never depends on ClickHouse or Kafka, so an
  // orchestrator does not restart a healthy process during a dependency outage.
  app.get('/healthz', () => ({ status: 'ok', version: deps.version }));

  // Readiness: the dependencies answer.
  app.get('/readyz', async (_req, reply) => {
    const clickhouse = await deps.ch.ping().catch(() => false);
    const ready = clickhouse;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: { clickhouse, bus: deps.bus.kind } });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
  return app;
}
export type ApiServer = ReturnType<typeof buildApi>;
