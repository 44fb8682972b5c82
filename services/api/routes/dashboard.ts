// The SOC dashboard (services/dashboard/: plain HTML, JS modules and CSS, no
// build step) and the few reads it needs beyond /api/security: who the token
// is and top lists (pipeline health is pipeline-status.ts).
//
// The static files are public (they hold no data) and read once at start from
// the source folder, which sits at the same place relative to this module in a
// fresh clone and in dist/, so tsc needs to copy nothing. Only names listed
// there are served: no path from a request ever reaches the file system. Every
// data call the page makes carries the Bearer token like any other client.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { topStats } from '../../../shared/clickhouse/rollup-queries.js';
import { ApiError } from '../errors.js';
import type { DashboardDeps } from './common.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** No inline script or style, nothing from elsewhere, no framing: an injected string in an event cannot run. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The dashboard's folder: beside this module's source, from src (services/api/routes) or from dist/services/api/routes. */
export function dashboardDir(): string | undefined {
  for (const rel of ['../../dashboard/', '../../../../services/dashboard/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

function loadAssets(dir: string): Map<string, { body: Buffer; type: string }> {
  const out = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type && /^[a-z0-9][a-z0-9._-]*$/.test(name) && !name.endsWith('.test.ts')) out.set(name, { body: readFileSync(join(dir, name)), type });
  }
  return out;
}

export function registerDashboard(app: FastifyInstance, deps: DashboardDeps): void {
  const dir = dashboardDir();
  const assets = dir ? loadAssets(dir) : new Map<string, { body: Buffer; type: string }>();
  const send = (reply: FastifyReply, name: string) => {
    const a = assets.get(name);
    if (!a) throw new ApiError('LW_API_ROUTE_NOT_FOUND', dir ? `no dashboard file ${name}` : 'the dashboard files (services/dashboard/) are not installed');
    return reply
      .type(a.type)
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-cache')
      .send(a.body);
  };
  app.get('/dashboard', { config: { auth: 'public' }, schema: { summary: 'The SOC dashboard (a page; its data calls need a token)', tags: ['dashboard'], produces: 'text/html' } }, (_req, reply) => send(reply, 'index.html'));
  app.get<{ Params: { '*': string } }>('/dashboard/*', { config: { auth: 'public' }, schema: { summary: 'Files of the SOC dashboard', tags: ['dashboard'] } }, (req, reply) => send(reply, req.params['*'] === '' ? 'index.html' : req.params['*']));

  app.get('/api/whoami', {
    config: { auth: 'analyst' },
    schema: {
      summary: 'The name and role of the calling token',
      tags: ['meta'],
      response: { 200: { type: 'object', required: ['data'], properties: { data: { type: 'object', required: ['name', 'role'], properties: { name: { type: 'string' }, role: { type: 'string', enum: ['admin', 'analyst'] } } } } } },
    },
  }, (req) => ({ data: { name: req.principal?.name ?? '', role: req.principal?.role ?? 'analyst' } }));
  app.get<{ Querystring: { hours: number; top: number; deployment?: string } }>('/api/dashboard/top', {
    config: { auth: 'analyst' },
    schema: {
      summary: 'Top paths named by events, and events per deployment, client country and autonomous system, over the last hours',
      tags: ['dashboard'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          hours: { type: 'integer', minimum: 1, maximum: 24 * 366, default: 24 },
          top: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
          deployment: { type: 'string', maxLength: 64 },
        },
      },
      response: { 200: { type: 'object', required: ['data'], properties: { data: { type: 'object', additionalProperties: true } } } },
    },
  }, async (req) => {
    const to = Date.now();
    const q = req.query;
    const r = await topStats(deps.ch, { from: to - q.hours * 3_600_000, to, top: q.top, ...(q.deployment !== undefined ? { deployment: q.deployment } : {}) });
    return { data: { from: r.from, to: r.to, paths: r.paths, deployments: r.deployments, countries: r.event_countries, asns: r.event_asns } };
  });
}
