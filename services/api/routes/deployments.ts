// /api/deployments/:name/security (FlatRun's) and /api/security/deployments:
// one security policy per deployment (rate limit, allowed addresses, blocked
// paths), enforced by the nodes.
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { actor, deploymentName, envelope, ipOrCidr, list, normalizedIpParam, urlPath, type RouteDeps } from './common.js';

const deploymentSecuritySchema = {
  type: 'object',
  required: ['name', 'enabled', 'rate_limit', 'allowed_ips', 'blocked_paths'],
  properties: {
    name: { type: 'string' },
    enabled: { type: 'boolean' },
    rate_limit: { type: 'integer', description: 'requests per second per client IP; 0 = no limit' },
    allowed_ips: { type: 'array', items: { type: 'string' } },
    blocked_paths: { type: 'array', items: { type: 'string' } },
    updated_at: { type: 'integer' },
  },
} as const;
const nameParam = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: deploymentName } } as const;

export function registerDeployments(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  app.put<{ Params: { name: string }; Body: { enabled: boolean; rate_limit?: number; allowed_ips?: string[]; blocked_paths?: string[] } }>(
    '/api/deployments/:name/security',
    {
      config: { auth: 'admin' },
      schema: {
        summary: "Set a deployment's security policy",
        description: 'rate_limit: requests per second per client IP (0 = none; over it nginx answers 429 with Retry-After). allowed_ips: when non-empty, only these may reach the deployment. blocked_paths: refused with 403.',
        params: nameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['enabled'],
          properties: {
            enabled: { type: 'boolean' },
            rate_limit: { type: 'integer', minimum: 0, maximum: 1_000_000 },
            allowed_ips: { type: 'array', maxItems: 10_000, items: ipOrCidr },
            blocked_paths: { type: 'array', maxItems: 10_000, items: urlPath },
          },
          example: { enabled: true, rate_limit: 50, allowed_ips: ['10.0.0.0/8'], blocked_paths: ['/wp-admin'] },
        },
        response: { 200: envelope(deploymentSecuritySchema) },
      },
    },
    async (req) => {
      const b = req.body;
      const allowed = (b.allowed_ips ?? []).map((v, i) => normalizedIpParam(v, `allowed_ips[${i}]`));
      const dep = await store.putDeployment(
        { name: req.params.name, enabled: b.enabled, rate_limit: b.rate_limit ?? 0, allowed_ips: [...new Set(allowed)], blocked_paths: [...new Set(b.blocked_paths ?? [])] },
        actor(req),
      );
      return { data: dep, message: 'deployment security updated' };
    },
  );
  app.get<{ Params: { name: string } }>(
    '/api/deployments/:name/security',
    { config: { auth: 'analyst' }, schema: { summary: "A deployment's security policy", params: nameParam, response: { 200: envelope(deploymentSecuritySchema) } } },
    (req) => {
      const d = state.deployments.get(req.params.name);
      if (!d) throw new ApiError('LW_API_NOT_FOUND', `no security policy for deployment ${req.params.name}`, 'name');
      return { data: d.value };
    },
  );
  app.delete<{ Params: { name: string } }>('/api/deployments/:name/security', { config: { auth: 'admin' }, schema: { summary: "Remove a deployment's security policy", params: nameParam } }, async (req) => {
    if (!state.deployments.has(req.params.name)) throw new ApiError('LW_API_NOT_FOUND', `no security policy for deployment ${req.params.name}`, 'name');
    await store.deleteDeployment(req.params.name, actor(req));
    return { data: { name: req.params.name, deleted: true } };
  });
  app.get('/api/security/deployments', { config: { auth: 'analyst' }, schema: { summary: 'Every deployment security policy', response: { 200: list(deploymentSecuritySchema) } } }, () => {
    return { data: [...state.deployments.values()].map((h) => h.value).sort((a, b) => (a.name < b.name ? -1 : 1)) };
  });
}
