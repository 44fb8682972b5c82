// /api/security/whitelist: addresses, ranges and paths that are never
// blocked and never counted (FlatRun's POST, plus list, read and delete).
import type { FastifyInstance } from 'fastify';
import { whitelistType } from '../../../shared/control/store.js';
import { normalizeIpOrCidr } from '../../../shared/ip.js';
import { ApiError, invalid } from '../errors.js';
import { isUrlPath } from '../validation.js';
import { actor, deploymentName, envelope, idParam, list, paging, text, type RouteDeps } from './common.js';

const whitelistSchema = {
  type: 'object',
  required: ['id', 'type', 'value', 'description', 'deployment', 'created_at'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: ['ip', 'cidr', 'path'] },
    value: { type: 'string' },
    description: { type: 'string' },
    deployment: { type: 'string' },
    created_at: { type: 'integer' },
    created_by: { type: 'string' },
  },
} as const;

export function registerWhitelist(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  app.post<{ Body: { type: 'ip' | 'cidr' | 'path'; value: string; description?: string; deployment?: string } }>(
    '/api/security/whitelist',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Add a whitelist entry (never blocked, never counted)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'value'],
          properties: { type: { type: 'string', enum: ['ip', 'cidr', 'path'] }, value: text(1024), description: text(256), deployment: deploymentName },
          // FlatRun's own example: an `ip` entry that names a range is stored as the range it names.
          example: { type: 'ip', value: '10.0.0.0/8', description: 'Internal network' },
        },
        response: { 201: envelope(whitelistSchema) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      let value: string;
      if (b.type === 'path') {
        if (!isUrlPath(b.value)) throw invalid('value', 'a path whitelist entry must start with / (no query or fragment)');
        value = b.value;
      } else {
        // `ip` and `cidr` both take an address or a range, stored as what the value names: FlatRun's
        // documentation whitelists "10.0.0.0/8" with "type": "ip", and a /32 (or /128) is an address.
        const v = normalizeIpOrCidr(b.value);
        if (v === undefined) throw invalid('value', b.type === 'ip' ? 'must be an IPv4 or IPv6 address (or a CIDR block, stored as one)' : 'must be a CIDR block such as 10.0.0.0/8');
        value = v;
      }
      const entry = await store.putWhitelist({ type: b.type === 'path' ? 'path' : whitelistType(value), value, description: b.description ?? '', deployment: b.deployment ?? '', created_by: actor(req) });
      return reply.code(201).send({ data: entry, message: 'whitelisted' });
    },
  );
  app.get<{ Querystring: { type?: 'ip' | 'cidr' | 'path'; deployment?: string; limit: number; offset: number } }>(
    '/api/security/whitelist',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Whitelist entries',
        querystring: { type: 'object', additionalProperties: false, properties: { type: { type: 'string', enum: ['ip', 'cidr', 'path'] }, deployment: deploymentName, ...paging } },
        response: { 200: list(whitelistSchema, { total: { type: 'integer' } }) },
      },
    },
    (req) => {
      const q = req.query;
      const all = [...state.whitelist.values()].map((h) => h.value).filter((w) => (!q.type || w.type === q.type) && (q.deployment === undefined || w.deployment === q.deployment));
      all.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
      return { data: all.slice(q.offset, q.offset + q.limit), total: all.length };
    },
  );
  app.get<{ Params: { id: string } }>('/api/security/whitelist/:id', { config: { auth: 'analyst' }, schema: { summary: 'One whitelist entry', params: idParam, response: { 200: envelope(whitelistSchema) } } }, (req) => {
    const e = state.whitelist.get(req.params.id);
    if (!e) throw new ApiError('LW_API_NOT_FOUND', `no whitelist entry ${req.params.id}`, 'id');
    return { data: e.value };
  });
  app.delete<{ Params: { id: string } }>('/api/security/whitelist/:id', { config: { auth: 'admin' }, schema: { summary: 'Remove a whitelist entry', params: idParam } }, async (req) => {
    const e = state.whitelist.get(req.params.id);
    if (!e) throw new ApiError('LW_API_NOT_FOUND', `no whitelist entry ${req.params.id}`, 'id');
    await store.deleteWhitelist(e.value, actor(req));
    return { data: { id: req.params.id, deleted: true } };
  });
}
