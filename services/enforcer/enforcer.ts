// The enforcer: keeps every OpenResty node's blocklist equal to the decisions
// topic, and its rule set (NodeRules: whitelist, deployment policies,
// protected routes, security_filter) equal to the control plane's. It reads the compacted decisions topic from the beginning (a group of
// its own per process: every enforcer must see every decision), keeps the
// desired state, and pushes each change to every node at once, in batches,
// in parallel (p-queue, bounded), retrying with backoff. Every scan_interval
// it reconciles: a node whose epoch changed (nginx restarted: its shared dict
// is empty) or whose last push failed gets the full state, and a node whose
// rules_version differs from the desired one gets the rule set again (PUT
// /rules, replaced whole and atomically on the node); an unreachable node
// never delays the others.
//
// Given the control state (options.control), the enforcer follows it as it
// follows the decisions topic: the rule set is pushed at start and after each
// change (changes arriving together become one set), and a refresh request
// (POST /api/security/refresh on any API instance) runs a full re-push.
//
// Challenges (decisions with action challenge) travel as blocks do, marked
// "action":"challenge"; a later block on the same address replaces it. Each
// reconcile also gives a node the challenge's signing keys when their rotation
// period turned, or the node restarted (shared/challenge-keys.ts).
import { hostname } from 'node:os';
import PQueue from 'p-queue';
import { Counter, Gauge, Histogram } from 'prom-client';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { signNodeRequest } from '../../shared/node-auth.js';
import { challengePeriod } from '../../shared/challenge-keys.js';
import type { NodeRules } from '../../shared/control/node-rules.js';
import { geoFor } from '../../shared/geo/index.js';
import { geoRangesFor } from '../../shared/geo/node-ranges.js';
import type { ControlEvent, ControlState } from '../../shared/control/state.js';
import type { FallbackBlock } from './file-fallback.js';
import type { Bus, Subscription } from '../../shared/bus/types.js';
import type { Config } from '../../shared/config/load.js';
import type { NodeConfig } from '../../shared/config/types.js';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';
import type { Topics } from '../../shared/topics.js';
import type { NoticePublisher } from '../../shared/notices.js';
import { LogwardenError } from '../../shared/errors.js';
import { nodeAnswerError } from './errors.js';

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
const rulesPushErrors = new Counter({ name: 'logwarden_enforcer_rules_push_errors_total', help: 'Failed PUT /rules to a node', labelNames: ['node'], registers: [registry] });
const rulesLag = new Gauge({
  name: 'logwarden_enforcer_node_rules_version_lag',
  help: 'Desired rule-set version minus the one the node last reported or acknowledged (0: in sync)',
  labelNames: ['node'],
  registers: [registry],
});
const nodeSynced = new Gauge({ name: 'logwarden_enforcer_node_synced', help: '1 when the node holds the desired state', labelNames: ['node'], registers: [registry] });

interface Desired {
  challenge: boolean;
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
  /** The rule-set version the node holds, as far as we know; undefined: unknown (push failed, not asked yet). */
  rulesVersion: number | undefined;
  /** A PUT /rules to this node is in flight: one at a time per node, so an older set never lands after a newer one. */
  rulesPushing: boolean;
  /** The rotation period of the challenge keys the node holds; undefined: none pushed (or it restarted). */
  challengePeriod: number | undefined;
  /** Since when the node is out of sync (one notice per spell); undefined while in sync. */
  outOfSyncSince: number | undefined;
}

export interface EnforcerOptions {
  config: Config;
  bus: Bus;
  topics: Topics;
  /** Defaults to config.nodes. */
  nodes?: NodeConfig[];
  /** Defaults to security.scan_interval. */
  reconcileMs?: number;
  /** The control plane to follow (see the header); without it, the caller sets the rules (setRules). */
  control?: ControlState;
  /** Told once per spell when a node falls out of sync (kind node_out_of_sync); the notifier reads it. */
  notices?: NoticePublisher;
}

/**
 * Blocks a POST /blocks carries at most. Each POST that touches ranges makes every
 * worker rebuild its range set once, so a feed's tens of thousands of ranges go in
 * few large batches; 2,000 entries with 200-byte reasons stay within the control
 * listener's 1m body.
 */
const BATCH = 2_000;
const REQUEST_TIMEOUT_MS = 3_000;
/** Changes arriving together (a republish, a burst of API calls) become one rule set. */
const RULES_PUSH_DEBOUNCE_MS = 20;

export class Enforcer {
  readonly desired = new Map<string, Desired>();
  private rules: NodeRules | undefined;
  private readonly nodes: NodeSync[];
  private readonly queue = new PQueue({ concurrency: 8 });
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Following the control plane: the last version given to setRules, the debounce, the pushes in order. */
  private followedVersion = 0;
  private rulesPending: NodeJS.Timeout | undefined;
  private rulesPushed: Promise<void> = Promise.resolve();

