// What the /api/security resources share: their dependencies, the schema
// pieces every resource uses (names, addresses, paging, FlatRun's envelope),
// the parsing of a path or query value that names an address or a time, and
// the Server-Sent Events loop of the live streams.
//
// Responses follow FlatRun's envelope: { "data": ..., "message"?: ... } with
// paging fields beside `data` on lists.
//
// Nothing is half-applied: a route checks its whole input (every item of a
// list, every key of a settings change, a filter level as part of the whole
// rule set it would produce) before it writes anything, so a 4xx leaves the
// state as it was.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Bus } from '../../../shared/bus/types.js';
import type { ClickHouse } from '../../../shared/clickhouse/client.js';
import type { Config } from '../../../shared/config/load.js';
import type { ControlState } from '../../../shared/control/state.js';
import type { ControlStore } from '../../../shared/control/store.js';
import { normalizeIpOrCidr } from '../../../shared/ip.js';
import type { Topics } from '../../../shared/topics.js';
import { ApiError, invalid } from '../errors.js';
import type { TopicStream } from '../stream.js';
import type { FeedStatus } from '../../feeds/index.js';

/** What the dashboard's reads need; they run even without the control plane. */
export interface DashboardDeps {
  config: Config;
  bus: Bus;
  ch: ClickHouse;
  topics?: Topics;
}

export interface RouteDeps {
  config: Config;
  bus: Bus;
  ch: ClickHouse;
  topics: Topics;
  control: { state: ControlState; store: ControlStore };
  refresh?: () => Promise<void>;
  /** Present when this process runs blocklist feeds: their status. */
  feeds?: () => readonly FeedStatus[];
  /** A view of the control plane's realtime_capture setting (config default): switched only through the store. */
  state: { readonly capture: boolean };
}

// ------------------------------------------------------------------ schema pieces

export const MAX_DURATION_S = 10 * 365 * 86_400;
export const deploymentName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'deployment name' } as const;
export const ipOrCidr = { type: 'string', maxLength: 64, format: 'ip-or-cidr' } as const;
export const text = (max: number, description?: string) => ({ type: 'string', maxLength: max, ...(description ? { description } : {}) }) as const;
export const urlPath = { type: 'string', minLength: 1, maxLength: 1024, format: 'url-path' } as const;

export const envelope = (data: object, extra: Record<string, object> = {}) =>
  ({ type: 'object', required: ['data'], properties: { data, message: { type: 'string' }, ...extra } }) as const;
export const list = (item: object, extra: Record<string, object> = {}) => envelope({ type: 'array', items: item }, extra);

export const paging = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
  offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
} as const;

export const idParam = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', maxLength: 64 } } } as const;

// ------------------------------------------------------------------ request values

/** Who made a change, as the control tables record it. */
export function actor(req: FastifyRequest): string {
  return req.principal ? `api:${req.principal.name}` : 'api';
}

export function normalizedIpParam(raw: string, field: string): string {
  const ip = normalizeIpOrCidr(raw);
  if (ip === undefined) throw invalid(field, 'must be an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/8)');
  return ip;
}

// Date.parse alone takes almost anything ("-1", "*/ SELECT 1 /*" are 2001-01-01 to V8): only ISO 8601 gets there.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

export function parseTime(v: string | undefined, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d{1,16}$/.test(v)) return Number(v);
  const t = ISO_8601.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t) || t < 0) throw invalid(field, 'must be epoch milliseconds or an ISO 8601 time');
  return t;
}

// ------------------------------------------------------------------ live streams

/** Answers with a Server-Sent Events stream of the records of `stream` that `keep` accepts, until the client goes. */
export async function sse<T extends object>(req: FastifyRequest, reply: FastifyReply, stream: TopicStream<T>, eventName: string, keep: (r: T) => boolean): Promise<void> {
  let dropped = 0;
  const res = reply.raw;
  // Subscribe before answering: a bus that cannot be reached is still a JSON 503, not a stream that never speaks.
  const stop = await stream.listen((r) => {
    if (!keep(r)) return;
    // A slow reader loses records (counted in the next one it gets) rather than growing this process's memory.
    if (res.writableLength > 1_048_576) {
      dropped++;
      return;
    }
    res.write(`event: ${eventName}\ndata: ${JSON.stringify(dropped > 0 ? { ...r, dropped_before: dropped } : r)}\n\n`);
    dropped = 0;
  }).catch((err: unknown) => {
    req.log.warn({ err: String(err) }, 'live stream unavailable');
    throw new ApiError('LW_API_BUS_UNAVAILABLE');
  });
  reply.hijack();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': logwarden stream\n\n');
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  ping.unref();
  const end = (): void => {
    clearInterval(ping);
    stop();
  };
  req.raw.on('close', end);
  res.on('error', end);
  // The client may have gone while the subscription started.
  if (res.destroyed || req.raw.socket.destroyed) end();
}
