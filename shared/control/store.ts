// Writes to the control plane: each change is made durable in its control_*
// table first (the source of truth after any restart), then published on the
// control topic so enforcers, sinks and other API instances learn it at once,
// then applied to the local state so the caller's next read sees it (read
// your writes).
//
// A crash between the insert and the publish loses nothing: `publishAll` at
// start republishes every held entity, and readers ignore versions they have.
//
// Blocks go the other way round, because control_blocks has one writer: the
// sink on the decisions topic (services/sink), which stores the detectors'
// and the filters' blocks too. `decide` publishes the decision, then waits
// until that sink stored it, so the caller's next read lists it all the same.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec, controlChangeCodec } from '../avro/codec.js';
import type { Bus } from '../bus/types.js';
import type { ClickHouse } from '../clickhouse/client.js';
import { withDeadline } from '../clickhouse/deadline.js';
import { epochMs } from '../clickhouse/sql.js';
import { componentLogger } from '../log.js';
import type { BlockDecision, BlockSource, ControlChange, ControlKind } from '../records.js';
import type { Topics } from '../topics.js';
import type { ControlState, DeploymentSecurity, FilterLevel, ProtectedRoute, Settings, WhitelistEntry } from './state.js';

/** A block in force, as listed by the API. */
export interface ActiveBlock {
  ip: string;
  /** block, or challenge (the client gets the challenge page until it passes). */
  action: 'block' | 'challenge';
  deployment: string;
  reason: string;
  source: BlockSource;
  created_at: number;
  /** null: permanent. */
  expires_at: number | null;
  escalation_level: number;
}

export interface ListBlocksOptions {
  now?: number;
  /** One source; `feed` lists every feed's blocks. */
  source?: BlockSource | 'feed';
  /** An address: blocks equal to it; a CIDR: blocks inside it. Normalised by the caller. */
  ip?: string;
  deployment?: string;
  limit: number;
  offset: number;
}

/** Deterministic ids: adding the same thing twice updates one entry instead of making two. */
export function entityId(prefix: string, ...parts: string[]): string {
  return prefix + createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 12);
}

export function whitelistType(value: string): WhitelistEntry['type'] {
  return value.startsWith('/') ? 'path' : value.includes('/') ? 'cidr' : 'ip';
}

const log = componentLogger('control');

/**
 * How long `decide` waits for the sink to store a published decision. A healthy
 * sink takes milliseconds; a group still joining (a first start on Kafka) seconds.
 */
export const DECISION_STORED_WITHIN_MS = 10_000;

/** The version of a decision's control_blocks row: its time, so a later decision on the same key wins. */
function blockVersion(d: BlockDecision): number {
  return d.created_at * 1000;
}

/** Row of control_blocks for a decision (written by the sink on the decisions topic, its one writer). */
export function controlBlockRow(d: BlockDecision): object {
  return {
    ip_or_cidr: d.ip,
    deployment: d.deployment ?? '',
    reason: d.reason,
    ...sourceColumns(d.source),
    created_at: d.created_at,
    expires_at: d.expires_at,
    escalation_level: d.escalation_level,
    updated_at: d.created_at,
    version: blockVersion(d),
    action: d.action === 'challenge' ? 'challenge' : 'block',
    is_deleted: d.action === 'unblock' ? 1 : 0,
  };
}

/** A decision's source as the blocks tables hold it: an enum, and a feed's name beside it. */
export function sourceColumns(source: BlockSource): { source: string; feed: string } {
  return source.startsWith('feed:') ? { source: 'feed', feed: source.slice(5) } : { source, feed: '' };
}

/** Decisions published per bus call: a feed's 100k entries travel as a few producer batches, not 100k calls. */
export const DECISIONS_PER_PUBLISH = 5_000;

export class ControlStore {
  private lastVersion = 0;

  constructor(
    private readonly ch: ClickHouse,
    private readonly bus: Bus,
    private readonly topics: Topics,
    readonly state: ControlState,
    private readonly opts: { storedWithinMs?: number } = {},
  ) {}

