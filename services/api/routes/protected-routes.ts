// /api/security/protected-routes: paths the nodes guard with basic or bearer
// authentication (FlatRun's POST, plus list, read and delete). A credential is
// hashed on arrival (shared/credential-hash.ts) and never leaves the API again.
import type { FastifyInstance } from 'fastify';
import { AUTH_TYPES, ROUTE_METHODS, type ProtectedRoute } from '../../../shared/control/state.js';
import { hashCredential } from '../../../shared/credential-hash.js';
import { ApiError, invalid } from '../errors.js';
import { hasControlChar } from '../validation.js';
import { actor, deploymentName, envelope, idParam, list, paging, urlPath, type RouteDeps } from './common.js';

// Credentials and their hashes never leave the API: the response schema has no field for them.
const routeSchema = {
  type: 'object',
  required: ['id', 'path', 'method', 'auth_type', 'deployment', 'created_at'],
  properties: {
    id: { type: 'string' },
    path: { type: 'string' },
    method: { type: 'string' },
    auth_type: { type: 'string' },
    deployment: { type: 'string' },
    created_at: { type: 'integer' },
    created_by: { type: 'string' },
  },
} as const;

function publicRoute(r: ProtectedRoute): Omit<ProtectedRoute, 'credential_hash'> {
  const { credential_hash: _hidden, ...rest } = r;
  return rest;
}

export function registerProtectedRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  app.post<{ Body: { path: string; method?: string; auth_type: 'basic' | 'bearer'; credentials: string; deployment?: string } }>(
    '/api/security/protected-routes',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Protect a path with basic or bearer authentication at the edge',
        description: 'Credentials are stored and pushed only as salted hashes, and never returned. basic: "user:password"; bearer: the token.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['path', 'auth_type', 'credentials'],
          properties: {
            path: { ...urlPath, description: 'a prefix on segment boundaries ("/admin"), or a wildcard with * ("/admin/*")' },
            method: { type: 'string', enum: [...ROUTE_METHODS] },
            auth_type: { type: 'string', enum: [...AUTH_TYPES] },
            credentials: { type: 'string', minLength: 1, maxLength: 512 },
            deployment: deploymentName,
          },
          example: { path: '/admin', method: 'ALL', auth_type: 'basic', credentials: 'admin:secret', deployment: 'my-app' },
        },
        response: { 201: envelope(routeSchema) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (b.auth_type === 'basic') {
        const i = b.credentials.indexOf(':');
        if (i <= 0) throw invalid('credentials', 'basic credentials are "user:password" with a non-empty user');
        if (hasControlChar(b.credentials)) throw invalid('credentials', 'must not contain control characters');
      } else if (!/^[\x21-\x7e]{8,512}$/.test(b.credentials)) {
        throw invalid('credentials', 'a bearer token is 8 to 512 printable ASCII characters without spaces');
      }
      const route = await store.putRoute({
        path: b.path, method: (b.method ?? 'ALL') as ProtectedRoute['method'], auth_type: b.auth_type, deployment: b.deployment ?? '',
        credential_hash: hashCredential(b.credentials), created_by: actor(req),
      });
      return reply.code(201).send({ data: publicRoute(route), message: 'route protected' });
    },
  );
  app.get<{ Querystring: { deployment?: string; limit: number; offset: number } }>(
    '/api/security/protected-routes',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Protected routes (never their credentials)',
        querystring: { type: 'object', additionalProperties: false, properties: { deployment: deploymentName, ...paging } },
        response: { 200: list(routeSchema, { total: { type: 'integer' } }) },
      },
    },
    (req) => {
      const q = req.query;
      const all = [...state.routes.values()].map((h) => publicRoute(h.value)).filter((r) => q.deployment === undefined || r.deployment === q.deployment);
      all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.id < b.id ? -1 : 1));
      return { data: all.slice(q.offset, q.offset + q.limit), total: all.length };
    },
  );
  app.get<{ Params: { id: string } }>('/api/security/protected-routes/:id', { config: { auth: 'analyst' }, schema: { summary: 'One protected route', params: idParam, response: { 200: envelope(routeSchema) } } }, (req) => {
    const r = state.routes.get(req.params.id);
    if (!r) throw new ApiError('LW_API_NOT_FOUND', `no protected route ${req.params.id}`, 'id');
    return { data: publicRoute(r.value) };
  });
  app.delete<{ Params: { id: string } }>('/api/security/protected-routes/:id', { config: { auth: 'admin' }, schema: { summary: 'Remove a protected route', params: idParam } }, async (req) => {
    const r = state.routes.get(req.params.id);
    if (!r) throw new ApiError('LW_API_NOT_FOUND', `no protected route ${req.params.id}`, 'id');
    await store.deleteRoute(r.value, actor(req));
    return { data: { id: req.params.id, deleted: true } };
  });
}
