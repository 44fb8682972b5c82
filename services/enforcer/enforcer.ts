// The enforcer: keeps every OpenResty node's blocklist equal to the decisions
// topic. It reads the compacted decisions topic from the beginning (a group of
// its own per process: every enforcer must see every decision), keeps the
// desired state, and pushes each change to every node at once, in batches,
// in parallel (p-queue, bounded), retrying with backoff. Every scan_interval
// it reconciles: a node whose epoch changed (nginx restarted: its shared dict
// is empty) or whose last push failed gets the full state; an unreachable node
// never delays the others.
import { hostname } from 'node:os';
import PQueue from 'p-queue';
import { Counter, Gauge, Histogram } from 'prom-client';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { signControlRequest } from '../../shared/control-auth.js';
import type { Bus, Subscription } from '../../shared/bus/types.js';
import type { Config } from '../../shared/config/load.js';
import type { NodeConfig } from '../../shared/config/types.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { Topics } from '../../shared/topics.js';

const log = componentLogger('enforcer');

const pushSeconds = new Histogram({
  name: 'logwarden_enforcer_decision_to_ack_seconds',
  help: 'From a decision read off the bus to the node acknowledging it',
  labelNames: ['node'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});
const pushErrors = new Counter({ name: 'logwarden_enforcer_push_errors_total', help: 'Failed pushes to a node', labelNames: ['node'], registers: [registry] });
const fullPushes = new Counter({ name: 'logwarden_enforcer_full_pushes_total', help: 'Full-state pushes (restart, lag, refresh)', labelNames: ['node', 'why'], registers: [registry] });
const stateSize = new Gauge({ name: 'logwarden_enforcer_desired_blocks', help: 'Blocks the nodes should hold', registers: [registry] });
const nodeSynced = new Gauge({ name: 'logwarden_enforcer_node_synced', help: '1 when the node holds the desired state', labelNames: ['node'], registers: [registry] });

interface Desired {
  reason: string;
  /** Epoch ms; null: permanent. */
  expiresAt: number | null;
}

interface NodeSync {
  node: NodeConfig;
  epoch: string | undefined;
  synced: boolean;
  set: Map<string, { since: number }>;
  del: Set<string>;
  flushing: boolean;
}

export interface EnforcerOptions {
  config: Config;
  bus: Bus;
  topics: Topics;
  /** Defaults to config.nodes. */
  nodes?: NodeConfig[];
  /** Defaults to security.scan_interval. */
  reconcileMs?: number;
}

const BATCH = 500;
const REQUEST_TIMEOUT_MS = 3_000;

export class Enforcer {
  readonly desired = new Map<string, Desired>();
  private readonly nodes: NodeSync[];
  private readonly queue = new PQueue({ concurrency: 8 });
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: EnforcerOptions) {
    this.nodes = (opts.nodes ?? opts.config.nodes).map((node) => ({ node, epoch: undefined, synced: false, set: new Map(), del: new Set(), flushing: false }));
  }

  async start(): Promise<void> {
    const { bus, topics, config } = this.opts;
    this.sub = await bus.subscribe({
      // Every enforcer reads every decision: a group of its own, from the compacted beginning.
      groupId: `${config.kafka.client_id}-enforcer-${hostname()}-${process.pid}-${Date.now().toString(36)}`,
      topics: [topics.decisions],
      fromBeginning: true,
      onBatch: (batch) => {
        const now = Date.now();
        for (const m of batch.messages) this.apply(blockDecisionCodec.decode(m.value), now);
        this.kick();
        return Promise.resolve();
      },
    });
    const every = this.opts.reconcileMs ?? config.security.scan_interval_ms;
    this.timer = setInterval(() => void this.reconcile(), every);
    this.timer.unref();
    void this.reconcile();
  }

  private apply(d: { ip: string; action: string; reason: string; expires_at: number | null }, now: number): void {
    if (d.action === 'block' && (d.expires_at === null || d.expires_at > now)) {
      this.desired.set(d.ip, { reason: d.reason, expiresAt: d.expires_at });
      for (const n of this.nodes) {
        n.del.delete(d.ip);
        n.set.set(d.ip, { since: now });
      }
    } else {
      this.desired.delete(d.ip);
      for (const n of this.nodes) {
        n.set.delete(d.ip);
        n.del.add(d.ip);
      }
    }
    stateSize.set(this.desired.size);
  }

  /** Pushes pending changes to every node, each independently. */
  private kick(): void {
    for (const n of this.nodes) if (!n.flushing && (n.set.size > 0 || n.del.size > 0)) void this.queue.add(() => this.flush(n));
  }

  private async flush(n: NodeSync): Promise<void> {
    n.flushing = true;
    try {
      while (!this.stopped && (n.set.size > 0 || n.del.size > 0)) {
        const setIps = [...n.set.keys()].slice(0, BATCH);
        const delIps = [...n.del].slice(0, BATCH);
        const since = setIps.map((ip) => n.set.get(ip)?.since ?? Date.now());
        const now = Date.now();
        const set = setIps.flatMap((ip) => {
          const d = this.desired.get(ip);
          if (!d) return [];
          const ttl = d.expiresAt === null ? 0 : Math.ceil((d.expiresAt - now) / 1000);
          return ttl < 0 || (d.expiresAt !== null && ttl === 0) ? [] : [{ ip, ttl, reason: d.reason.slice(0, 200) }];
        });
        try {
          await this.post(n.node, '/blocks', { set, delete: delIps });
        } catch (err) {
          pushErrors.inc({ node: n.node.name });
          n.synced = false;
          nodeSynced.set({ node: n.node.name }, 0);
          log.warn({ err: String(err), node: n.node.name }, 'push failed; the next reconcile sends the full state');
          return;
        }
        const ack = Date.now();
        for (const [i, ip] of setIps.entries()) {
          if (n.set.get(ip)?.since === since[i]) n.set.delete(ip);
          pushSeconds.observe({ node: n.node.name }, (ack - (since[i] as number)) / 1000);
        }
        for (const ip of delIps) n.del.delete(ip);
      }
    } finally {
      n.flushing = false;
    }
  }

  private async post(node: NodeConfig, path: string, body: unknown): Promise<unknown> {
    const method = path === '/status' ? 'GET' : 'POST';
    const text = body === undefined ? '' : JSON.stringify(body);
    const res = await fetch(new URL(path, node.url), {
      method,
      // Signed, so the shared secret itself never crosses the wire.
      headers: { authorization: signControlRequest(node.secret, method, path, text), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: text }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const answer = await res.text();
    if (!res.ok) throw new Error(`${node.name} ${path}: HTTP ${res.status} ${answer.slice(0, 200)}`);
    return answer === '' ? {} : (JSON.parse(answer) as unknown);
  }

  /** Epoch check per node; a restarted, lagging or never-synced node gets the full state. */
  async reconcile(force = false): Promise<void> {
    const now = Date.now();
    for (const [ip, d] of this.desired) if (d.expiresAt !== null && d.expiresAt <= now) this.desired.delete(ip);
    stateSize.set(this.desired.size);
    await Promise.all(
      this.nodes.map((n) =>
        this.queue.add(async () => {
          let epoch: string | undefined;
          try {
            const status = (await this.post(n.node, '/status', undefined)) as { epoch?: unknown };
            epoch = typeof status.epoch === 'string' ? status.epoch : JSON.stringify(status.epoch ?? null);
          } catch (err) {
            n.synced = false;
            nodeSynced.set({ node: n.node.name }, 0);
            pushErrors.inc({ node: n.node.name });
            log.warn({ err: String(err), node: n.node.name }, 'node unreachable');
            return;
          }
          const why = force ? 'refresh' : n.epoch !== undefined && epoch !== n.epoch ? 'restart' : !n.synced ? 'resync' : undefined;
          if (why) {
            fullPushes.inc({ node: n.node.name, why });
            const t = Date.now();
            for (const ip of this.desired.keys()) n.set.set(ip, { since: t });
            n.epoch = epoch;
            n.synced = true;
            nodeSynced.set({ node: n.node.name }, 1);
            if (!n.flushing) await this.flush(n);
          }
          n.epoch = epoch;
        }),
      ),
    );
  }

  /** POST /api/security/refresh: a full re-push to every node. */
  refresh(): Promise<void> {
    return this.reconcile(true);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sub?.close();
    await this.queue.onIdle();
  }
}
