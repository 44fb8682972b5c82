// The /api/security routes (FlatRun's, exactly as its documentation writes
// them, plus the reads and filter-rule endpoints a user of such an API
// expects). Every change goes through the ControlStore: durable in ClickHouse,
// published on the bus, then visible to the next GET of this process.
//
// Responses follow FlatRun's envelope: { "data": ..., "message"?: ... } with
// paging fields beside `data` on lists.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { accessRecordCodec, securityEventCodec } from '../../shared/avro/codec.js';
import type { Bus } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import { cleanupEvents, EVENT_TYPES, listEvents, stats, timeSeries } from '../../shared/clickhouse/queries.js';
import type { Config } from '../../shared/config/load.js';
import { formatDuration, parseDuration } from '../../shared/config/duration.js';
import { filterLevelId, parseFilterLevel, ROUTE_METHODS, AUTH_TYPES, type ControlState, type FilterLevelWhere, type ProtectedRoute, type WhitelistEntry } from '../../shared/control/state.js';
import { withSecurityOverrides } from '../../shared/control/settings.js';
import { whitelistType, type ControlStore } from '../../shared/control/store.js';
import { hashCredential } from '../../shared/credential-hash.js';
import { ipInRange, normalizeIpOrCidr } from '../../shared/ip.js';
import type { AccessRecord, BlockDecision, SecurityEvent } from '../../shared/records.js';
import type { Topics } from '../../shared/topics.js';
import { validateRuleSet, type RuleSet, type SecurityFilter } from '../../shared/security-filter/index.js';
import { ApiError, invalid } from './errors.js';
import { TopicStream } from './stream.js';
import { hasControlChar, isUrlPath } from './validation.js';

export interface RouteDeps {
  config: Config;
  bus: Bus;
  ch: ClickHouse;
  topics: Topics;
  control: { state: ControlState; store: ControlStore };
  refresh?: () => Promise<void>;
  /** A view of the control plane's realtime_capture setting (config default): switched only through the store. */
  state: { readonly capture: boolean };
}

// ------------------------------------------------------------------ schemas

const MAX_DURATION_S = 10 * 365 * 86_400;
const deploymentName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'deployment name' } as const;
const ipOrCidr = { type: 'string', maxLength: 64, format: 'ip-or-cidr' } as const;
const text = (max: number, description?: string) => ({ type: 'string', maxLength: max, ...(description ? { description } : {}) }) as const;
const urlPath = { type: 'string', minLength: 1, maxLength: 1024, format: 'url-path' } as const;

const envelope = (data: object, extra: Record<string, object> = {}) =>
  ({ type: 'object', required: ['data'], properties: { data, message: { type: 'string' }, ...extra } }) as const;
const list = (item: object, extra: Record<string, object> = {}) => envelope({ type: 'array', items: item }, extra);

const blockSchema = {
  type: 'object',
  required: ['ip', 'reason', 'source', 'created_at', 'expires_at', 'deployment', 'escalation_level'],
  properties: {
    ip: { type: 'string' },
    reason: { type: 'string' },
    source: { type: 'string', enum: ['auto', 'manual', 'filter'] },
    created_at: { type: 'integer', description: 'epoch ms' },
    expires_at: { type: ['integer', 'null'], description: 'epoch ms; null = permanent' },
    deployment: { type: 'string', description: "'' = every deployment" },
    escalation_level: { type: 'integer' },
  },
} as const;

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

const eventSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'ts', 'type', 'detector', 'ip', 'deployment', 'count'],
  properties: {
    id: { type: 'string' },
    ts: { type: 'integer' },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    detector: { type: 'string' },
    ip: { type: 'string' },
    deployment: { type: 'string' },
    count: { type: 'integer' },
    window_start: { type: 'integer' },
    window_end: { type: 'integer' },
    sample_paths: { type: 'array', items: { type: 'string' } },
    details: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

const securityFilterDoc = {
  type: 'object',
  description: 'A security_filter block (schemas/security-filter/rule-set.schema.json): { enabled, filter_rules, response_handling }',
} as const;

const paging = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
  offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
} as const;

