// /api/security/events: security events from ClickHouse, newest first with a
// stable cursor (FlatRun's GET), and their live stream over Server-Sent Events.
import type { FastifyInstance } from 'fastify';
import { securityEventCodec } from '../../../shared/avro/codec.js';
import { listEvents } from '../../../shared/clickhouse/queries.js';
import { EVENT_TYPES } from '../../../shared/clickhouse/rollup-queries.js';
import { ipInRange } from '../../../shared/ip.js';
import type { SecurityEvent } from '../../../shared/records.js';
import { TopicStream } from '../stream.js';
import { ipOrCidr, list, normalizedIpParam, paging, parseTime, sse, type RouteDeps } from './common.js';

export const eventSchema = {
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
    country: { type: ['string', 'null'], description: 'the client\'s country (ISO 3166-1 alpha-2); null when unknown' },
    asn: { type: ['integer', 'null'], description: 'the client\'s autonomous system number; null when unknown' },
    as_org: { type: ['string', 'null'], description: 'that autonomous system\'s organisation' },
  },
} as const;

const eventFilters = {
  type: { type: 'string', enum: [...EVENT_TYPES] },
  ip: { ...ipOrCidr, description: 'an address, or a CIDR block' },
  deployment: { type: 'string', maxLength: 64 },
  detector: { type: 'string', maxLength: 128 },
} as const;

export function registerEvents(app: FastifyInstance, deps: RouteDeps): void {
  const { ch } = deps;
  const eventStream = new TopicStream<SecurityEvent>(deps.bus, deps.topics.events, securityEventCodec, deps.config.kafka.client_id);
  app.addHook('onClose', () => eventStream.close());
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
}
