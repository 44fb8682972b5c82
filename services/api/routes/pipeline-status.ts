// GET /api/pipeline/status: pipeline health as this process sees it, for the
// dashboard — ingest counters and rate from this process's metrics, the bus
// lag of every consumer group, and each node's sync state as the enforcer
// last saw it.
import type { FastifyInstance } from 'fastify';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Bus } from '../../../shared/bus/types.js';
import { registry } from '../../../shared/metrics.js';
import { consumerGroup } from '../../../shared/topics.js';
import type { DashboardDeps } from './common.js';

export type Metrics = Map<string, MetricObjectWithValues<MetricValue<string>>>;

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

interface NodeLines {
  lines: number;
  last_line_s: number;
  /** Lines stamped over a minute ahead of their arrival (the node's clock runs ahead): they took their arrival time. */
  clock_ahead_lines: number;
}

/** The ingester's per-node tally (services/ingester/node-tally.ts), from its metrics. */
export function perNode(m: Metrics): Record<string, NodeLines> {
  const lines = byLabel(m, 'logwarden_ingest_node_lines_total', 'node');
  const last = byLabel(m, 'logwarden_ingest_node_last_line_seconds', 'node');
  const ahead = byLabel(m, 'logwarden_ingest_node_clock_ahead_total', 'node');
  const out: Record<string, NodeLines> = {};
  for (const node of Object.keys(last)) out[node] = { lines: lines[node] ?? 0, last_line_s: last[node] ?? 0, clock_ahead_lines: ahead[node] ?? 0 };
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
  ingest: {
    received: number;
    parsed: number;
    sent: number;
    rate_per_s: number;
    rejected: Record<string, number>;
    dropped: Record<string, number>;
    /** Per sending node (syslog host name): lines parsed, the Unix time in seconds of its last one, and how many came from a clock over a minute ahead. */
    nodes: Record<string, NodeLines>;
  };
  detector: { records: number; events: Record<string, number>; decisions: Record<string, number>; tracked_ips: number; late_records: number };
  sink: { rows: Record<string, number>; dead_letters: number };
  lag: Array<{ group: string; topic: string; lag: number | null }>;
  nodes: Array<{ name: string; url: string; synced: boolean | null; rules_version_lag: number | null; push_errors: number }>;
}

export function registerPipelineStatus(app: FastifyInstance, deps: DashboardDeps): void {
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

  app.get('/api/pipeline/status', {
    config: { auth: 'analyst' },
    schema: {
      summary: 'Pipeline health as this process sees it: ingest rate, rejected and dropped lines, lines per sending node, bus lag of the consumer groups, node sync state',
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
        nodes: perNode(m),
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
}