const idParam = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', maxLength: 64 } } } as const;

/** Settings of the `security:` block that may change at run time (durations as in the config file). */
const RUNTIME_SECURITY = {
  enabled: { type: 'boolean' },
  scan_interval: { type: 'string', format: 'duration' },
  retention_days: { type: 'integer', minimum: 1, maximum: 3650 },
  rate_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  auto_block_enabled: { type: 'boolean' },
  auto_block_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  auto_block_duration: { type: 'string', format: 'duration' },
  detection_window: { type: 'string', format: 'duration' },
  not_found_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  auth_failure_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  unique_paths_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  repeated_hits_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
} as const;
const DURATION_KEYS = new Set(['scan_interval', 'auto_block_duration', 'detection_window']);

// ------------------------------------------------------------------ helpers

function actor(req: FastifyRequest): string {
  return req.principal ? `api:${req.principal.name}` : 'api';
}

/** The effective `security:` settings: the config file's, then run-time overrides. Durations as the file writes them. */
export function effectiveSecurity(config: Config, state: ControlState, capture: boolean): Record<string, unknown> {
  const s = withSecurityOverrides(config, state).security;
  return {
    enabled: s.enabled,
    realtime_capture: capture,
    scan_interval: formatDuration(s.scan_interval_ms),
    retention_days: s.retention_days,
    rate_threshold: s.rate_threshold,
    auto_block_enabled: s.auto_block_enabled,
    auto_block_threshold: s.auto_block_threshold,
    auto_block_duration: formatDuration(s.auto_block_duration_ms),
    detection_window: formatDuration(s.detection_window_ms),
    not_found_threshold: s.not_found_threshold,
    auth_failure_threshold: s.auth_failure_threshold,
    unique_paths_threshold: s.unique_paths_threshold,
    repeated_hits_threshold: s.repeated_hits_threshold,
  };
}

function isWhitelisted(ip: string, deps: RouteDeps): WhitelistEntry | { value: string; description: string } | undefined {
  const isRange = ip.includes('/');
  const covers = (entry: string): boolean => {
    const e = normalizeIpOrCidr(entry);
    if (!e) return false;
    if (!isRange) return ipInRange(ip, e);
    // A block range that overlaps a whitelisted address or range.
    const [net] = ip.split('/') as [string];
    const [enet] = e.split('/') as [string];
    return ipInRange(net, e) || ipInRange(enet, ip);
  };
  for (const { value: w } of deps.control.state.whitelist.values()) if (w.type !== 'path' && covers(w.value)) return w;
  const cfg = deps.config.detection.whitelist;
  for (const v of [...cfg.ips, ...cfg.cidrs]) if (covers(v)) return { value: v, description: 'config detection.whitelist' };
  return undefined;
}

function normalizedIpParam(raw: string, field: string): string {
  const ip = normalizeIpOrCidr(raw);
  if (ip === undefined) throw invalid(field, 'must be an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/8)');
  return ip;
}

function publicRoute(r: ProtectedRoute): Omit<ProtectedRoute, 'credential_hash'> {
  const { credential_hash: _hidden, ...rest } = r;
  return rest;
}

// Date.parse alone takes almost anything ("-1", "*/ SELECT 1 /*" are 2001-01-01 to V8): only ISO 8601 gets there.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

function parseTime(v: string | undefined, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d{1,16}$/.test(v)) return Number(v);
  const t = ISO_8601.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t) || t < 0) throw invalid(field, 'must be epoch milliseconds or an ISO 8601 time');
  return t;
}

// ------------------------------------------------------------------ routes

