// Validation of rule-set documents: every problem named with the path of its
// field, at most LIMITS.errors of them. The Lua module
// (lua/logwarden/filter_validate.lua) makes the same checks and must accept
// and refuse exactly the same documents: lua/test/rule-set-validation.test.ts runs both
// on every vector of schemas/security-filter/.
import { formatBlock, maskWords, parseBlock } from '../ip.js';
import { asciiLower } from './ascii.js';
import { BLOCK_STATUS, COUNTRY_CODES, ON_FILTERED, HOST_PATTERN, IP_ENTRY_PATTERN, LIMITS, PATH_PATTERN, RULE_ID_PATTERN, USER_AGENT_PATTERN } from './limits.js';
import type { RuleSet, ValidationError, ValidationResult } from './types.js';

const IP_ENTRY_RE = new RegExp(IP_ENTRY_PATTERN);
const HOST_RE = new RegExp(HOST_PATTERN);
const RULE_ID_RE = new RegExp(RULE_ID_PATTERN);
const PATH_RE = new RegExp(PATH_PATTERN, 'u');
const USER_AGENT_RE = new RegExp(USER_AGENT_PATTERN, 'u');

const ROOT_KEYS = ['version', 'property', 'domains', 'paths'];
const FILTER_KEYS = ['enabled', 'filter_rules', 'response_handling'];
const RULE_KEYS = ['id', 'match', 'except', 'response_handling'];
const CRITERIA_KEYS = ['user_agents', 'geo', 'ips'];
const HANDLING_KEYS = ['on_filtered', 'block_http_status'];
const PATH_KEYS = ['host', 'path', 'security_filter'];

type Obj = Record<string, unknown>;