  /** Epoch microseconds, strictly increasing in this process and above anything held. */
  nextVersion(): number {
    const v = Math.max(Date.now() * 1000, this.lastVersion + 1, this.state.version + 1);
    this.lastVersion = v;
    return v;
  }

  /** Reads every control table (FINAL: the latest live row per key) into the state. */
  async load(): Promise<number> {
    const t = (name: string): string => this.ch.table(name);
    const changes: ControlChange[] = [];
    const push = (kind: ControlKind, id: string, version: number | string, doc: unknown, updatedAt: number | string, actor = ''): void => {
      changes.push({ kind, id, version: Number(version), deleted: false, document: JSON.stringify(doc), actor, updated_at: Number(updatedAt) });
    };
    const [wl, routes, deps, filters, settings] = await Promise.all([
      this.ch.query<{ ip_or_cidr: string; deployment: string; note: string; created_by: string; updated_at: string; version: string }>(
        `SELECT ip_or_cidr, deployment, note, created_by, ${epochMs('updated_at')} AS updated_at, version FROM ${t('control_whitelist')} FINAL`,
      ),
      this.ch.query<{ id: string; deployment: string; path: string; method: string; auth_type: string; credential_hash: string; updated_at: string; version: string }>(
        `SELECT id, deployment, path, method, auth_type, credential_hash, ${epochMs('updated_at')} AS updated_at, version FROM ${t('control_routes')} FINAL`,
      ),
      this.ch.query<{ name: string; enabled: boolean; rate_limit: number; allowed_ips: string[]; blocked_paths: string[]; updated_at: string; version: string }>(
        `SELECT name, enabled, rate_limit, allowed_ips, blocked_paths, ${epochMs('updated_at')} AS updated_at, version FROM ${t('control_deployments')} FINAL`,
      ),
      this.ch.query<{ level: string; document: string; updated_at: string; version: string }>(
        `SELECT level, document, ${epochMs('updated_at')} AS updated_at, version FROM ${t('control_filters')} FINAL`,
      ),
      this.ch.query<{ name: string; document: string; updated_by: string; updated_at: string; version: string }>(
        `SELECT name, document, updated_by, ${epochMs('updated_at')} AS updated_at, version FROM ${t('control_settings')} FINAL`,
      ),
    ]);
    for (const r of wl) {
      const entry: WhitelistEntry = {
        id: entityId('wl_', r.ip_or_cidr, r.deployment), type: whitelistType(r.ip_or_cidr), value: r.ip_or_cidr,
        description: r.note, deployment: r.deployment, created_at: Number(r.updated_at), created_by: r.created_by,
      };
      push('whitelist', entry.id, r.version, entry, r.updated_at, r.created_by);
    }
    for (const r of routes) {
      const route = { id: r.id, path: r.path, method: r.method, auth_type: r.auth_type, deployment: r.deployment, credential_hash: r.credential_hash, created_at: Number(r.updated_at), created_by: '' };
      push('route', r.id, r.version, route, r.updated_at);
    }
    for (const r of deps) {
      const d: DeploymentSecurity = { name: r.name, enabled: Boolean(r.enabled), rate_limit: Number(r.rate_limit), allowed_ips: r.allowed_ips, blocked_paths: r.blocked_paths, updated_at: Number(r.updated_at) };
      push('deployment', r.name, r.version, d, r.updated_at);
    }
    for (const r of filters) push('filter', r.level, r.version, { level: r.level, security_filter: JSON.parse(r.document) as unknown, updated_at: Number(r.updated_at) }, r.updated_at);
    for (const r of settings) push('setting', r.name, r.version, JSON.parse(r.document) as unknown, r.updated_at, r.updated_by);
    let applied = 0;
    for (const c of changes) if (this.state.apply(c)) applied++;
    return applied;
  }