  constructor(private readonly opts: EnforcerOptions) {
    this.nodes = (opts.nodes ?? opts.config.nodes).map((node) => ({
      node,
      epoch: undefined,
      synced: false,
      set: new Map(),
      del: new Set(),
      flushing: false,
      rulesVersion: undefined,
      rulesPushing: false,
      challengePeriod: undefined,
      outOfSyncSince: undefined,
    }));
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
    if (this.opts.control) {
      this.pushControlRules(this.opts.control);
      this.opts.control.on('change', this.onControlChange);
    }
  }

  private readonly onControlChange = (e: ControlEvent): void => {
    const control = this.opts.control as ControlState;
    if (e.kind === 'setting') {
      if (e.id === 'refresh') void this.refresh();
      return;
    }
    if (this.rulesPending) return;
    this.rulesPending = setTimeout(() => {
      this.rulesPending = undefined;
      this.pushControlRules(control);
    }, RULES_PUSH_DEBOUNCE_MS);
    this.rulesPending.unref();
  };

  private pushControlRules(control: ControlState): void {
    // Nodes take versions below 10^14 (what their JSON reports exactly): the control plane's
    // microsecond version in milliseconds, kept strictly increasing for this enforcer.
    this.followedVersion = Math.max(Math.floor(control.version / 1000), this.followedVersion + 1);
    const rules: NodeRules = { ...control.nodeRules(this.opts.config.detection.whitelist), version: this.followedVersion };
    // The ranges of the countries and ASes that geo rules name: nodes match them without nginx's geoip2 module.
    const omitted: string[] = [];
    const geo = geoRangesFor(rules.security_filter, () => geoFor(this.opts.config), omitted);
    if (omitted.length > 0) log.warn({ omitted }, 'geo rules name more ranges than a rule set carries: at nodes these countries match only through $logwarden_country, these ASes not at all (the detector still matches both from the records)');
    if (geo !== undefined) rules.geo = geo;
    this.rulesPushed = this.rulesPushed.then(() => this.setRules(rules)).catch((err: unknown) => log.error({ err }, 'rule set not pushed'));
  }

  /**
   * Decisions known from elsewhere than the topic: in embedded mode the in-process
   * topic starts empty at every start, while control_blocks still holds the blocks
   * in force. Call before start(); later decisions from the topic override them.
   */
  seed(decisions: ReadonlyArray<{ ip: string; action: string; reason: string; expires_at: number | null }>): void {
    const now = Date.now();
    for (const d of decisions) this.apply(d, now);
  }

