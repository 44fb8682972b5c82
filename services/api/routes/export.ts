// GET /api/security/events/export: security events as newline-delimited JSON
// in Elastic Common Schema field names (shared/ecs.ts), oldest first, for a
// SIEM. Bounded: a time range (default the last 24 h), at most `limit` events
// (soc.export_max_rows at most); streamed as ClickHouse answers.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { checkMs } from '../../../shared/clickhouse/queries.js';
import { EVENT_TYPES } from '../../../shared/clickhouse/rollup-queries.js';
import { invalid } from '../errors.js';
import { ECS_FIELDS, toEcs, type EcsEventRow as EcsRow } from '../../../shared/ecs.js';
import { enrichmentColumns, exportQuery } from '../soc/ecs.js';
import { ipOrCidr, normalizedIpParam, parseTime, type DashboardDeps } from './common.js';

const DAY_MS = 86_400_000;
/** 2200-01-01: the events' DateTime64(3) holds times up to 2299. */
const LAST_MS = 7_258_118_400_000;
/** What parseTime() takes: epoch ms, or ISO 8601 (in the schema, so a client or a fuzzer knows). */
const TIME_PATTERN = '^(\\d{1,16}|\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?)$';

interface ExportQuerystring {
  since?: string;
  until?: string;
  type?: string;
  ip?: string;
  deployment?: string;
  detector?: string;
  limit: number;
}

export function registerExport(app: FastifyInstance, deps: DashboardDeps): void {
  const { ch } = deps;
  const maxRows = deps.config.soc.export_max_rows;
  let enrichment: Promise<Set<string>> | undefined;
  app.get<{ Querystring: ExportQuerystring }>(
    '/api/security/events/export',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Security events as NDJSON in Elastic Common Schema fields (for a SIEM)',
        description: `One ECS document per line, oldest first, within [since, until) (default: the last 24 hours), at most limit events (soc.export_max_rows = ${maxRows} at most). Fields: ${ECS_FIELDS.map((f) => f.field).join(', ')}.`,
        tags: ['soc'],
        produces: 'application/x-ndjson',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 40, pattern: TIME_PATTERN, description: 'epoch ms or ISO 8601, inclusive; default: 24 hours before until' },
            until: { type: 'string', maxLength: 40, pattern: TIME_PATTERN, description: 'epoch ms or ISO 8601, exclusive; default: now' },
            type: { type: 'string', enum: [...EVENT_TYPES] },
            ip: { ...ipOrCidr, description: 'an address, or a CIDR block' },
            deployment: { type: 'string', maxLength: 64 },
            detector: { type: 'string', maxLength: 128 },
            limit: { type: 'integer', minimum: 1, maximum: maxRows, default: Math.min(10_000, maxRows) },
          },
        },
        response: { 200: { type: 'string', description: 'application/x-ndjson: one ECS document per line' } },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const until = checkMs('until', parseTime(q.until, 'until') ?? Date.now());
      const since = checkMs('since', parseTime(q.since, 'since') ?? until - DAY_MS);
      if (until > LAST_MS) throw invalid('until', 'must be before 2200-01-01');
      if (since > until) throw invalid('since', 'must not be after until');
      const range = q.ip === undefined ? undefined : normalizedIpParam(q.ip, 'ip');
      enrichment ??= enrichmentColumns(ch).catch((err: unknown) => {
        enrichment = undefined;
        throw err;
      });
      const { sql, params } = exportQuery(ch, {
        since, until, limit: q.limit,
        ...(q.type ? { type: q.type } : {}),
        ...(range === undefined ? {} : range.includes('/') ? { cidr: range } : { ip: range }),
        ...(q.deployment !== undefined ? { deployment: q.deployment } : {}),
        ...(q.detector !== undefined ? { detector: q.detector } : {}),
      }, await enrichment);
      // Settings in the statement (never the session's: see shared/clickhouse/client.ts).
      const rs = await ch.client.query({ query: `${sql}\nSETTINGS readonly = 1`, query_params: params, format: 'JSONEachRow' });
      async function* lines(): AsyncGenerator<string> {
        for await (const batch of rs.stream<EcsRow>()) {
          let out = '';
          for (const row of batch) out += `${JSON.stringify(toEcs(row.json()))}\n`;
          if (out) yield out;
        }
      }
      return reply.type('application/x-ndjson; charset=utf-8').header('content-disposition', 'inline; filename="logwarden-events.ndjson"').send(Readable.from(lines()));
    },
  );
}
