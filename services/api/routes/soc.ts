// /api/soc: analyst SQL (one SELECT, read-only, bounded, audited: see
// ../soc/sandbox.ts) and the saved queries (../soc/saved.ts), for the
// analyst role and up.
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { defaultMigrationsDir } from '../../../shared/clickhouse/migrate.js';
import { ApiError, invalid } from '../errors.js';
import { SocSandbox, type SocResult } from '../soc/sandbox.js';
import { bindParams, loadSavedQueries, SAVED_NAME, type SavedQuery } from '../soc/saved.js';
import { envelope, list, type DashboardDeps } from './common.js';

/** Values bound to `{name:Type}` placeholders: ClickHouse parses each as its placeholder's type. */
const paramsSchema = {
  type: 'object',
  description: 'values of the {name:Type} placeholders, bound by ClickHouse (never spliced into the text)',
  maxProperties: 32,
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
  additionalProperties: { anyOf: [{ type: 'string', maxLength: 1000 }, { type: 'number' }, { type: 'boolean' }] },
} as const;

const resultSchema = envelope({
  type: 'object',
  required: ['columns', 'rows', 'elapsed_ms', 'sha256'],
  properties: {
    columns: { type: 'array', items: { type: 'object', required: ['name', 'type'], properties: { name: { type: 'string' }, type: { type: 'string' } } } },
    rows: { type: 'array', items: { type: 'object', additionalProperties: true } },
    rows_read: { type: ['integer', 'null'] },
    elapsed_ms: { type: 'integer' },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
});

const savedSchema = {
  type: 'object',
  required: ['name', 'title', 'description', 'params', 'sql', 'source'],
  properties: {
    name: { type: 'string' },
    title: { type: 'string' },
    description: { type: 'string' },
    params: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'type', 'description'],
        properties: { name: { type: 'string' }, type: { type: 'string' }, default: { type: 'string' }, description: { type: 'string' } },
      },
    },
    sql: { type: 'string' },
    source: { type: 'string', enum: ['shipped', 'operator'] },
  },
} as const;

const limitErrors = 'a refused query: 400 LW_API_SQL_REFUSED; ClickHouse refused it: 400 LW_API_SQL_FAILED; a limit reached: 422 LW_API_SQL_LIMIT with "limit": the soc.* key; too many at once for this token: 429 LW_API_SQL_BUSY.';

function answer(r: SocResult): object {
  return { data: { columns: r.columns, rows: r.rows, rows_read: r.rows_read ?? null, elapsed_ms: r.elapsed_ms, sha256: r.sha256 } };
}

function principalOf(req: FastifyRequest): NonNullable<FastifyRequest['principal']> {
  if (!req.principal) throw new ApiError('LW_API_UNAUTHORIZED');
  return req.principal;
}

export function registerSoc(app: FastifyInstance, deps: DashboardDeps): void {
  const soc = deps.config.soc;
  const sandbox = new SocSandbox(deps.ch, soc);
  const saved = loadSavedQueries(join(defaultMigrationsDir(), 'soc'), soc.saved_queries_dir);

  app.post<{ Body: { sql: string; params?: Record<string, string | number | boolean> } }>(
    '/api/soc/query',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Run one SQL SELECT over the logwarden database (read-only, bounded, audited)',
        description: `One SELECT (or UNION of SELECTs) over logwarden's tables; no SETTINGS, FORMAT, INTO OUTFILE, table functions beyond numbers/zeros/generate_series/values, or system tables beyond a few. Limits: soc.* in the config. ${limitErrors}`,
        tags: ['soc'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sql'],
          properties: {
            sql: { type: 'string', minLength: 1, maxLength: 100_000, pattern: '\\S', example: 'SELECT count() FROM events WHERE ip = {ip:IPv6}' },
            params: paramsSchema,
          },
        },
        response: { 200: resultSchema },
      },
    },
    async (req) => answer(await sandbox.run(req.body.sql, { principal: principalOf(req), params: req.body.params ?? {} })),
  );

  app.get(
    '/api/soc/queries',
    {
      config: { auth: 'analyst' },
      schema: { summary: 'The saved queries: shipped ones and those of soc.saved_queries_dir', tags: ['soc'], response: { 200: list(savedSchema) } },
    },
    () => ({ data: [...saved.values()] }),
  );

  const nameParam = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', pattern: SAVED_NAME.source } } } as const;
  const find = (name: string): SavedQuery => {
    const q = saved.get(name);
    if (!q) throw new ApiError('LW_API_NOT_FOUND', `no saved query ${name} (GET /api/soc/queries lists them)`, 'name');
    return q;
  };

  app.get<{ Params: { name: string } }>(
    '/api/soc/queries/:name',
    { config: { auth: 'analyst' }, schema: { summary: 'One saved query, with its SQL and parameters', tags: ['soc'], params: nameParam, response: { 200: envelope(savedSchema) } } },
    (req) => ({ data: find(req.params.name) }),
  );

  app.post<{ Params: { name: string }; Body: { params?: Record<string, string | number | boolean> } | undefined }>(
    '/api/soc/queries/:name/run',
    {
      config: { auth: 'analyst' },
      // No body at all is the same as {}: every parameter at its default.
      preValidation: (req, _reply, done) => {
        req.body ??= {};
        done();
      },
      schema: {
        summary: 'Run a saved query with parameters (defaults for the rest)',
        description: `Parameters not given take their default; one without a default is required. ${limitErrors}`,
        tags: ['soc'],
        params: nameParam,
        body: { type: 'object', additionalProperties: false, properties: { params: paramsSchema } },
        response: { 200: resultSchema },
      },
    },
    async (req) => {
      const q = find(req.params.name);
      const bound = bindParams(q, req.body?.params ?? {});
      if ('error' in bound) throw invalid(bound.field, bound.error);
      return answer(await sandbox.run(q.sql, { principal: principalOf(req), params: bound.params, saved: q.name }));
    },
  );
}
