// GET /api/security/events/export and /api/security/blocks/export: security
// events, and block decisions (the blocks history: blocks, challenges,
// unblocks, expiries), as newline-delimited JSON in Elastic Common Schema
// field names (shared/ecs.ts), oldest first, for a SIEM. Bounded: a time range
// (default the last 24 h), at most `limit` lines (soc.export_max_rows at
// most); streamed as ClickHouse answers.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { QueryParams } from '../../../shared/clickhouse/client.js';
import { checkMs } from '../../../shared/clickhouse/queries.js';
import { EVENT_TYPES } from '../../../shared/clickhouse/rollup-queries.js';
import { invalid } from '../errors.js';
import { ECS_BLOCK_FIELDS, ECS_FIELDS, blockToEcs, toEcs, type EcsEventRow as EcsRow } from '../../../shared/ecs.js';
import { blocksExportQuery, decisionOfRow, enrichmentColumns, exportQuery, type BlockExportRow } from '../soc/ecs.js';
import { ipOrCidr, normalizedIpParam, parseTime, type DashboardDeps } from './common.js';

const DAY_MS = 86_400_000;
/** 2200-01-01: the events' DateTime64(3) holds times up to 2299. */
const LAST_MS = 7_258_118_400_000;
/** What parseTime() takes: epoch ms, or ISO 8601 (in the schema, so a client or a fuzzer knows). */
const TIME_PATTERN = '^(\\d{1,16}|\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?)$';
/** The time range of both exports' query strings. */
const RANGE = {
  since: { type: 'string', maxLength: 40, pattern: TIME_PATTERN, description: 'epoch ms or ISO 8601, inclusive; default: 24 hours before until' },
  until: { type: 'string', maxLength: 40, pattern: TIME_PATTERN, description: 'epoch ms or ISO 8601, exclusive; default: now' },
} as const;

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
            ...RANGE,
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
      const { since, until } = range(q.since, q.until);
      const cidrOrIp = q.ip === undefined ? undefined : normalizedIpParam(q.ip, 'ip');
      enrichment ??= enrichmentColumns(ch).catch((err: unknown) => {
        enrichment = undefined;
        throw err;
      });
      const { sql, params } = exportQuery(ch, {
        since, until, limit: q.limit,
        ...(q.type ? { type: q.type } : {}),
        ...(cidrOrIp === undefined ? {} : cidrOrIp.includes('/') ? { cidr: cidrOrIp } : { ip: cidrOrIp }),
        ...(q.deployment !== undefined ? { deployment: q.deployment } : {}),
        ...(q.detector !== undefined ? { detector: q.detector } : {}),
      }, await enrichment);
      return reply.type('application/x-ndjson; charset=utf-8').header('content-disposition', 'inline; filename="logwarden-events.ndjson"').send(await ndjson(sql, params, (r: EcsRow) => toEcs(r)));
    },
  );

  app.get<{ Querystring: { since?: string; until?: string; ip?: string; action?: string; limit: number } }>(
    '/api/security/blocks/export',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Block decisions as NDJSON in Elastic Common Schema fields (for a SIEM)',
        description: `One ECS document per decision of the blocks history (blocks, challenges, unblocks, expiries), oldest first, within [since, until) (default: the last 24 hours), at most limit (soc.export_max_rows = ${maxRows} at most). Fields: ${ECS_BLOCK_FIELDS.map((f) => f.field).join(', ')}.`,
        tags: ['soc'],
        produces: 'application/x-ndjson',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...RANGE,
            ip: { ...ipOrCidr, description: 'an address, or a CIDR block, as it was decided' },
            action: { type: 'string', enum: ['block', 'challenge', 'unblock', 'expire'] },
            limit: { type: 'integer', minimum: 1, maximum: maxRows, default: Math.min(10_000, maxRows) },
          },
        },
        response: { 200: { type: 'string', description: 'application/x-ndjson: one ECS document per line' } },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const { since, until } = range(q.since, q.until);
      const { sql, params } = blocksExportQuery(ch, {
        since, until, limit: q.limit,
        ...(q.ip !== undefined ? { ip: normalizedIpParam(q.ip, 'ip') } : {}),
        ...(q.action !== undefined ? { action: q.action } : {}),
      });
      return reply.type('application/x-ndjson; charset=utf-8').header('content-disposition', 'inline; filename="logwarden-blocks.ndjson"').send(await ndjson(sql, params, (r: BlockExportRow) => blockToEcs(decisionOfRow(r))));
    },
  );

  /** The query's rows as ECS lines, streamed as ClickHouse answers; settings in the statement (never the session's: see shared/clickhouse/client.ts). */
  async function ndjson<R>(sql: string, params: QueryParams, toDoc: (row: R) => Record<string, unknown>): Promise<Readable> {
    const rs = await ch.client.query({ query: `${sql}\nSETTINGS readonly = 1`, query_params: params, format: 'JSONEachRow' });
    async function* lines(): AsyncGenerator<string> {
      for await (const batch of rs.stream<R>()) {
        let out = '';
        for (const row of batch) out += `${JSON.stringify(toDoc(row.json()))}\n`;
        if (out) yield out;
      }
    }
    return Readable.from(lines());
  }
}

/** [since, until) from the query: until defaults to now, since to a day before it. */
function range(sinceText: string | undefined, untilText: string | undefined): { since: number; until: number } {
  const until = checkMs('until', parseTime(untilText, 'until') ?? Date.now());
  const since = checkMs('since', parseTime(sinceText, 'since') ?? until - DAY_MS);
  if (until > LAST_MS) throw invalid('until', 'must be before 2200-01-01');
  if (since > until) throw invalid('since', 'must not be after until');
  return { since, until };
}