function isObject(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const at = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
const item = (path: string, i: number): string => `${path}[${i}]`;
const entry = (path: string, key: string): string => `${path}[${JSON.stringify(key)}]`;

class Checker {
  readonly errors: ValidationError[] = [];
  private full = false;

  add(path: string, message: string): void {
    if (this.full) return;
    if (this.errors.length === LIMITS.errors) {
      this.errors.push({ path: '', message: `more than ${LIMITS.errors} errors; the rest are not listed` });
      this.full = true;
      return;
    }
    this.errors.push({ path, message });
  }

  object(x: unknown, path: string, allowed: readonly string[]): x is Obj {
    if (!isObject(x)) {
      this.add(path, 'must be an object');
      return false;
    }
    for (const k of Object.keys(x)) if (!allowed.includes(k)) this.add(at(path, k), `unknown key (allowed: ${allowed.join(', ')})`);
    return true;
  }

  array(x: unknown, path: string, min: number, max: number): x is unknown[] {
    if (!Array.isArray(x)) {
      this.add(path, 'must be an array');
      return false;
    }
    if (x.length < min) this.add(path, min === 1 ? 'must not be empty' : `must have at least ${min} items`);
    if (x.length > max) this.add(path, `must have at most ${max} items`);
    return true;
  }

  handling(x: unknown, path: string): void {
    if (!this.object(x, path, HANDLING_KEYS)) return;
    if (x.on_filtered !== undefined && (typeof x.on_filtered !== 'string' || !ON_FILTERED.includes(x.on_filtered))) {
      this.add(at(path, 'on_filtered'), `must be one of ${ON_FILTERED.map((a) => `"${a}"`).join(', ')}`);
    }
    const s = x.block_http_status;
    if (s !== undefined && (typeof s !== 'number' || !Number.isInteger(s) || s < BLOCK_STATUS.min || s > BLOCK_STATUS.max)) {
      this.add(at(path, 'block_http_status'), `must be an integer HTTP status from ${BLOCK_STATUS.min} to ${BLOCK_STATUS.max}`);
    }
  }

  criteria(x: unknown, path: string): void {
    if (!this.object(x, path, CRITERIA_KEYS)) return;
    if (!CRITERIA_KEYS.some((k) => x[k] !== undefined)) {
      this.add(path, 'must give at least one of user_agents, geo, ips');
      return;
    }
    if (x.user_agents !== undefined) {
      const p = at(path, 'user_agents');
      if (this.array(x.user_agents, p, 1, LIMITS.userAgents)) {
        x.user_agents.forEach((ua, i) => {
          if (typeof ua !== 'string' || !USER_AGENT_RE.test(ua)) {
            this.add(item(p, i), `must be a non-empty string of at most ${LIMITS.patternLength} characters without control characters`);
          }
        });
      }
    }
    if (x.geo !== undefined) {
      const p = at(path, 'geo');
      if (this.array(x.geo, p, 1, LIMITS.geo)) {
        x.geo.forEach((g, i) => {
          const gp = item(p, i);
          if (!this.object(g, gp, ['COUNTRY_CODE', 'ASN'])) return;
          const cc = g.COUNTRY_CODE;
          const asn = g.ASN;
          const cp = at(gp, 'COUNTRY_CODE');
          if (cc === undefined && asn === undefined) this.add(cp, 'is required (or ASN)');
          else if (cc !== undefined && asn !== undefined) this.add(gp, 'one geo variable per entry: COUNTRY_CODE or ASN');
          else if (asn !== undefined) {
            if (!Number.isInteger(asn) || (asn as number) < 1 || (asn as number) > ASN_MAX) this.add(at(gp, 'ASN'), `must be an autonomous system number, an integer 1 to ${ASN_MAX}`);
          } else if (typeof cc !== 'string') this.add(cp, 'must be a string');
          else if (!COUNTRY_CODES.has(cc)) this.add(cp, countryProblem(cc));
        });
      }
    }
    if (x.ips !== undefined) {
      const p = at(path, 'ips');
      if (this.array(x.ips, p, 1, LIMITS.ips)) {
        x.ips.forEach((ip, i) => {
          const problem = typeof ip === 'string' ? ipEntryProblem(ip) : 'must be a string';
          if (problem !== null) this.add(item(p, i), problem);
        });
      }
    }
  }

  rule(x: unknown, path: string): void {
    if (!this.object(x, path, RULE_KEYS)) return;
    if (x.id === undefined) this.add(at(path, 'id'), 'is required');
    else if (typeof x.id !== 'string' || !RULE_ID_RE.test(x.id)) {
      this.add(at(path, 'id'), `must be 1 to ${LIMITS.idLength} characters of A-Z a-z 0-9 _ . : -`);
    }
    if (x.match === undefined) this.add(at(path, 'match'), 'is required');
    else this.criteria(x.match, at(path, 'match'));
    if (x.except !== undefined) this.criteria(x.except, at(path, 'except'));
    if (x.response_handling !== undefined) this.handling(x.response_handling, at(path, 'response_handling'));
  }

  filter(x: unknown, path: string): void {
    if (!this.object(x, path, FILTER_KEYS)) return;
    if (x.enabled !== undefined && typeof x.enabled !== 'boolean') this.add(at(path, 'enabled'), 'must be true or false');
    if (x.response_handling !== undefined) this.handling(x.response_handling, at(path, 'response_handling'));
    if (x.filter_rules === undefined) return;
    const p = at(path, 'filter_rules');
    if (!this.array(x.filter_rules, p, 0, LIMITS.rulesPerFilter)) return;
    const patterns = x.filter_rules.reduce<number>((n, r) => {
      if (!isObject(r)) return n;
      const count = (c: unknown): number => (isObject(c) && Array.isArray(c.user_agents) ? c.user_agents.length : 0);
      return n + count(r.match) + count(r.except);
    }, 0);
    if (patterns > LIMITS.userAgentsPerFilter) this.add(p, `at most ${LIMITS.userAgentsPerFilter} user_agents patterns in one security_filter (${patterns} here)`);
    const seen = new Map<string, number>();
    x.filter_rules.forEach((r, i) => {
      this.rule(r, item(p, i));
      if (isObject(r) && typeof r.id === 'string') {
        const first = seen.get(r.id);
        if (first !== undefined) this.add(at(item(p, i), 'id'), `duplicate rule id ${JSON.stringify(r.id)} (also ${item('filter_rules', first)})`);
        else seen.set(r.id, i);
      }
    });
  }

  host(h: string, path: string): void {
    if (h.length > LIMITS.hostLength || !HOST_RE.test(h)) {
      this.add(path, h !== asciiLower(h) ? 'host names are lower-case here' : 'must be a host name, an IPv4 literal or a bracketed IPv6 literal, without a port');
    }
  }

  root(doc: unknown): void {
    if (!this.object(doc, '', ROOT_KEYS)) return;
    const v = doc.version;
    if (v === undefined) this.add('version', 'is required');
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > LIMITS.versionMax) this.add('version', 'must be a non-negative integer');
    if (doc.property !== undefined) this.filter(doc.property, 'property');
    if (doc.domains !== undefined && !isObject(doc.domains)) this.add('domains', 'must be an object');
    else if (doc.domains !== undefined) {
      const hosts = Object.keys(doc.domains);
      if (hosts.length > LIMITS.domains) this.add('domains', `must have at most ${LIMITS.domains} hosts`);
      for (const h of hosts) {
        this.host(h, entry('domains', h));
        this.filter(doc.domains[h], entry('domains', h));
      }
    }
    if (doc.paths !== undefined && this.array(doc.paths, 'paths', 0, LIMITS.paths)) {
      const seen = new Map<string, number>();
      doc.paths.forEach((pf, i) => {
        const p = item('paths', i);
        if (!this.object(pf, p, PATH_KEYS)) return;
        if (pf.host !== undefined) {
          if (typeof pf.host === 'string') this.host(pf.host, at(p, 'host'));
          else this.add(at(p, 'host'), 'must be a string');
        }
        if (pf.path === undefined) this.add(at(p, 'path'), 'is required');
        else if (typeof pf.path !== 'string' || !PATH_RE.test(pf.path)) {
          this.add(at(p, 'path'), `must start with "/", at most ${LIMITS.pathLength} characters, without "?", "#", whitespace or control characters`);
        } else {
          const key = `${typeof pf.host === 'string' ? pf.host : ''} ${pf.path}`;
          const first = seen.get(key);
          if (first !== undefined) this.add(at(p, 'path'), `duplicate path entry (same host and path as ${item('paths', first)})`);
          else seen.set(key, i);
        }
        if (pf.security_filter === undefined) this.add(at(p, 'security_filter'), 'is required');
        else this.filter(pf.security_filter, at(p, 'security_filter'));
      });
    }
  }
}

