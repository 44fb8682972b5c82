// The SOC dashboard (services/dashboard/: plain HTML, JS modules and CSS, no
// build step) and the few reads it needs beyond /api/security: who the token
// is, pipeline health from this process's metrics and the bus, top lists.
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
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Bus } from '../../shared/bus/types.js';
import type { ClickHouse } from '../../shared/clickhouse/client.js';
import { topStats } from '../../shared/clickhouse/queries.js';
import type { Config } from '../../shared/config/load.js';
import { registry } from '../../shared/metrics.js';
import { consumerGroup, type Topics } from '../../shared/topics.js';
import { ApiError } from './errors.js';

export interface DashboardDeps {
  config: Config;
  bus: Bus;
  ch: ClickHouse;
  topics?: Topics;
}

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

/** The dashboard's folder: beside this module's source, from src (services/api) or from dist/services/api. */
export function dashboardDir(): string | undefined {
  for (const rel of ['../dashboard/', '../../../services/dashboard/']) {
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

// ------------------------------------------------------------------ pipeline status

type Metrics = Map<string, MetricObjectWithValues<MetricValue<string>>>;

function sum(m: Metrics, name: string, where: (labels: Record<string, string | number>) => boolean = () => true): number {
  let n = 0;
  for (const v of m.get(name)?.values ?? []) if (where(v.labels as Record<string, string | number>)) n += v.value;
  return n;
}

function byLabel(m: Metrics, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of m.get(name)?.values ?? []) {
    const k = String((v.labels as Record<string, string | number>)[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

/** Received-line samples for a rate over the last seconds (sampled on each status call and every few seconds). */
class RateSampler {
  private readonly samples: Array<{ t: number; n: number }> = [];

  add(t: number, n: number): void {
    this.samples.push({ t, n });
    while (this.samples.length > 2 && (this.samples[0] as { t: number }).t < t - 60_000) this.samples.shift();
  }

  /** Per second over about the last `windowMs` (0 before two samples). */
  rate(windowMs = 10_000): number {
    const last = this.samples[this.samples.length - 1];
    if (!last) return 0;
    const first = this.samples.find((s) => s.t >= last.t - windowMs && s.t < last.t) ?? this.samples[0];
    if (!first || first.t === last.t) return 0;
    return Math.max(0, ((last.n - first.n) * 1000) / (last.t - first.t));
  }
}

const LAG_TIMEOUT_MS = 2_000;

async function groupLag(bus: Bus, groupId: string, topic: string): Promise<number | null> {
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), LAG_TIMEOUT_MS).unref());
  const lag = (async () => {
    const [committed, end] = await Promise.all([bus.committedOffsets(groupId, topic), bus.endOffsets(topic)]);
    // A group that never committed is not running anywhere: no lag to report.
    if (committed.length === 0) return null;
    const at = new Map(committed.map((c) => [c.partition, BigInt(c.offset)]));
    let n = 0n;
    // Partitions the group never committed on have no known start (offsets need not begin at 0).
    for (const e of end) {
      const c = at.get(e.partition);
      if (c !== undefined && BigInt(e.offset) > c) n += BigInt(e.offset) - c;
    }
    return Number(n);
  })().catch(() => null);
  return Promise.race([lag, timeout]);
}

export interface PipelineStatus {
  scope: 'process';
  uptime_s: number;
  bus: string;
  ingest: { received: number; parsed: number; sent: number; rate_per_s: number; rejected: Record<string, number>; dropped: Record<string, number> };
  detector: { records: number; events: Record<string, number>; decisions: Record<string, number>; tracked_ips: number; late_records: number };
  sink: { rows: Record<string, number>; dead_letters: number };
  lag: Array<{ group: string; topic: string; lag: number | null }>;
  nodes: Array<{ name: string; url: string; synced: boolean | null; rules_version_lag: number | null; push_errors: number }>;
}

// ------------------------------------------------------------------ routes

export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  const dir = dashboardDir();
  const assets = dir ? loadAssets(dir) : new Map<string, { body: Buffer; type: string }>();
  const started = Date.now();
  const rates = new RateSampler();
  const received = async (): Promise<number> => sum(new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, m])), 'logwarden_ingest_received_total');
  const sample = (): void => {
    received().then((n) => rates.add(Date.now(), n), () => undefined);
  };
  sample();
  const sampler = setInterval(sample, 5_000);
  sampler.unref();
  app.addHook('onClose', () => {
    clearInterval(sampler);
    return Promise.resolve();
  });

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

  app.get('/api/pipeline/status', {
    config: { auth: 'analyst' },
    schema: {
      summary: 'Pipeline health as this process sees it: ingest rate, rejected and dropped lines, bus lag of the consumer groups, node sync state',
      tags: ['meta'],
      response: { 200: { type: 'object', required: ['data'], properties: { data: { type: 'object', additionalProperties: true } } } },
    },
  }, async () => {
    const m: Metrics = new Map((await registry.getMetricsAsJSON()).map((x) => [x.name, x]));
    const now = Date.now();
    rates.add(now, sum(m, 'logwarden_ingest_received_total'));
    const g = (role: string): string => consumerGroup(deps.config.kafka, role);
    const t = deps.topics;
    const groups: Array<[string, string]> = t
      ? [[g('detector'), t.access], [g('sink-events'), t.events], [g('sink-blocks'), t.decisions], [g('sink-requests'), t.access]]
      : [];
    const lag = await Promise.all(groups.map(async ([group, topic]) => ({ group, topic, lag: await groupLag(deps.bus, group, topic) })));
    const synced = byLabel(m, 'logwarden_enforcer_node_synced', 'node');
    const rulesLag = byLabel(m, 'logwarden_enforcer_node_rules_version_lag', 'node');
    const pushErrors = byLabel(m, 'logwarden_enforcer_push_errors_total', 'node');
    const status: PipelineStatus = {
      scope: 'process',
      uptime_s: Math.round((now - started) / 1000),
      bus: deps.bus.kind,
      ingest: {
        received: sum(m, 'logwarden_ingest_received_total'),
        parsed: sum(m, 'logwarden_ingest_parsed_total'),
        sent: sum(m, 'logwarden_ingest_sent_total'),
        rate_per_s: Math.round(rates.rate() * 10) / 10,
        rejected: byLabel(m, 'logwarden_ingest_rejected_total', 'reason'),
        dropped: byLabel(m, 'logwarden_ingest_dropped_total', 'reason'),
      },
      detector: {
        records: sum(m, 'logwarden_detector_records_total'),
        events: byLabel(m, 'logwarden_detector_events_total', 'type'),
        decisions: byLabel(m, 'logwarden_detector_decisions_total', 'action'),
        tracked_ips: sum(m, 'logwarden_detector_tracked_ips'),
        late_records: sum(m, 'logwarden_detector_late_records'),
      },
      sink: { rows: byLabel(m, 'logwarden_sink_rows_total', 'table'), dead_letters: sum(m, 'logwarden_sink_dead_letters_total') },
      lag: lag.filter((l) => l.lag !== null || !l.group.endsWith('-sink-requests')),
      nodes: deps.config.nodes.map((n) => ({
        name: n.name,
        url: n.url,
        synced: n.name in synced ? synced[n.name] === 1 : null,
        rules_version_lag: n.name in rulesLag ? (rulesLag[n.name] as number) : null,
        push_errors: pushErrors[n.name] ?? 0,
      })),
    };
    return { data: status };
  });

  app.get<{ Querystring: { hours: number; top: number; deployment?: string } }>('/api/dashboard/top', {
    config: { auth: 'analyst' },
    schema: {
      summary: 'Top paths named by events, and events per deployment, over the last hours',
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
    return { data: { from: r.from, to: r.to, paths: r.paths, deployments: r.deployments } };
  });
}
