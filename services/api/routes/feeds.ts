// /api/feeds: each blocklist feed's state (services/feeds), as the process
// running the feeds holds it. Its blocks are listed by
// GET /api/security/blocked-ips?source=feed:<name> (or source=feed: every feed).
import type { FastifyInstance } from 'fastify';
import { list, type RouteDeps } from './common.js';

const nullableInt = { type: ['integer', 'null'] } as const;

export const feedSchema = {
  type: 'object',
  required: ['name', 'source', 'format', 'deployment', 'refresh_ms', 'block_duration_ms', 'state', 'size', 'listed', 'whitelisted', 'invalid_lines',
    'last_refresh_at', 'last_success_at', 'last_update_at', 'last_apply_ms', 'consecutive_failures', 'last_error'],
  properties: {
    name: { type: 'string' },
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
}
