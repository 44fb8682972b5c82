// /api/feeds: each blocklist feed's state (services/feeds), as the process
// running the feeds holds it; feeds added and removed through the API (kept in
// the control plane's `feeds` setting, beside the config file's `feeds:`).
// A feed's blocks are listed by GET /api/security/blocked-ips?source=feed:<name>
// (or source=feed: every feed).
import type { FastifyInstance } from 'fastify';
import { feedProblems, resolveFeed, type FeedSpec } from '../../../shared/config/feeds.js';
import { FEED_PROPERTIES } from '../../../shared/config/schema.js';
import type { Settings } from '../../../shared/control/state.js';
import { ApiError, invalid } from '../errors.js';
import { actor, envelope, list, type RouteDeps } from './common.js';

const nullableInt = { type: ['integer', 'null'] } as const;

export const feedSchema = {
  type: 'object',
  required: ['name', 'origin', 'source', 'format', 'deployment', 'refresh_ms', 'block_duration_ms', 'state', 'size', 'listed', 'whitelisted', 'invalid_lines',
    'last_refresh_at', 'last_success_at', 'last_update_at', 'last_apply_ms', 'consecutive_failures', 'last_error'],
  properties: {
    name: { type: 'string' },
    origin: { type: 'string', enum: ['config', 'api'] },
    source: { type: 'string', description: 'file path, or URL (its query hidden)' },
    format: { type: 'string', enum: ['plain', 'csv'] },
    deployment: { type: 'string', description: "'' = every deployment" },
    refresh_ms: { type: 'integer' },
    block_duration_ms: { type: 'integer' },
    state: { type: 'string', enum: ['pending', 'ok', 'failing'], description: 'failing: the last refresh failed and the last good set stays in force' },
    size: { type: 'integer', description: 'blocks (merged ranges) in force' },
    listed: { type: 'integer', description: 'entries of the last good body, before the whitelist and merging' },
    whitelisted: { type: 'integer', description: 'entries skipped at the last apply: they cover a whitelisted address' },
    invalid_lines: { type: 'integer', description: 'lines of the last good body that were not an address or CIDR' },
    last_refresh_at: { ...nullableInt, description: 'epoch ms' },
    last_success_at: { ...nullableInt, description: 'epoch ms; a 304 counts' },
    last_update_at: { ...nullableInt, description: 'epoch ms: the last body applied' },
    last_apply_ms: { ...nullableInt, description: 'parse, whitelist, merge, diff and publish of the last body' },
    consecutive_failures: { type: 'integer' },
    last_error: {
      type: ['object', 'null'],
      required: ['code', 'message', 'at'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'integer' } },
    },
  },
} as const;

export function registerFeeds(app: FastifyInstance, deps: RouteDeps): void {
  app.get('/api/feeds', {
    config: { auth: 'analyst' },
    schema: {
      summary: 'Blocklist feeds: state, size, last refresh, errors',
      description: 'The feeds of the config\'s `feeds:`, run by the process serving this API. A failing feed keeps its last good set in force.',
      response: { 200: list(feedSchema, { total: { type: 'integer' } }) },
    },
  }, () => {
    const feeds = deps.feeds?.() ?? [];
    return { data: feeds, total: feeds.length };
  });
  registerFeedChanges(app, deps);
}

const specSchema = {
  type: 'object',
  required: ['name', 'source'],
  properties: Object.fromEntries(Object.entries(FEED_PROPERTIES).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).filter(([key]) => key !== 'default'))])),
} as const;

/** POST (add or replace) and DELETE of feeds kept in the control plane. */
function registerFeedChanges(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  const inConfig = (name: string): boolean => deps.config.feeds.some((f) => f.name === name);
  app.post<{ Body: FeedSpec }>('/api/feeds', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Add a blocklist feed, or replace one added through the API',
      description: 'The keys and defaults of the config file\'s `feeds:` items. Starts at once in the process running the feeds; replacing one applies only the difference.',
      body: { ...specSchema, additionalProperties: false, example: { name: 'spamhaus-drop', source: 'https://www.spamhaus.org/drop/drop.txt', refresh: '12h', block_duration: '3d' } },
      response: { 201: envelope({ type: 'object', required: ['name', 'source'], properties: specSchema.properties }) },
    },
  }, async (req, reply) => {
    const spec = req.body;
    if (inConfig(spec.name)) throw new ApiError('LW_API_FEED_IN_CONFIG', `feed ${spec.name} is defined in the config file (feeds:); change it there`, 'name');
    const [problem] = feedProblems(resolveFeed(spec), '');
    if (problem) throw invalid(problem.path.replace(/^\./, ''), problem.reason);
    const feeds = { ...(state.setting<NonNullable<Settings['feeds']>>('feeds') ?? {}), [spec.name]: { ...spec, created_by: actor(req), created_at: Date.now() } };
    await store.putSetting('feeds', feeds, actor(req));
    return reply.code(201).send({ data: spec, message: `feed ${spec.name} saved` });
  });
  app.delete<{ Params: { name: string } }>('/api/feeds/:name', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Remove a feed added through the API; its blocks are lifted',
      params: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', maxLength: 64 } } },
      response: { 200: envelope({ type: 'object', required: ['name', 'removed'], properties: { name: { type: 'string' }, removed: { type: 'boolean' } } }) },
    },
  }, async (req) => {
    const { name } = req.params;
    if (inConfig(name)) throw new ApiError('LW_API_FEED_IN_CONFIG', `feed ${name} is defined in the config file (feeds:); remove it there`, 'name');
    const { [name]: gone, ...rest } = state.setting<NonNullable<Settings['feeds']>>('feeds') ?? {};
    if (!gone) throw new ApiError('LW_API_NOT_FOUND', `no feed ${name} added through the API`, 'name');
    await store.putSetting('feeds', rest, actor(req));
    return { data: { name, removed: true }, message: `feed ${name} removed; its blocks are lifted` };
  });
}