/** The largest autonomous system number (32-bit, RFC 6793). */
export const ASN_MAX = 4294967295;

function countryProblem(cc: string): string {
  if (cc === 'UK') return 'not an ISO 3166-1 alpha-2 code: the United Kingdom is "GB"';
  const upper = cc.toUpperCase();
  if (upper !== cc && COUNTRY_CODES.has(upper)) return `country codes are upper-case: "${upper}"`;
  return 'not an ISO 3166-1 alpha-2 country code';
}

function ipEntryProblem(s: string): string | null {
  const b = IP_ENTRY_RE.test(s) ? parseBlock(s) : null;
  if (b === null) return 'not an IPv4 or IPv6 address or CIDR block (decimal dotted quad without leading zeros; no zone id; prefix 0-32 or 0-128)';
  const masked = maskWords(b.words, b.prefix, b.v4);
  if (masked.some((w, i) => w !== b.words[i])) return `host bits set: the block is ${formatBlock({ ...b, words: masked })}`;
  return null;
}

/**
 * Checks a rule-set document: types, unknown keys, addresses and blocks,
 * country codes, statuses, empty criteria, duplicate rule ids within one
 * filter, duplicate path entries. The rule set returned is a copy of the
 * document (defaults are applied when it is compiled, not written into it).
 */
export function validateRuleSet(doc: unknown): ValidationResult {
  const c = new Checker();
  c.root(doc);
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  return { ok: true, ruleSet: structuredClone(doc) as RuleSet };
}
