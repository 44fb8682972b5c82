// /api/security/cleanup (FlatRun's): deletes events older than a cutoff,
// dropping whole day partitions where it can.
import type { FastifyInstance } from 'fastify';
import { cleanupEvents } from '../../../shared/clickhouse/queries.js';
import { withSecurityOverrides } from '../../../shared/control/settings.js';
import { envelope, MAX_DURATION_S, type RouteDeps } from './common.js';

export function registerCleanup(app: FastifyInstance, deps: RouteDeps): void {
  const { ch } = deps;
  const { state } = deps.control;
  app.post<{ Body: { older_than?: number } }>(
    '/api/security/cleanup',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Delete events older than older_than seconds (default: retention_days)',
        body: { type: 'object', additionalProperties: false, properties: { older_than: { type: 'integer', minimum: 0, maximum: MAX_DURATION_S } }, example: { older_than: 604800 } },
        response: { 200: envelope({ type: 'object', additionalProperties: true, properties: { cutoff: { type: 'integer' }, partitions_dropped: { type: 'array', items: { type: 'string' } }, rows_dropped: { type: 'integer' }, rows_deleted: { type: 'integer' } } }) },
      },
    },
    async (req) => {
      const retention = withSecurityOverrides(deps.config, state).security.retention_days;
      const olderThan = req.body.older_than ?? retention * 86_400;
      const res = await cleanupEvents(ch, olderThan);
      return { data: res, message: `events before ${new Date(res.cutoff).toISOString()} removed` };
    },
  );
}
