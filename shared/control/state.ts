// The control plane's state, as a fold of ControlChange records: the compacted
// control topic holds the latest version of every entity, so any service that
// reads it from the beginning holds the same state (the API, the enforcer, the
// sinks). A change older than what is held is ignored, so replays, duplicates
// and the republish at start are harmless.
//
// ClickHouse's control_* tables hold the same rows for restarts and SOC queries
// (shared/control/store.ts writes both); this module knows nothing of storage.
//
// security_filter has two sources, composed here into the one rule set that
// nodes enforce and detectors evaluate: the config file's levels (given at
// construction, fixed for the process) and the levels set through the API. A
// level is one scope (property, one domain, one path); a level set through the
// API replaces the config's level of the same scope whole, and removing it
// through the API brings the config's back. Levels never merge (the model's
// rule: the most specific level that exists applies alone).
import { EventEmitter } from 'node:events';
import type { ControlChange, ControlKind } from '../records.js';
import type { FeedSpec } from '../config/feeds.js';
import type { RuleSet, SecurityFilter } from '../security-filter/index.js';
import { emptyNodeRules, type NodeRules } from './node-rules.js';
import { composeWhitelist, type WhitelistSet } from './whitelist.js';

export type WhitelistType = 'ip' | 'cidr' | 'path';

export interface WhitelistEntry {
  id: string;
  type: WhitelistType;
  /** Normalised address or CIDR block, or a path (prefix, or wildcard with `*`). */
  value: string;
  description: string;
  /** '' = every deployment. */
  deployment: string;
  created_at: number;
  created_by: string;
}

export const ROUTE_METHODS = ['ALL', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];
export const AUTH_TYPES = ['basic', 'bearer'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];

export interface ProtectedRoute {
  id: string;
  path: string;
  method: RouteMethod;
  auth_type: AuthType;
  /** '' = every deployment. */
  deployment: string;
  /** shared/credential-hash.ts format; the credential itself is never kept. */
  credential_hash: string;
  created_at: number;
  created_by: string;
}

export interface DeploymentSecurity {
  name: string;
  enabled: boolean;
  /** Requests per second per client IP; 0 = no limit. */
  rate_limit: number;
  allowed_ips: string[];
  blocked_paths: string[];
  updated_at: number;
}

/**
 * A security_filter level: "property" (every host), "domain:<host>", or
 * "path:<host>:<path>" (host "*" = every host). The document is the level's
 * SecurityFilter block.
 */
export interface FilterLevel {
  level: string;
  security_filter: SecurityFilter;
  updated_at: number;
}

/** Run-time settings the API may change; absent keys follow the config file. */
export interface Settings {
  realtime_capture?: boolean;
  /** A full re-push request (POST /refresh); enforcers act on its change event. */
  refresh?: { requested_at: number };
  /** Overrides of config.security keys (the API validates them). */
  security?: Record<string, number | boolean>;
  /** Blocklist feeds added through the API, by name (beside the config file's `feeds:`). */
  feeds?: Record<string, FeedSpec & { created_by: string; created_at: number }>;
}

type Entity = WhitelistEntry | ProtectedRoute | DeploymentSecurity | FilterLevel | Settings[keyof Settings];

interface Held<T> {
  version: number;
  value: T;
}

export type ControlEvent = { kind: ControlKind; id: string; deleted: boolean };

/** Holds the latest version of every entity; emits 'change' (ControlEvent) after each applied change. */
export class ControlState extends EventEmitter<{ change: [ControlEvent] }> {
  readonly whitelist = new Map<string, Held<WhitelistEntry>>();
  readonly routes = new Map<string, Held<ProtectedRoute>>();
  readonly deployments = new Map<string, Held<DeploymentSecurity>>();
  readonly filters = new Map<string, Held<FilterLevel>>();
  readonly settings = new Map<string, Held<unknown>>();
  /** Tombstones: the version at which an id was deleted, so an older upsert arriving late stays deleted. */
  private readonly deletedAt = new Map<string, number>();
  /** The highest version applied: the rule-set version nodes are given. */
  version = 0;
  /** The config file's security_filter levels by level id ("property", "domain:<host>", "path:<host>:<path>"). */
  private readonly configFilters = new Map<string, SecurityFilter>();

  /** `configFilter`: the config file's security_filter levels (shared/config/security-filter.ts), validated. */
  constructor(configFilter: RuleSet | null = null) {
    super();
    if (!configFilter) return;
    if (configFilter.property) this.configFilters.set(filterLevelId({ kind: 'property' }), configFilter.property);
    for (const [host, f] of Object.entries(configFilter.domains ?? {})) this.configFilters.set(filterLevelId({ kind: 'domain', host: host.toLowerCase() }), f);
    for (const p of configFilter.paths ?? []) this.configFilters.set(filterLevelId({ kind: 'path', host: p.host?.toLowerCase() ?? '*', path: p.path }), p.security_filter);
  }