  /** Republishes every held entity (idempotent for readers: same versions). */
  async publishAll(actor = 'system'): Promise<number> {
    const all: ControlChange[] = [];
    const add = (kind: ControlKind, map: Map<string, { version: number; value: unknown }>): void => {
      for (const [id, h] of map) all.push({ kind, id, version: h.version, deleted: false, document: JSON.stringify(h.value), actor, updated_at: Math.floor(h.version / 1000) });
    };
    add('whitelist', this.state.whitelist);
    add('route', this.state.routes);
    add('deployment', this.state.deployments);
    add('filter', this.state.filters);
    add('setting', this.state.settings);
    if (all.length > 0) {
      await this.bus.publish(this.topics.control, all.map((c) => ({ key: `${c.kind}:${c.id}`, value: controlChangeCodec.encode(c) })));
    }
    return all.length;
  }

  private async commit(c: ControlChange, row: { table: string; values: object }): Promise<ControlChange> {
    await this.ch.insert(row.table, [row.values]);
    await this.bus.publish(this.topics.control, [{ key: `${c.kind}:${c.id}`, value: controlChangeCodec.encode(c) }]);
    this.state.apply(c);
    return c;
  }

  private change(kind: ControlKind, id: string, doc: unknown, actor: string): ControlChange {
    const version = this.nextVersion();
    return { kind, id, version, deleted: doc === null, document: doc === null ? '' : JSON.stringify(doc), actor, updated_at: Math.floor(version / 1000) };
  }

  async putWhitelist(e: Omit<WhitelistEntry, 'id' | 'created_at'>): Promise<WhitelistEntry> {
    const entry: WhitelistEntry = { ...e, id: entityId('wl_', e.value, e.deployment), created_at: Date.now() };
    const c = this.change('whitelist', entry.id, entry, e.created_by);
    await this.commit(c, {
      table: 'control_whitelist',
      values: { ip_or_cidr: entry.value, deployment: entry.deployment, note: entry.description, created_by: entry.created_by, updated_at: c.updated_at, version: c.version, is_deleted: 0 },
    });
    return entry;
  }

  async deleteWhitelist(entry: WhitelistEntry, actor: string): Promise<void> {
    const c = this.change('whitelist', entry.id, null, actor);
    await this.commit(c, {
      table: 'control_whitelist',
      values: { ip_or_cidr: entry.value, deployment: entry.deployment, note: '', created_by: actor, updated_at: c.updated_at, version: c.version, is_deleted: 1 },
    });
  }

  async putRoute(r: Omit<ProtectedRoute, 'id' | 'created_at'>): Promise<ProtectedRoute> {
    const route: ProtectedRoute = { ...r, id: entityId('rt_', r.path, r.method, r.deployment), created_at: Date.now() };
    const c = this.change('route', route.id, route, r.created_by);
    await this.commit(c, { table: 'control_routes', values: { ...routeRow(route), updated_at: c.updated_at, version: c.version, is_deleted: 0 } });
    return route;
  }

  async deleteRoute(route: ProtectedRoute, actor: string): Promise<void> {
    const c = this.change('route', route.id, null, actor);
    await this.commit(c, { table: 'control_routes', values: { ...routeRow(route), credential_hash: '', updated_at: c.updated_at, version: c.version, is_deleted: 1 } });
  }

  async putDeployment(d: Omit<DeploymentSecurity, 'updated_at'>, actor: string): Promise<DeploymentSecurity> {
    const dep: DeploymentSecurity = { ...d, updated_at: Date.now() };
    const c = this.change('deployment', d.name, dep, actor);
    await this.commit(c, {
      table: 'control_deployments',
      values: { name: d.name, enabled: d.enabled, rate_limit: d.rate_limit, allowed_ips: d.allowed_ips, blocked_paths: d.blocked_paths, updated_at: c.updated_at, version: c.version, is_deleted: 0 },
    });
    return dep;
  }

  async deleteDeployment(name: string, actor: string): Promise<void> {
    const c = this.change('deployment', name, null, actor);
    await this.commit(c, {
      table: 'control_deployments',
      values: { name, enabled: false, rate_limit: 0, allowed_ips: [], blocked_paths: [], updated_at: c.updated_at, version: c.version, is_deleted: 1 },
    });
  }

