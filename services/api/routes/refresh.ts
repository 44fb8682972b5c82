// /api/security/refresh (FlatRun's): asks every enforcer to push the full
// state (blocks and rules) to its nodes now; waits for the one in this process,
// if there is one.
import type { FastifyInstance } from 'fastify';
import { actor, envelope, type RouteDeps } from './common.js';

export function registerRefresh(app: FastifyInstance, deps: RouteDeps): void {
  const { store } = deps.control;
  app.post('/api/security/refresh', {
    config: { auth: 'admin' },
    schema: { summary: 'Push the full state (blocks and rules) to every node now', response: { 200: envelope({ type: 'object', required: ['refreshed'], properties: { refreshed: { type: 'boolean' }, local_enforcer: { type: 'boolean' } } }) } },
  }, async (req) => {
    await store.requestRefresh(actor(req));
    if (deps.refresh) await deps.refresh();
    return { data: { refreshed: true, local_enforcer: deps.refresh !== undefined }, message: 'full state pushed' };
  });
}