  private mapOf(kind: ControlKind): Map<string, Held<unknown>> | undefined {
    switch (kind) {
      case 'whitelist':
        return this.whitelist;
      case 'route':
        return this.routes;
      case 'deployment':
        return this.deployments;
      case 'filter':
        return this.filters;
      case 'setting':
        return this.settings;
      default:
        return undefined;
    }
  }

  /** The version held for an entity (live or deleted), 0 when never seen. */
  versionOf(kind: ControlKind, id: string): number {
    return this.mapOf(kind)?.get(id)?.version ?? this.deletedAt.get(`${kind}:${id}`) ?? 0;
  }

  /** Applies one change; false when it is not newer than what is held (or of an unknown kind). */
  apply(c: ControlChange): boolean {
    const map = this.mapOf(c.kind);
    if (!map) return false;
    if (c.version <= this.versionOf(c.kind, c.id)) return false;
    if (c.deleted) {
      map.delete(c.id);
      this.deletedAt.set(`${c.kind}:${c.id}`, c.version);
    } else {
      let value: unknown;
      try {
        value = JSON.parse(c.document) as Entity;
      } catch {
        return false;
      }
      map.set(c.id, { version: c.version, value });
      this.deletedAt.delete(`${c.kind}:${c.id}`);
    }
    if (c.version > this.version) this.version = c.version;
    this.emit('change', { kind: c.kind, id: c.id, deleted: c.deleted });
    return true;
  }

  setting<T>(name: keyof Settings): T | undefined {
    return this.settings.get(name)?.value as T | undefined;
  }

  /** The config file's security_filter level at `level`, if it sets one. */
  configFilter(level: string): SecurityFilter | undefined {
    return this.configFilters.get(level);
  }

  /** Every security_filter level in force, by level id: the config's, each replaced by the API's of the same scope. */
  filterLevels(): Array<{ level: string; security_filter: SecurityFilter; source: 'config' | 'api'; updated_at?: number }> {
    const out = new Map<string, { level: string; security_filter: SecurityFilter; source: 'config' | 'api'; updated_at?: number }>();
    for (const [level, f] of this.configFilters) out.set(level, { level, security_filter: f, source: 'config' });
    for (const { value: f } of this.filters.values()) out.set(f.level, { level: f.level, security_filter: f.security_filter, source: 'api', updated_at: f.updated_at });
    return [...out.values()].sort((a, b) => (a.level < b.level ? -1 : a.level > b.level ? 1 : 0));
  }

  /** The security_filter levels composed into one rule set (see the header), or null when there is none. */
  ruleSet(version = this.version): RuleSet | null {
    const levels = this.filterLevels();
    if (levels.length === 0) return null;
    const rs: RuleSet = { version };
    for (const f of levels) {
      const where = parseFilterLevel(f.level);
      if (!where) continue;
      if (where.kind === 'property') rs.property = f.security_filter;
      else if (where.kind === 'domain') (rs.domains ??= {})[where.host] = f.security_filter;
      else (rs.paths ??= []).push({ ...(where.host === '*' ? {} : { host: where.host }), path: where.path, security_filter: f.security_filter });
    }
    return rs;
  }

  /** What every node must hold besides blocks; `configWhitelist`: the config file's `detection.whitelist`. */
  nodeRules(configWhitelist: Readonly<WhitelistSet> = { ips: [], cidrs: [], paths: [] }): NodeRules {
    const rules = emptyNodeRules(this.version);
    const wl = composeWhitelist(configWhitelist, this);
    rules.whitelist = { ips: [...wl.global.ips, ...wl.global.cidrs].sort(), paths: wl.global.paths };
    for (const [dep, set] of Object.entries(wl.deployments)) rules.deployment_whitelist[dep] = { ips: [...set.ips, ...set.cidrs].sort(), paths: set.paths };
    for (const { value: d } of this.deployments.values()) {
      rules.deployments[d.name] = { enabled: d.enabled, rate_limit: d.rate_limit, allowed_ips: d.allowed_ips, blocked_paths: d.blocked_paths };
    }
    rules.routes = [...this.routes.values()]
      .map(({ value: r }) => ({ id: r.id, path: r.path, method: r.method, auth_type: r.auth_type, deployment: r.deployment, credential_hash: r.credential_hash }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    rules.security_filter = this.ruleSet();
    return rules;
  }
}

export type FilterLevelWhere = { kind: 'property' } | { kind: 'domain'; host: string } | { kind: 'path'; host: string; path: string };

export function filterLevelId(where: FilterLevelWhere): string {
  if (where.kind === 'property') return 'property';
  if (where.kind === 'domain') return `domain:${where.host}`;
  return `path:${where.host}:${where.path}`;
}

export function parseFilterLevel(level: string): FilterLevelWhere | undefined {
  if (level === 'property') return { kind: 'property' };
  if (level.startsWith('domain:')) return { kind: 'domain', host: level.slice(7) };
  if (level.startsWith('path:')) {
    const rest = level.slice(5);
    const i = rest.indexOf(':');
    if (i <= 0) return undefined;
    return { kind: 'path', host: rest.slice(0, i), path: rest.slice(i + 1) };
  }
  return undefined;
}