  async putFilter(level: string, filter: FilterLevel['security_filter'] | null, actor: string): Promise<void> {
    const doc: FilterLevel | null = filter === null ? null : { level, security_filter: filter, updated_at: Date.now() };
    const c = this.change('filter', level, doc, actor);
    await this.commit(c, {
      table: 'control_filters',
      values: { level, document: filter === null ? '' : JSON.stringify(filter), updated_at: c.updated_at, version: c.version, is_deleted: filter === null ? 1 : 0 },
    });
  }

  async putSetting<K extends keyof Settings>(name: K, value: Settings[K], actor: string): Promise<void> {
    const c = this.change('setting', name, value, actor);
    await this.commit(c, { table: 'control_settings', values: { name, document: c.document, updated_by: actor, updated_at: c.updated_at, version: c.version, is_deleted: 0 } });
  }

  /**
   * Asks every enforcer following the control topic for a full re-push. A
   * command, not state: published, not stored (a restarted enforcer pushes the
   * full state anyway).
   */
  async requestRefresh(actor: string): Promise<void> {
    const c = this.change('setting', 'refresh', { requested_at: Date.now() }, actor);
    await this.bus.publish(this.topics.control, [{ key: `${c.kind}:${c.id}`, value: controlChangeCodec.encode(c) }]);
    this.state.apply(c);
  }

