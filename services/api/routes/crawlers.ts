// /api/security/crawlers: the addresses whose user agent claimed a known
// crawler and what DNS said of them (verified or failed), from
// crawler_verdicts (written by the sink from the detectors' verdicts, see
// services/detector/crawlers/report.ts); and one address's verdict, for the
// dashboard's investigation view.
import type { FastifyInstance } from 'fastify';
import { CRAWLER_VERDICT_STATUSES, crawlerVerdictOf, listCrawlerVerdicts, type CrawlerVerdictStatus } from '../../../shared/clickhouse/crawler-queries.js';
import { envelope, list, normalizedIpParam, paging, type DashboardDeps } from './common.js';

const verdictSchema = {
  type: 'object',
  required: ['ip', 'crawler', 'hostname', 'status', 'first_at', 'last_at', 'deployment'],
  properties: {
    ip: { type: 'string' },
    crawler: { type: 'string', description: 'the crawler the user agent claimed, e.g. Googlebot' },
    hostname: { type: ['string', 'null'], description: 'the reverse DNS name of the address (forward-confirmed when verified); null when DNS gave none' },
    status: { type: 'string', enum: [...CRAWLER_VERDICT_STATUSES], description: 'verified: forward-confirmed reverse DNS in the crawler\'s domain; failed: DNS says the address is not that crawler\'s' },
    first_at: { type: 'integer', description: 'epoch ms when this verdict was first reached' },
    last_at: { type: 'integer', description: 'epoch ms when it was last reached (the latest lookup)' },
    deployment: { type: ['string', 'null'], description: 'the deployment of the request that made the claim, when known' },
  },
} as const;

const investigationSchema = {
  type: 'object',
  required: ['ip', 'verified_crawler'],
  properties: {
    ip: { type: 'string' },
    verified_crawler: {
      type: ['object', 'null'],
      description: 'null when the address never claimed a known crawler (or its verdict expired); a verified claim wins over a failed one',
      required: ['crawler', 'hostname', 'status', 'at'],
      properties: {
        crawler: { type: 'string' },
        hostname: { type: ['string', 'null'] },
        status: { type: 'string', enum: [...CRAWLER_VERDICT_STATUSES] },
        at: { type: 'integer', description: 'epoch ms of the latest verdict' },
      },
    },
  },
} as const;

export function registerCrawlers(app: FastifyInstance, deps: DashboardDeps): void {
  const { ch } = deps;
  app.get<{ Querystring: { status?: CrawlerVerdictStatus; crawler?: string; limit: number } }>(
    '/api/security/crawlers',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Addresses that claimed a known crawler, with what DNS said (verified or failed), newest first',
        description: 'One entry per address and claimed crawler: the latest verdict of the detectors\' verification (reverse DNS in the crawler owner\'s domain, forward DNS back to the address). Kept retention_days after the latest verdict.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...CRAWLER_VERDICT_STATUSES] },
            crawler: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'the claimed crawler\'s name (case-insensitive), e.g. Googlebot' },
            limit: paging.limit,
          },
        },
        response: { 200: list(verdictSchema) },
      },
    },
    async (req) => {
      const q = req.query;
      return { data: await listCrawlerVerdicts(ch, { limit: q.limit, ...(q.status ? { status: q.status } : {}), ...(q.crawler !== undefined ? { crawler: q.crawler } : {}) }) };
    },
  );

  app.get<{ Params: { ip: string } }>(
    '/api/security/crawlers/:ip',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'One address\'s crawler verdict, for the investigation view',
        params: { type: 'object', required: ['ip'], additionalProperties: false, properties: { ip: { type: 'string', maxLength: 64, format: 'ip', description: 'an IPv4 or IPv6 address' } } },
        response: { 200: envelope(investigationSchema) },
      },
    },
    async (req) => {
      const ip = normalizedIpParam(req.params.ip, 'ip');
      const v = await crawlerVerdictOf(ch, ip);
      return { data: { ip, verified_crawler: v === null ? null : { crawler: v.crawler, hostname: v.hostname, status: v.status, at: v.last_at } } };
    },
  );
}
