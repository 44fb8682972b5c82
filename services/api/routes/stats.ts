// /api/security/stats (FlatRun's): events by type, blocked addresses, recent
// threats and top offenders over a window; and /api/security/stats/timeseries:
// events and requests per minute or hour, from the rollup tables.
import type { FastifyInstance } from 'fastify';
import { stats, timeSeries } from '../../../shared/clickhouse/rollup-queries.js';
import { invalid } from '../errors.js';
import { envelope, parseTime, type RouteDeps } from './common.js';
import { eventSchema } from './events.js';

export function registerStats(app: FastifyInstance, deps: RouteDeps): void {
  const { ch } = deps;
  app.get<{ Querystring: { window_hours: number; top: number } }>(
    '/api/security/stats',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Events by type, blocked IP count, recent threats, top offending IPs',
        querystring: { type: 'object', additionalProperties: false, properties: { window_hours: { type: 'integer', minimum: 1, maximum: 24 * 366, default: 24 }, top: { type: 'integer', minimum: 1, maximum: 100, default: 10 } } },
        response: {
          200: envelope({
            type: 'object',
            required: ['total_events', 'events_by_type', 'blocked_ips', 'recent_threats', 'top_offending_ips'],
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              total_events: { type: 'integer' },
              events_by_type: { type: 'object', additionalProperties: { type: 'integer' } },
              blocked_ips: { type: 'integer' },
              active_blocks: { type: 'integer' },
              recent_threats: { type: 'array', items: eventSchema },
              top_offending_ips: { type: 'array', items: { type: 'object', properties: { ip: { type: 'string' }, events: { type: 'integer' }, requests: { type: 'integer' } } } },
            },
          }),
        },
      },
    },
    async (req) => {
      const s = await stats(ch, { windowHours: req.query.window_hours, top: req.query.top });
      return { data: { ...s, blocked_ips: s.active_blocks } };
    },
  );
  app.get<{ Querystring: { from?: string; to?: string; step: 'minute' | 'hour'; deployment?: string } }>(
    '/api/security/stats/timeseries',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Events by type and requests by status class per minute or hour',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601; default 24 h ago' },
            to: { type: 'string', maxLength: 40, description: 'epoch ms or ISO 8601; default now' },
            step: { type: 'string', enum: ['minute', 'hour'], default: 'hour' },
            deployment: { type: 'string', maxLength: 64 },
          },
        },
        response: { 200: envelope({ type: 'object', additionalProperties: true, properties: { step: { type: 'string' }, events: { type: 'array', items: { type: 'object', additionalProperties: true } }, requests: { type: 'array', items: { type: 'object', additionalProperties: true } } } }) },
      },
    },
    async (req) => {
      const now = Date.now();
      const to = parseTime(req.query.to, 'to') ?? now;
      const from = parseTime(req.query.from, 'from') ?? to - 86_400_000;
      if (from >= to) throw invalid('from', 'must be before to');
      const maxBuckets = 10_000;
      if ((to - from) / (req.query.step === 'minute' ? 60_000 : 3_600_000) > maxBuckets) throw invalid('from', `the range holds more than ${maxBuckets} ${req.query.step}s; use a larger step or a shorter range`);
      return { data: await timeSeries(ch, { from, to, step: req.query.step, ...(req.query.deployment !== undefined ? { deployment: req.query.deployment } : {}) }) };
    },
  );
}