  /**
   * Publishes a decision on the decisions topic (the enforcers and the sinks
   * read it there), then waits until control_blocks holds it (or a later one
   * on its key), so the caller's next read lists it.
   *
   * Storage that does not answer refuses the decision before it is published,
   * as the insert of any other change does. Once published the decision is in
   * force and will be stored: a sink slow or away past the wait does not make
   * it fail (the caller must not be told "failed" of a change that happens);
   * it is logged instead.
   */
  async decide(d: BlockDecision): Promise<BlockDecision> {
    const ms = this.opts.storedWithinMs ?? DECISION_STORED_WITHIN_MS;
    const deadline = Date.now() + ms;
    await withDeadline(this.storedVersion(d), ms, 'control_blocks');
    await this.bus.publish(this.topics.decisions, [{ key: d.ip, value: blockDecisionCodec.encode(d) }]);
    const stored = async (): Promise<boolean> =>
      (await withDeadline(this.storedVersion(d), Math.max(50, deadline - Date.now()), 'control_blocks').catch(() => 0)) >= blockVersion(d);
    for (let pause = 5; !(await stored()); pause = Math.min(pause * 2, 100)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        log.warn({ ip: d.ip, action: d.action, waited_ms: ms }, 'decision published but not stored in control_blocks in time (is a sink running?); it is listed once stored');
        break;
      }
      await sleep(Math.min(pause, left));
    }
    return d;
  }

  /**
   * Publishes many decisions at once (a feed's difference), DECISIONS_PER_PUBLISH
   * a bus call, each encoded in one allocation. Unlike `decide` it does not wait
   * for the sink: the caller holds what it published (a feed keeps its set).
   */
  async publishDecisions(ds: readonly BlockDecision[]): Promise<void> {
    for (let i = 0; i < ds.length; i += DECISIONS_PER_PUBLISH) {
      const chunk = ds.slice(i, i + DECISIONS_PER_PUBLISH);
      const values = blockDecisionCodec.encodeBatch(chunk);
      await this.bus.publish(this.topics.decisions, chunk.map((d, j) => ({ key: d.ip, value: values[j] as Buffer })));
    }
  }

  /** A feed's blocks in force (control_blocks), by key: what it applied before this process started. */
  async feedBlocks(feed: string, now = Date.now()): Promise<Map<string, { deployment: string; expires_at: number | null }>> {
    const rows = await this.ch.query<{ ip_or_cidr: string; deployment: string; expires_at: string | null }>(
      `SELECT ip_or_cidr, deployment, if(expires_at IS NULL, NULL, ${epochMs('assumeNotNull(expires_at)')}) AS expires_at
       FROM ${this.ch.table('control_blocks')} FINAL
       WHERE source = 'feed' AND feed = {feed:String} AND (expires_at IS NULL OR expires_at > fromUnixTimestamp64Milli({now:Int64}, 'UTC'))`,
      { feed, now },
    );
    return new Map(rows.map((r) => [r.ip_or_cidr, { deployment: r.deployment, expires_at: r.expires_at === null ? null : Number(r.expires_at) }]));
  }

  /** The version control_blocks holds for a decision's key (0: none); unmerged rows count, so an insert shows at once. */
  private async storedVersion(d: BlockDecision): Promise<number> {
    const [row] = await this.ch.query<{ v: string }>(
      `SELECT toString(max(version)) AS v FROM ${this.ch.table('control_blocks')} WHERE ip_or_cidr = {ip:String} AND deployment = {deployment:String}`,
      { ip: d.ip, deployment: d.deployment ?? '' },
    );
    return Number(row?.v ?? 0);
  }

  async listBlocks(o: ListBlocksOptions): Promise<{ blocks: ActiveBlock[]; total: number }> {
    const where = ['(expires_at IS NULL OR expires_at > fromUnixTimestamp64Milli({now:Int64}, \'UTC\'))'];
    const params: Record<string, unknown> = { now: o.now ?? Date.now(), limit: o.limit, offset: o.offset };
    if (o.source === 'feed') where.push(`source = 'feed'`);
    else if (o.source) {
      const cols = sourceColumns(o.source);
      where.push('source = {source:String} AND feed = {feed:String}');
      params.source = cols.source;
      params.feed = cols.feed;
    }
    if (o.deployment !== undefined) {
      where.push('deployment = {deployment:String}');
      params.deployment = o.deployment;
    }
    if (o.ip !== undefined) {
      if (o.ip.includes('/')) {
        // Blocks whose address (or network address) lies in the range.
        where.push(`isIPAddressInRange(splitByChar('/', ip_or_cidr)[1], {ip:String})`);
      } else where.push('ip_or_cidr = {ip:String}');
      params.ip = o.ip;
    }
    const t = this.ch.table('control_blocks');
    const cond = where.join(' AND ');
    const [rows, count] = await Promise.all([
      this.ch.query<{ ip_or_cidr: string; action: 'block' | 'challenge'; deployment: string; reason: string; source_text: BlockSource; created_at: string; expires_at: string | null; escalation_level: number }>(
        `SELECT ip_or_cidr, toString(action) AS action, deployment, reason, if(source = 'feed', concat('feed:', feed), toString(source)) AS source_text, ${epochMs('created_at')} AS created_at,
                if(expires_at IS NULL, NULL, ${epochMs('assumeNotNull(expires_at)')}) AS expires_at, escalation_level
         FROM ${t} FINAL WHERE ${cond}
         ORDER BY created_at DESC, ip_or_cidr LIMIT {limit:UInt32} OFFSET {offset:UInt32}`,
        params,
      ),
      this.ch.query<{ n: string }>(`SELECT count() AS n FROM ${t} FINAL WHERE ${cond}`, params),
    ]);
    return {
      blocks: rows.map((r) => ({
        ip: r.ip_or_cidr, action: r.action, deployment: r.deployment, reason: r.reason, source: r.source_text, created_at: Number(r.created_at),
        expires_at: r.expires_at === null ? null : Number(r.expires_at), escalation_level: Number(r.escalation_level),
      })),
      total: Number(count[0]?.n ?? 0),
    };
  }

  /** Every block in force: what an enforcer starting without a durable decisions topic (embedded mode) must load. */
  async activeDecisions(now = Date.now()): Promise<BlockDecision[]> {
    const out: BlockDecision[] = [];
    for (let offset = 0; ; offset += 10_000) {
      const page = await this.listBlocks({ now, limit: 10_000, offset });
      for (const b of page.blocks) {
        out.push({ ip: b.ip, action: b.action, reason: b.reason, source: b.source, created_at: b.created_at, expires_at: b.expires_at, deployment: b.deployment === '' ? null : b.deployment, escalation_level: b.escalation_level });
      }
      if (page.blocks.length < 10_000) return out;
    }
  }
}

function routeRow(r: ProtectedRoute): object {
  return { id: r.id, deployment: r.deployment, path: r.path, method: r.method, auth_type: r.auth_type, credential_hash: r.credential_hash };
}