export function registerSecurityRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  const { ch } = deps;
  const eventStream = new TopicStream<SecurityEvent>(deps.bus, deps.topics.events, securityEventCodec, deps.config.kafka.client_id);
  const requestStream = new TopicStream<AccessRecord>(deps.bus, deps.topics.access, accessRecordCodec, deps.config.kafka.client_id);
  app.addHook('onClose', async () => {
    await Promise.all([eventStream.close(), requestStream.close()]);
  });

  // ---------------------------------------------------------------- blocked IPs
  app.post<{ Body: { ip: string; reason?: string; duration?: number; permanent?: boolean; deployment?: string; force?: boolean } }>(
    '/api/security/blocked-ips',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Block an address or CIDR range',
        description:
          '`duration` in seconds; 0 or absent follows `auto_block_duration`; `"permanent": true` blocks until unblocked. A whitelisted address, or the caller\'s own, is refused unless `"force": true`.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['ip'],
          properties: {
            ip: ipOrCidr,
            reason: text(256),
            duration: { type: 'integer', minimum: 0, maximum: MAX_DURATION_S, description: 'seconds' },
            permanent: { type: 'boolean' },
            deployment: deploymentName,
            force: { type: 'boolean' },
          },
          example: { ip: '192.168.1.100', reason: 'Suspicious activity', duration: 86400 },
        },
        response: { 201: envelope(blockSchema) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const ip = normalizedIpParam(b.ip, 'ip');
      if (b.permanent === true && b.duration !== undefined && b.duration > 0) throw invalid('duration', 'must be absent or 0 when permanent is true');
      if (!b.force) {
        const w = isWhitelisted(ip, deps);
        if (w) throw new ApiError('LW_API_WHITELISTED', `${ip} is whitelisted (${w.value}${w.description ? `: ${w.description}` : ''}); send "force": true to block it anyway`, 'ip');
        const caller = normalizeIpOrCidr(req.ip);
        if (caller && ipInRange(caller, ip)) throw new ApiError('LW_API_SELF_BLOCK', `${ip} covers this request's own address ${caller}; send "force": true to block it anyway`, 'ip');
      }
      const now = Date.now();
      const durationMs = b.permanent === true ? null : b.duration !== undefined && b.duration > 0 ? b.duration * 1000 : withSecurityOverrides(deps.config, state).security.auto_block_duration_ms;
      const d: BlockDecision = {
        ip, action: 'block', reason: b.reason ?? 'manual block', source: 'manual', created_at: now,
        expires_at: durationMs === null ? null : now + durationMs, deployment: b.deployment ?? null, escalation_level: 0,
      };
      await store.decide(d);
      return reply.code(201).send({ data: blockOut(d), message: `${ip} blocked` });
    },
  );

  app.get<{ Querystring: { source?: 'auto' | 'manual' | 'filter'; ip?: string; deployment?: string; limit: number; offset: number } }>(
    '/api/security/blocked-ips',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Blocks in force, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { source: { type: 'string', enum: ['auto', 'manual', 'filter'] }, ip: { ...ipOrCidr, description: 'an address, or a CIDR: blocks inside it' }, deployment: deploymentName, ...paging },
        },
        response: { 200: list(blockSchema, { total: { type: 'integer' }, limit: { type: 'integer' }, offset: { type: 'integer' } }) },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await store.listBlocks({
        limit: q.limit, offset: q.offset,
        ...(q.source ? { source: q.source } : {}),
        ...(q.ip ? { ip: normalizedIpParam(q.ip, 'ip') } : {}),
        ...(q.deployment !== undefined ? { deployment: q.deployment } : {}),
      });
      return { data: page.blocks, total: page.total, limit: q.limit, offset: q.offset };
    },
  );

  // An address, or a CIDR whose "/" is sent encoded (%2F) or as a second segment.
  const ipParams = { type: 'object', additionalProperties: false, required: ['ip'], properties: { ip: { type: 'string', maxLength: 64 }, bits: { type: 'string', pattern: '^\\d{1,3}$' } } } as const;
  const ipFromParams = (p: { ip: string; bits?: string }): string => normalizedIpParam(p.bits === undefined ? p.ip : `${p.ip}/${p.bits}`, 'ip');

  const getBlock = async (req: FastifyRequest<{ Params: { ip: string; bits?: string } }>) => {
    const ip = ipFromParams(req.params);
    const page = await store.listBlocks({ ip, limit: 1000, offset: 0 });
    const exact = page.blocks.filter((b) => b.ip === ip);
    if (exact.length === 0) throw new ApiError('LW_API_NOT_FOUND', `${ip} is not blocked`, 'ip');
    return { data: exact[0] };
  };
  const deleteBlock = async (req: FastifyRequest<{ Params: { ip: string; bits?: string } }>) => {
    const ip = ipFromParams(req.params);
    const page = await store.listBlocks({ ip, limit: 1000, offset: 0 });
    const held = page.blocks.filter((b) => b.ip === ip);
    if (held.length === 0) throw new ApiError('LW_API_NOT_FOUND', `${ip} is not blocked`, 'ip');
    const now = Date.now();
    for (const b of held) {
      await store.decide({ ip, action: 'unblock', reason: 'manual unblock', source: 'manual', created_at: now, expires_at: null, deployment: b.deployment === '' ? null : b.deployment, escalation_level: b.escalation_level });
    }
    return { data: { ip, unblocked: true }, message: `${ip} unblocked` };
  };
  const unblockResponse = { 200: envelope({ type: 'object', required: ['ip', 'unblocked'], properties: { ip: { type: 'string' }, unblocked: { type: 'boolean' } } }) };
  for (const url of ['/api/security/blocked-ips/:ip', '/api/security/blocked-ips/:ip/:bits']) {
    const params = url.endsWith(':bits') ? ipParams : { ...ipParams, properties: { ip: ipParams.properties.ip } };
    app.get(url, { config: { auth: 'analyst' }, schema: { summary: 'One block in force', params, response: { 200: envelope(blockSchema) } } }, getBlock);
    app.delete(url, { config: { auth: 'admin' }, schema: { summary: 'Lift a block', params, response: unblockResponse } }, deleteBlock);
  }

  // ---------------------------------------------------------------- whitelist
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
          example: { type: 'cidr', value: '10.0.0.0/8', description: 'Internal network' },
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
        const v = normalizeIpOrCidr(b.value);
        if (v === undefined || (b.type === 'ip' && v.includes('/'))) throw invalid('value', b.type === 'ip' ? 'must be an IPv4 or IPv6 address' : 'must be a CIDR block such as 10.0.0.0/8');
        // A /32 (or /128) folds to its address; it is still what the caller asked for.
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

  // ---------------------------------------------------------------- protected routes
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

  // ---------------------------------------------------------------- deployments
  const nameParam = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: deploymentName } } as const;
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

  // ---------------------------------------------------------------- security_filter
  const filterOut = (where: FilterLevelWhere) => {
    const h = state.filters.get(filterLevelId(where));
    if (!h) throw new ApiError('LW_API_NOT_FOUND', `no security_filter at ${filterLevelId(where)}`);
    return { data: { level: h.value.level, security_filter: h.value.security_filter, updated_at: h.value.updated_at } };
  };
  // A level is checked as part of the whole rule set it would produce, with the shared validator (the Lua module and the detectors run the same set).
  const putFilter = async (req: FastifyRequest, where: FilterLevelWhere, filter: SecurityFilter) => {
    const level = filterLevelId(where);
    const prefix = where.kind === 'property' ? 'property' : where.kind === 'domain' ? `domains.${where.host}` : 'paths[0]';
    const candidate: RuleSet = { version: 1 };
    if (where.kind === 'property') candidate.property = filter;
    else if (where.kind === 'domain') candidate.domains = { [where.host]: filter };
    else candidate.paths = [{ ...(where.host === '*' ? {} : { host: where.host }), path: where.path, security_filter: filter }];
    const v = validateRuleSet(candidate);
    if (!v.ok) {
      const e = v.errors[0];
      const field = e?.path ? `security_filter${(e.path.startsWith(prefix) ? e.path.slice(prefix.length) : `.${e.path}`).replace(/^\.security_filter/, '')}` : 'security_filter';
      throw invalid(field, e?.message ?? 'invalid');
    }
    await store.putFilter(level, filter, actor(req));
    return filterOut(where);
  };
  const filterLevelSchema = envelope({ type: 'object', required: ['level', 'security_filter'], properties: { level: { type: 'string' }, security_filter: { type: 'object', additionalProperties: true }, updated_at: { type: 'integer' } } });
  const filterBody = { type: 'object', additionalProperties: false, required: ['security_filter'], properties: { security_filter: securityFilterDoc } } as const;
  const hostParam = { type: 'object', additionalProperties: false, required: ['host'], properties: { host: { type: 'string', minLength: 1, maxLength: 253 } } } as const;
  const pathQuery = { type: 'object', additionalProperties: false, required: ['path'], properties: { host: { type: 'string', minLength: 1, maxLength: 253, description: 'absent: every host' }, path: urlPath } } as const;

  app.get('/api/security/filter', {
    config: { auth: 'analyst' },
    schema: { summary: 'The whole security_filter rule set (every level composed) and its version', response: { 200: envelope({ type: ['object', 'null'], additionalProperties: true }) } },
  }, () => ({ data: state.ruleSet() }));
  app.get('/api/security/filter/property', { config: { auth: 'analyst' }, schema: { summary: 'security_filter at property level (every host)', response: { 200: filterLevelSchema } } }, () => filterOut({ kind: 'property' }));
  app.put<{ Body: { security_filter: SecurityFilter } }>('/api/security/filter/property', { config: { auth: 'admin' }, schema: { summary: 'Set security_filter at property level', body: filterBody, response: { 200: filterLevelSchema } } }, (req) =>
    putFilter(req, { kind: 'property' }, req.body.security_filter),
  );
  app.delete('/api/security/filter/property', { config: { auth: 'admin' }, schema: { summary: 'Remove the property-level security_filter' } }, async (req) => {
    filterOut({ kind: 'property' });
    await store.putFilter('property', null, actor(req));
    return { data: { level: 'property', deleted: true } };
  });
  app.get<{ Params: { host: string } }>('/api/security/filter/domains/:host', { config: { auth: 'analyst' }, schema: { summary: 'security_filter of one domain', params: hostParam, response: { 200: filterLevelSchema } } }, (req) =>
    filterOut({ kind: 'domain', host: req.params.host.toLowerCase() }),
  );
  app.put<{ Params: { host: string }; Body: { security_filter: SecurityFilter } }>(
    '/api/security/filter/domains/:host',
    { config: { auth: 'admin' }, schema: { summary: 'Set security_filter of one domain', params: hostParam, body: filterBody, response: { 200: filterLevelSchema } } },
    (req) => putFilter(req, { kind: 'domain', host: req.params.host.toLowerCase() }, req.body.security_filter),
  );
  app.delete<{ Params: { host: string } }>('/api/security/filter/domains/:host', { config: { auth: 'admin' }, schema: { summary: 'Remove the security_filter of one domain', params: hostParam } }, async (req) => {
    const where: FilterLevelWhere = { kind: 'domain', host: req.params.host.toLowerCase() };
    filterOut(where);
    await store.putFilter(filterLevelId(where), null, actor(req));
    return { data: { level: filterLevelId(where), deleted: true } };
  });
  app.get<{ Querystring: { host?: string; path: string } }>('/api/security/filter/paths', { config: { auth: 'analyst' }, schema: { summary: 'security_filter of one path', querystring: pathQuery, response: { 200: filterLevelSchema } } }, (req) =>
    filterOut({ kind: 'path', host: req.query.host?.toLowerCase() ?? '*', path: req.query.path }),
  );
  app.put<{ Body: { host?: string; path: string; security_filter: SecurityFilter } }>(
    '/api/security/filter/paths',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Set security_filter of one path (of one host, or every host)',
        body: { type: 'object', additionalProperties: false, required: ['path', 'security_filter'], properties: { host: pathQuery.properties.host, path: urlPath, security_filter: securityFilterDoc } },
        response: { 200: filterLevelSchema },
      },
    },
    (req) => putFilter(req, { kind: 'path', host: req.body.host?.toLowerCase() ?? '*', path: req.body.path }, req.body.security_filter),
  );
  app.delete<{ Querystring: { host?: string; path: string } }>('/api/security/filter/paths', { config: { auth: 'admin' }, schema: { summary: 'Remove the security_filter of one path', querystring: pathQuery } }, async (req) => {
    const where: FilterLevelWhere = { kind: 'path', host: req.query.host?.toLowerCase() ?? '*', path: req.query.path };
    filterOut(where);
    await store.putFilter(filterLevelId(where), null, actor(req));
    return { data: { level: filterLevelId(where), deleted: true } };
  });
  app.get('/api/security/filter/levels', {
    config: { auth: 'analyst' },
    schema: { summary: 'Every security_filter level', response: { 200: list({ type: 'object', required: ['level'], properties: { level: { type: 'string' }, security_filter: { type: 'object', additionalProperties: true }, updated_at: { type: 'integer' } } }) } },
  }, () => ({ data: [...state.filters.values()].map((h) => h.value).filter((f) => parseFilterLevel(f.level) !== undefined) }));

  // ---------------------------------------------------------------- events
  const eventFilters = {
    type: { type: 'string', enum: [...EVENT_TYPES] },
    ip: { ...ipOrCidr, description: 'an address, or a CIDR block' },
    deployment: { type: 'string', maxLength: 64 },
    detector: { type: 'string', maxLength: 128 },
  } as const;
  app.get<{ Querystring: { type?: string; ip?: string; deployment?: string; detector?: string; since?: string; until?: string; limit: number; cursor?: string } }>(
    '/api/security/events',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Security events, newest first, with a stable cursor',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...eventFilters,
            since: { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601, inclusive' },
            until: { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601, exclusive' },
            limit: paging.limit,
            cursor: { type: 'string', maxLength: 200, description: 'next_cursor of the previous page' },
          },
        },
        response: { 200: list(eventSchema, { next_cursor: { type: ['string', 'null'] } }) },
      },
    },
    async (req) => {
      const q = req.query;
      const ip = q.ip === undefined ? undefined : normalizedIpParam(q.ip, 'ip');
      const since = parseTime(q.since, 'since');
      const until = parseTime(q.until, 'until');
      const page = await listEvents(ch, {
        limit: q.limit,
        ...(q.type ? { type: q.type } : {}),
        ...(ip === undefined ? {} : ip.includes('/') ? { cidr: ip } : { ip }),
        ...(q.deployment !== undefined ? { deployment: q.deployment } : {}),
        ...(q.detector !== undefined ? { detector: q.detector } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { data: page.events, next_cursor: page.next_cursor };
    },
  );

  const sse = async <T extends object>(req: FastifyRequest, reply: FastifyReply, stream: TopicStream<T>, eventName: string, keep: (r: T) => boolean) => {
    let dropped = 0;
    const res = reply.raw;
    // Subscribe before answering: a bus that cannot be reached is still a JSON 503, not a stream that never speaks.
    const stop = await stream.listen((r) => {
      if (!keep(r)) return;
      // A slow reader loses records (counted in the next one it gets) rather than growing this process's memory.
      if (res.writableLength > 1_048_576) {
        dropped++;
        return;
      }
      res.write(`event: ${eventName}\ndata: ${JSON.stringify(dropped > 0 ? { ...r, dropped_before: dropped } : r)}\n\n`);
      dropped = 0;
    }).catch((err: unknown) => {
      req.log.warn({ err: String(err) }, 'live stream unavailable');
      throw new ApiError('LW_API_BUS_UNAVAILABLE');
    });
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': logwarden stream\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    ping.unref();
    const end = (): void => {
      clearInterval(ping);
      stop();
    };
    req.raw.on('close', end);
    res.on('error', end);
    // The client may have gone while the subscription started.
    if (res.destroyed || req.raw.socket.destroyed) end();
  };
  app.get<{ Querystring: { type?: string; ip?: string; deployment?: string; detector?: string } }>(
    '/api/security/events/stream',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Live security events (Server-Sent Events, event name security_event)',
        querystring: { type: 'object', additionalProperties: false, properties: eventFilters },
        produces: 'text/event-stream',
        response: { 200: { type: 'string', description: 'text/event-stream' } },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const range = q.ip === undefined ? undefined : normalizedIpParam(q.ip, 'ip');
      await sse(req, reply, eventStream, 'security_event', (e) =>
        (!q.type || e.type === q.type) && (q.deployment === undefined || e.deployment === q.deployment) && (q.detector === undefined || e.detector === q.detector) && (range === undefined || ipInRange(e.ip, range)),
      );
    },
  );

  // ---------------------------------------------------------------- realtime capture
  const captureSchema = envelope({ type: 'object', required: ['enabled'], properties: { enabled: { type: 'boolean' } } });
  app.put<{ Body: { enabled: boolean } }>(
    '/api/security/realtime-capture',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Turn real-time capture of every request (ClickHouse `requests`, live tail) on or off',
        body: { type: 'object', additionalProperties: false, required: ['enabled'], properties: { enabled: { type: 'boolean' } }, example: { enabled: true } },
        response: { 200: captureSchema },
      },
    },
    async (req) => {
      await store.putSetting('realtime_capture', req.body.enabled, actor(req));
      return { data: { enabled: req.body.enabled }, message: `real-time capture ${req.body.enabled ? 'on' : 'off'}` };
    },
  );
  app.get('/api/security/realtime-capture', { config: { auth: 'analyst' }, schema: { summary: 'Whether real-time capture is on', response: { 200: captureSchema } } }, () => ({ data: { enabled: deps.state.capture } }));
  app.get<{ Querystring: { ip?: string; status?: number } }>(
    '/api/security/requests/stream',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Live tail of requests while real-time capture is on (Server-Sent Events, event name request)',
        querystring: { type: 'object', additionalProperties: false, properties: { ip: ipOrCidr, status: { type: 'integer', minimum: 0, maximum: 999 } } },
        produces: 'text/event-stream',
        response: { 200: { type: 'string', description: 'text/event-stream' } },
      },
    },
    async (req, reply) => {
      if (!deps.state.capture) throw new ApiError('LW_API_CAPTURE_OFF');
      const range = req.query.ip === undefined ? undefined : normalizedIpParam(req.query.ip, 'ip');
      const status = req.query.status;
      await sse(req, reply, requestStream, 'request', (r) => deps.state.capture && (range === undefined || ipInRange(r.client_ip, range)) && (status === undefined || r.status === status));
    },
  );

  // ---------------------------------------------------------------- refresh, stats, cleanup, config
  app.post('/api/security/refresh', {
    config: { auth: 'admin' },
    schema: { summary: 'Push the full state (blocks and rules) to every node now', response: { 200: envelope({ type: 'object', required: ['refreshed'], properties: { refreshed: { type: 'boolean' }, local_enforcer: { type: 'boolean' } } }) } },
  }, async (req) => {
    await store.requestRefresh(actor(req));
    if (deps.refresh) await deps.refresh();
    return { data: { refreshed: true, local_enforcer: deps.refresh !== undefined }, message: 'full state pushed' };
  });

  app.get<{ Querystring: { window_hours: number; top: number } }>(
    '/api/security/stats',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Events by type, blocked IP count, recent threats, top offending IPs',
        querystring: { type: 'object', additionalProperties: false, properties: { window_hours: { type: 'integer', minimum: 1, maximum: 24 * 366, default: 24 }, top: { type: 'integer', minimum: 1, maximum: 100, default: 10 } } },
        response: {
          200: envelope({
            type: 'object',
            required: ['total_events', 'events_by_type', 'blocked_ips', 'recent_threats', 'top_offending_ips'],
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              total_events: { type: 'integer' },
              events_by_type: { type: 'object', additionalProperties: { type: 'integer' } },
              blocked_ips: { type: 'integer' },
              active_blocks: { type: 'integer' },
              recent_threats: { type: 'array', items: eventSchema },
              top_offending_ips: { type: 'array', items: { type: 'object', properties: { ip: { type: 'string' }, events: { type: 'integer' }, requests: { type: 'integer' } } } },
            },
          }),
        },
      },
    },
    async (req) => {
      const s = await stats(ch, { windowHours: req.query.window_hours, top: req.query.top });
      return { data: { ...s, blocked_ips: s.active_blocks } };
    },
  );
  app.get<{ Querystring: { from?: string; to?: string; step: 'minute' | 'hour'; deployment?: string } }>(
    '/api/security/stats/timeseries',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Events by type and requests by status class per minute or hour',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601; default 24 h ago' },
            to: { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601; default now' },
            step: { type: 'string', enum: ['minute', 'hour'], default: 'hour' },
            deployment: { type: 'string', maxLength: 64 },
          },
        },
        response: { 200: envelope({ type: 'object', additionalProperties: true, properties: { step: { type: 'string' }, events: { type: 'array', items: { type: 'object', additionalProperties: true } }, requests: { type: 'array', items: { type: 'object', additionalProperties: true } } } }) },
      },
    },
    async (req) => {
      const now = Date.now();
      const to = parseTime(req.query.to, 'to') ?? now;
      const from = parseTime(req.query.from, 'from') ?? to - 86_400_000;
      if (from >= to) throw invalid('from', 'must be before to');
      const maxBuckets = 10_000;
      if ((to - from) / (req.query.step === 'minute' ? 60_000 : 3_600_000) > maxBuckets) throw invalid('from', `the range holds more than ${maxBuckets} ${req.query.step}s; use a larger step or a shorter range`);
      return { data: await timeSeries(ch, { from, to, step: req.query.step, ...(req.query.deployment !== undefined ? { deployment: req.query.deployment } : {}) }) };
    },
  );

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
      const retention = Number(effectiveSecurity(deps.config, state, deps.state.capture).retention_days);
      const olderThan = req.body.older_than ?? retention * 86_400;
      const res = await cleanupEvents(ch, olderThan);
      return { data: res, message: `events before ${new Date(res.cutoff).toISOString()} removed` };
    },
  );

  const configSchema = envelope({ type: 'object', additionalProperties: true, properties: { realtime_capture: { type: 'boolean' }, ...RUNTIME_SECURITY } });
  app.get('/api/security/config', { config: { auth: 'analyst' }, schema: { summary: 'Effective security settings (config file, then run-time changes)', response: { 200: configSchema } } }, () => ({
    data: effectiveSecurity(deps.config, state, deps.state.capture),
  }));
  app.put<{ Body: Record<string, unknown> }>(
    '/api/security/config',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Change security settings at run time (persisted; the config file is not rewritten)',
        description: 'Keys of the security: block; durations as in the config file ("30s", "24h"). retention_days applies to the tables at the next start.',
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { realtime_capture: { type: 'boolean' }, ...RUNTIME_SECURITY } },
        response: { 200: configSchema },
      },
    },
    async (req) => {
      const { realtime_capture: capture, ...rest } = req.body as Record<string, unknown> & { realtime_capture?: boolean };
      for (const [k, v] of Object.entries(rest)) {
        if (DURATION_KEYS.has(k) && (parseDuration(v as string) ?? 0) <= 0) throw invalid(k, 'must be a positive duration');
      }
      if (Object.keys(rest).length > 0) {
        const merged = { ...(state.setting<Record<string, number | boolean | string>>('security') ?? {}), ...rest } as Record<string, number | boolean>;
        await store.putSetting('security', merged, actor(req));
      }
      if (capture !== undefined) {
        await store.putSetting('realtime_capture', capture, actor(req));
      }
      return { data: effectiveSecurity(deps.config, state, deps.state.capture), message: 'settings updated' };
    },
  );
}

function blockOut(d: BlockDecision): object {
  return { ip: d.ip, reason: d.reason, source: d.source, created_at: d.created_at, expires_at: d.expires_at, deployment: d.deployment ?? '', escalation_level: d.escalation_level };
}
