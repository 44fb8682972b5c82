// /api/security/filter: the security_filter rule set (the CDN document's
// model) at its three levels — property, one domain, one path — each read,
// set and removed on its own; GET /api/security/filter composes them. A level
// is stored only if the whole rule set it would produce passes the shared
// validator (shared/security-filter/), the one the detectors and nodes use.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { filterLevelId, parseFilterLevel, type FilterLevelWhere } from '../../../shared/control/state.js';
import { validateRuleSet, type RuleSet, type SecurityFilter } from '../../../shared/security-filter/index.js';
import { ApiError, invalid } from '../errors.js';
import { actor, envelope, list, urlPath, type RouteDeps } from './common.js';

const securityFilterDoc = {
  type: 'object',
  description: 'A security_filter block (schemas/security-filter/rule-set.schema.json): { enabled, filter_rules, response_handling }',
} as const;
const filterLevelSchema = envelope({ type: 'object', required: ['level', 'security_filter'], properties: { level: { type: 'string' }, security_filter: { type: 'object', additionalProperties: true }, updated_at: { type: 'integer' } } });
const filterBody = { type: 'object', additionalProperties: false, required: ['security_filter'], properties: { security_filter: securityFilterDoc } } as const;
const hostParam = { type: 'object', additionalProperties: false, required: ['host'], properties: { host: { type: 'string', minLength: 1, maxLength: 253 } } } as const;
const pathQuery = { type: 'object', additionalProperties: false, required: ['path'], properties: { host: { type: 'string', minLength: 1, maxLength: 253, description: 'absent: every host' }, path: urlPath } } as const;

export function registerFilter(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
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
}