  private apply(d: { ip: string; action: string; reason: string; expires_at: number | null }, now: number): void {
    if ((d.action === 'block' || d.action === 'challenge') && (d.expires_at === null || d.expires_at > now)) {
      this.desired.set(d.ip, { challenge: d.action === 'challenge', reason: d.reason, expiresAt: d.expires_at });
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
          if (ttl < 0 || (d.expiresAt !== null && ttl === 0)) return [];
          return [{ ip, ttl, reason: d.reason.slice(0, 200), ...(d.challenge ? { action: 'challenge' } : {}) }];
        });
        try {
          await this.request(n.node, 'POST', '/blocks', { set, delete: delIps });
        } catch (err) {
          pushErrors.inc({ node: n.node.name });
          this.outOfSync(n, 'blocks push failed', err);
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

  /** Marks a node out of sync; the first failure of a spell is published as a notice. */
  private outOfSync(n: NodeSync, why: string, err: unknown): void {
    n.synced = false;
    nodeSynced.set({ node: n.node.name }, 0);
    if (n.outOfSyncSince !== undefined) return;
    const since = (n.outOfSyncSince = Date.now());
    void this.opts.notices?.publish({
      kind: 'node_out_of_sync',
      subject: n.node.name,
      message: `${why}: ${String(err)}`.slice(0, 500),
      details: { url: n.node.url, reporter: hostname() },
      ts: since,
      occurrence: `${hostname()}:${process.pid}:${since}`,
    });
  }

  /** The blocks in force, for the reload fallback (file-fallback.ts) on sites without the control endpoint (challenges need the endpoint's keys: not rendered). */
  activeBlocks(now = Date.now()): FallbackBlock[] {
    const out: FallbackBlock[] = [];
    for (const [ip, d] of this.desired) if (!d.challenge && (d.expiresAt === null || d.expiresAt > now)) out.push({ ip, expiresAt: d.expiresAt, reason: d.reason });
    return out;
  }

  /** The desired rule set, or undefined before the control plane gave one. */
  get desiredRules(): NodeRules | undefined {
    return this.rules;
  }

  /**
   * Replaces the rule set every node must hold (called by the control plane).
   * The version must be strictly greater than the previous one: a node reports
   * the version it holds, and reconcile re-pushes to any node that differs.
   * Resolves when every node was tried once; a failed node is retried by the
   * next reconcile.
   */
  async setRules(rules: NodeRules): Promise<void> {
    // 0 is what a node without any rule set reports: a set numbered 0 could never be told from none.
    if (!Number.isSafeInteger(rules.version) || rules.version < 1 || rules.version >= 1e14) {
      throw new RangeError(`rules version must be an integer from 1 to 99999999999999, not ${rules.version}`);
    }
    if (this.rules !== undefined && rules.version <= this.rules.version) {
      throw new RangeError(`rules version ${rules.version} is not above the current ${this.rules.version}`);
    }
    this.rules = rules;
    for (const n of this.nodes) this.setLag(n);
    await Promise.all(this.nodes.map((n) => this.queue.add(() => this.pushRules(n))));
  }

  private setLag(n: NodeSync): void {
    if (this.rules === undefined) return;
    // An unknown version counts as the whole desired version behind.
    rulesLag.set({ node: n.node.name }, this.rules.version - (n.rulesVersion ?? 0));
  }

  /** PUT /rules until the node holds the latest desired set; one in flight per node. */
  private async pushRules(n: NodeSync): Promise<void> {
    if (n.rulesPushing) return; // the running push loops until it sent the latest
    n.rulesPushing = true;
    try {
      while (!this.stopped && this.rules !== undefined && n.rulesVersion !== this.rules.version) {
        const rules = this.rules;
        try {
          await this.request(n.node, 'PUT', '/rules', rules);
        } catch (err) {
          rulesPushErrors.inc({ node: n.node.name });
          n.rulesVersion = undefined;
          this.setLag(n);
          log.warn({ err: String(err), node: n.node.name, version: rules.version }, 'rules push failed; the next reconcile retries');
          return;
        }
        n.rulesVersion = rules.version;
        this.setLag(n);
      }
    } finally {
      n.rulesPushing = false;
    }
  }

  private async request(node: NodeConfig, method: 'GET' | 'POST' | 'PUT', path: string, body: unknown): Promise<unknown> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const res = await fetch(new URL(path, node.url), {
      method,
      // Signed, so the shared secret itself never crosses the wire.
      headers: { authorization: signNodeRequest(node.secret, method, path, text), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: text }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const answer = await res.text();
    if (!res.ok) throw new LogwardenError(nodeAnswerError(res.status), `${node.name} ${path}: HTTP ${res.status} ${answer.slice(0, 200)}`);
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
            const status = (await this.request(n.node, 'GET', '/status', undefined)) as { epoch?: unknown; rules_version?: unknown };
            epoch = typeof status.epoch === 'string' ? status.epoch : JSON.stringify(status.epoch ?? null);
            // What the node says it holds beats what we believe it acknowledged.
            n.rulesVersion = typeof status.rules_version === 'number' ? status.rules_version : undefined;
            this.setLag(n);
          } catch (err) {
            this.outOfSync(n, 'node unreachable', err);
            pushErrors.inc({ node: n.node.name });
            log.warn({ err: String(err), node: n.node.name }, 'node unreachable');
            return;
          }
          const why = force ? 'refresh' : n.epoch !== undefined && epoch !== n.epoch ? 'restart' : !n.synced ? 'resync' : undefined;
          // Rules first: a restarted node must not serve without its whitelist
          // and policies longer than needed (they are small; blocks are many).
          if (this.rules !== undefined && (force || why === 'restart' || n.rulesVersion !== this.rules.version)) {
            if (force) n.rulesVersion = undefined;
            await this.pushRules(n);
          }
          await this.pushChallengeKeys(n, why !== undefined);
          if (why) {
            fullPushes.inc({ node: n.node.name, why });
            const t = Date.now();
            for (const ip of this.desired.keys()) n.set.set(ip, { since: t });
            n.epoch = epoch;
            n.synced = true;
            n.outOfSyncSince = undefined;
            nodeSynced.set({ node: n.node.name }, 1);
            if (!n.flushing) await this.flush(n);
          }
          n.epoch = epoch;
        }),
      ),
    );
  }

  /** PUT /challenge when the node's keys are not this period's (or it restarted); the node derives them from its own secret. */
  private async pushChallengeKeys(n: NodeSync, again: boolean): Promise<void> {
    const c = this.opts.config.challenge;
    const period = challengePeriod(c.key_rotation_ms);
    if (!again && n.challengePeriod === period) return;
    try {
      await this.request(n.node, 'PUT', '/challenge', { period, rotation: Math.round(c.key_rotation_ms / 1000), difficulty: c.difficulty, cookie_ttl: Math.round(c.cookie_ttl_ms / 1000) });
      n.challengePeriod = period;
    } catch (err) {
      n.challengePeriod = undefined;
      pushErrors.inc({ node: n.node.name });
      log.warn({ err: String(err), node: n.node.name }, 'challenge keys not pushed; the next reconcile retries');
    }
  }

  /** POST /api/security/refresh: a full re-push (blocks and rules) to every node. */
  refresh(): Promise<void> {
    return this.reconcile(true);
  }

  async close(): Promise<void> {
    // The rule set already on its way is delivered; no later change starts another.
    this.opts.control?.off('change', this.onControlChange);
    if (this.rulesPending) clearTimeout(this.rulesPending);
    await this.rulesPushed;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sub?.close();
    await this.queue.onIdle();
  }
}
