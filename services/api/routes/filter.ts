// /api/security/filter: the security_filter rule set (the CDN document's
// model) at its three levels — property, one domain, one path — each read,
// set and removed on its own; GET /api/security/filter composes them. A level
// is stored only if the whole rule set it would produce passes the shared
// validator (shared/security-filter/), the one the detectors and nodes use.
//
// The config file's levels (security.security_filter, _domains, _paths) are
// the base: a level set here replaces the config's level of the same scope,
// and removing it brings the config's back (shared/control/state.ts composes
// them). A GET of a level shows which one is in force (`source`).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { filterLevelId, parseFilterLevel, type FilterLevelWhere } from '../../../shared/control/state.js';
import { validateRuleSet, type RuleSet, type SecurityFilter } from '../../../shared/security-filter/index.js';
import { ApiError, invalid } from '../errors.js';
import { actor, envelope, list, urlPath, type RouteDeps } from './common.js';

const securityFilterDoc = {
  type: 'object',
  description: 'A security_filter block (schemas/security-filter/rule-set.schema.json): { enabled, filter_rules, response_handling }',
} as const;
const levelProperties = {
  level: { type: 'string' },
  security_filter: { type: 'object', additionalProperties: true },
  source: { type: 'string', enum: ['config', 'api'], description: 'config: the config file\'s level; api: set through the API (it replaces the config\'s of the same scope)' },
  updated_at: { type: 'integer' },
} as const;
const filterLevelSchema = envelope({ type: 'object', required: ['level', 'security_filter'], properties: levelProperties });
const filterBody = { type: 'object', additionalProperties: false, required: ['security_filter'], properties: { security_filter: securityFilterDoc } } as const;
const hostParam = { type: 'object', additionalProperties: false, required: ['host'], properties: { host: { type: 'string', minLength: 1, maxLength: 253 } } } as const;
const pathQuery = { type: 'object', additionalProperties: false, required: ['path'], properties: { host: { type: 'string', minLength: 1, maxLength: 253, description: 'absent: every host' }, path: urlPath } } as const;

export function registerFilter(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  const filterOut = (where: FilterLevelWhere) => {
    const level = filterLevelId(where);
    const h = state.filters.get(level);
    if (h) return { data: { level: h.value.level, security_filter: h.value.security_filter, source: 'api', updated_at: h.value.updated_at } };
    const fromConfig = state.configFilter(level);
    if (fromConfig) return { data: { level, security_filter: fromConfig, source: 'config' } };
    throw new ApiError('LW_API_NOT_FOUND', `no security_filter at ${level}`);
  };
  /** Only a level set through the API can be removed through it; the config file's stays the file's. */
  const removeFilter = async (req: FastifyRequest, where: FilterLevelWhere) => {
    const level = filterLevelId(where);
    if (!state.filters.has(level)) {
      const why = state.configFilter(level) ? ' through the API (the config file sets this level: change it there, or replace it with a PUT)' : '';
      throw new ApiError('LW_API_NOT_FOUND', `no security_filter at ${level}${why}`);
    }
    await store.putFilter(level, null, actor(req));
    return { data: { level, deleted: true } };
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

  app.get('/api/security/filter', {
    config: { auth: 'analyst' },
    schema: { summary: 'The whole security_filter rule set (every level composed) and its version', response: { 200: envelope({ type: ['object', 'null'], additionalProperties: true }) } },
  }, () => ({ data: state.ruleSet() }));
  app.get('/api/security/filter/property', { config: { auth: 'analyst' }, schema: { summary: 'security_filter at property level (every host)', response: { 200: filterLevelSchema } } }, () => filterOut({ kind: 'property' }));
  app.put<{ Body: { security_filter: SecurityFilter } }>('/api/security/filter/property', { config: { auth: 'admin' }, schema: { summary: 'Set security_filter at property level', body: filterBody, response: { 200: filterLevelSchema } } }, (req) =>
    putFilter(req, { kind: 'property' }, req.body.security_filter),
  );
  app.delete('/api/security/filter/property', { config: { auth: 'admin' }, schema: { summary: 'Remove the property-level security_filter set through the API' } }, (req) =>
    removeFilter(req, { kind: 'property' }),
  );
  app.get<{ Params: { host: string } }>('/api/security/filter/domains/:host', { config: { auth: 'analyst' }, schema: { summary: 'security_filter of one domain', params: hostParam, response: { 200: filterLevelSchema } } }, (req) =>
    filterOut({ kind: 'domain', host: req.params.host.toLowerCase() }),
  );
  app.put<{ Params: { host: string }; Body: { security_filter: SecurityFilter } }>(
    '/api/security/filter/domains/:host',
    { config: { auth: 'admin' }, schema: { summary: 'Set security_filter of one domain', params: hostParam, body: filterBody, response: { 200: filterLevelSchema } } },
    (req) => putFilter(req, { kind: 'domain', host: req.params.host.toLowerCase() }, req.body.security_filter),
  );
  app.delete<{ Params: { host: string } }>('/api/security/filter/domains/:host', { config: { auth: 'admin' }, schema: { summary: 'Remove the security_filter of one domain set through the API', params: hostParam } }, (req) =>
    removeFilter(req, { kind: 'domain', host: req.params.host.toLowerCase() }),
  );
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
  app.delete<{ Querystring: { host?: string; path: string } }>('/api/security/filter/paths', { config: { auth: 'admin' }, schema: { summary: 'Remove the security_filter of one path set through the API', querystring: pathQuery } }, (req) =>
    removeFilter(req, { kind: 'path', host: req.query.host?.toLowerCase() ?? '*', path: req.query.path }),
  );
  app.get('/api/security/filter/levels', {
    config: { auth: 'analyst' },
    schema: { summary: 'Every security_filter level in force (the config file\'s, each replaced by one set through the API)', response: { 200: list({ type: 'object', required: ['level'], properties: levelProperties }) } },
  }, () => ({ data: state.filterLevels().filter((f) => parseFilterLevel(f.level) !== undefined) }));
}
