// The rule set an OpenResty node holds: everything its access check needs
// besides blocks. The enforcer builds it from the control plane (whitelist,
// deployment policies, protected routes, security_filter) and replaces it on
// every node as a whole with `PUT /rules` on the control endpoint; a node
// applies it atomically (a request sees the old set or the new one, never a
// mix) and reports `rules_version` in `GET /status`. A node whose version
// differs from the enforcer's gets the set again at the next reconcile.
//
// Credentials never appear here: a protected route carries a salted hash
// (shared/credential-hash.ts), which the Lua module checks a request's
// credentials against.
import type { RuleSet } from '../security-filter/index.js';

export interface NodeDeploymentPolicy {
  /** false: this deployment's policy is not applied (requests pass on to routes and filters). */
  enabled: boolean;
  /** Requests per second per client IP within this deployment; 0 = no limit. Over it: 429 with Retry-After. */
  rate_limit: number;
  /** When non-empty, only these addresses/CIDRs may reach the deployment (others: 403). */
  allowed_ips: string[];
  /** Paths refused with 403: a prefix on segment boundaries, or a whole-path wildcard with `*` (as a route's `path`). */
  blocked_paths: string[];
}

export interface NodeProtectedRoute {
  /** Stable id (the API's), for logs ($logwarden_blocked_by = "route:<id>"). */
  id: string;
  /**
   * A path prefix on segment boundaries ("/admin" covers /admin and /admin/x,
   * not /administrator), or a whole-path wildcard with `*` ("/admin/*"). When
   * several routes cover a request, the most specific decides alone: a
   * deployment's own routes before those for all, then more literal
   * characters, a prefix before a wildcard, a method before "ALL".
   */
  path: string;
  /** An HTTP method in upper case, or "ALL". */
  method: string;
  auth_type: 'basic' | 'bearer';
  /** '' = every deployment. A route answers 401 with `WWW-Authenticate: Basic|Bearer realm="<id>"`. */
  deployment: string;
  /** shared/credential-hash.ts format; basic: of "user:password", bearer: of the token (no `Bearer ` prefix). */
  credential_hash: string;
}

export interface NodeRules {
  /**
   * Strictly increasing, 1 to 99999999999999 (the node's JSON prints 14
   * digits; Date.now() fits); the node reports the version it holds, 0 when
   * it holds none (fresh start).
   */
  version: number;
  /**
   * Beats everything else (blocks, policies, routes, filters): a match ends the
   * check. `ips`: addresses or CIDR blocks. `paths`: "/exact" (the whole path)
   * or "/prefix*" (a prefix; one trailing star only).
   */
  whitelist: { ips: string[]; paths: string[] };
  /** Each deployment's own whitelist ($logwarden_deployment), checked after the node-wide one. */
  deployment_whitelist: Record<string, { ips: string[]; paths: string[] }>;
  deployments: Record<string, NodeDeploymentPolicy>;
  routes: NodeProtectedRoute[];
  /** A security_filter rule set (schemas/security-filter/), or null for none. Its own `version` is ignored by nodes. */
  security_filter: RuleSet | null;
  /**
   * The address ranges of the countries and autonomous systems that
   * security_filter's geo criteria name (shared/geo/node-ranges.ts), so that
   * nodes match them without a geoip2 module; absent when no rule names one.
   */
  geo?: NodeGeoRanges;
}

/**
 * Per country code and per AS number (as a decimal string): the ranges,
 * packed (shared/geo/packed-ranges.ts; lua/logwarden/geo.lua also takes a
 * plain list of addresses, CIDR blocks and IPv4 ranges "a.b.c.d-e.f.g.h").
 */
export interface NodeGeoRanges {
  countries: Record<string, { v4: string; v6: string }>;
  asns: Record<string, { v4: string; v6: string }>;
}

export function emptyNodeRules(version = 0): NodeRules {
  return { version, whitelist: { ips: [], paths: [] }, deployment_whitelist: {}, deployments: {}, routes: [], security_filter: null };
}
