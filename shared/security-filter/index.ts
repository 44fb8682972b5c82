// CDN-style `security_filter` rules (user agent, country, client address,
// each with exceptions; WARN or BLOCK with a status), evaluated on the stream
// for nodes that run without the Lua module. The semantics are written down in
// schemas/security-filter/README.md and pinned by schemas/security-filter/vectors.json,
// which the Lua engine runs too: change one side only together with the vectors.
//
// A rule set is validated and compiled once; `evaluate` then runs per request
// without allocating unless a rule matches. It is synchronous and keeps
// per-call scratch state on the instance, so one instance serves one thread
// (a worker owns its own).
import ipaddr from 'ipaddr.js';
import type { AccessRecord } from '../records.js';

// ---------------------------------------------------------------------------
// The document

export type OnFiltered = 'WARN' | 'BLOCK';

export interface ResponseHandling {
  on_filtered?: OnFiltered;
  block_http_status?: number;
}

export interface GeoCriterion {
  COUNTRY_CODE: string;
}

/** The kinds present are ANDed; the values within one kind are ORed. */
export interface Criteria {
  user_agents?: string[];
  geo?: GeoCriterion[];
  ips?: string[];
}

export interface FilterRule {
  id: string;
  match: Criteria;
  except?: Criteria;
  response_handling?: ResponseHandling;
}

export interface SecurityFilter {
  /** Default false: a level that has a security_filter without `enabled: true` switches filtering off for its scope. */
  enabled?: boolean;
  filter_rules?: FilterRule[];
  response_handling?: ResponseHandling;
}

export interface PathFilter {
  /** Without a host the entry applies to every host. */
  host?: string;
  /** A path prefix on segment boundaries ("/admin"), or a whole-path wildcard with `*` ("/api/*‍/internal"). */
  path: string;
  security_filter: SecurityFilter;
}

export interface RuleSet {
  version: number;
  property?: SecurityFilter;
  domains?: Record<string, SecurityFilter>;
  paths?: PathFilter[];
}

export interface SecurityFilterRequest {
  host: string;
  path: string;
  user_agent: string;
  /** ISO 3166-1 alpha-2; null when unknown. */
  country: string | null;
  ip: string;
}

export type FilterAction = 'none' | 'warn' | 'block';

export interface FilterOutcome {
  action: FilterAction;
  /** The HTTP status to answer with, for `block` only. */
  status?: number;
  /** The rule that decided: the lowest id among the matching rules of the winning action. */
  rule_id?: string;
  /** Every matching rule id of the applied level, ascending. */
  matched: readonly string[];
}

export interface ValidationError {
  /** Where, in the document: `domains["shop.example"].filter_rules[2].match.ips[0]`; "" for the document itself. */
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; ruleSet: RuleSet } | { ok: false; errors: ValidationError[] };

// ---------------------------------------------------------------------------
// Limits and syntax. The JSON Schema (schemas/security-filter/rule-set.schema.json)
// carries the same numbers and patterns; the test holds them equal.

export const LIMITS = {
  domains: 10_000,
  paths: 10_000,
  rulesPerFilter: 1_000,
  userAgents: 1_000,
  /** User-agent patterns in one security_filter (all rules, match and except): bounds the compiled matchers. */
  userAgentsPerFilter: 10_000,
  geo: 300,
  ips: 100_000,
  idLength: 128,
  patternLength: 1_024,
  pathLength: 1_024,
  hostLength: 253,
  errors: 100,
} as const;

const DEFAULT_STATUS = 403;

function ipv6Source(hex: string): string {
  // RFC 3986 IPv6address, generated so the regular expression is the grammar.
  const h16 = `${hex}{1,4}`;
  const ls32 = `(?:${h16}:${h16}|${IPV4_SOURCE})`;
  const rep = (n: number): string => (n === 0 ? '' : `(?:${h16}:){${n}}`);
  const upTo = (n: number): string => (n < 0 ? '' : n === 0 ? `${h16}` : `(?:${h16}:){0,${n}}${h16}`);
  const alts = [
    `${rep(6)}${ls32}`,
    `::${rep(5)}${ls32}`,
    `(?:${upTo(0)})?::${rep(4)}${ls32}`,
    `(?:${upTo(1)})?::${rep(3)}${ls32}`,
    `(?:${upTo(2)})?::${rep(2)}${ls32}`,
    `(?:${upTo(3)})?::${h16}:${ls32}`,
    `(?:${upTo(4)})?::${ls32}`,
    `(?:${upTo(5)})?::${h16}`,
    `(?:${upTo(6)})?::`,
  ];
  return `(?:${alts.join('|')})`;
}

/** A dotted-quad IPv4 address, decimal, no leading zeros. */
export const IPV4_SOURCE = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}';
/** An IPv6 address in any RFC 4291 text form (no zone id). */
export const IPV6_SOURCE = ipv6Source('[0-9A-Fa-f]');
/** An address or a CIDR block, as a rule's `ips` entry. */
export const IP_ENTRY_PATTERN = `^(?:${IPV4_SOURCE}(?:/(?:3[0-2]|[12]?[0-9]))?|${IPV6_SOURCE}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$`;
const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
/** A host as nginx's $host holds it: lower-case name or IPv4 literal, or a bracketed lower-case IPv6 literal. */
export const HOST_PATTERN = `^(?:${LABEL}(?:\\.${LABEL})*|\\[${ipv6Source('[0-9a-f]')}\\])$`;
/** Rule ids end up in log variables and detector names: a plain charset. */
export const RULE_ID_PATTERN = `^[A-Za-z0-9_.:-]{1,${LIMITS.idLength}}$`;
/** Absolute, without query, fragment, whitespace or control characters. */
export const PATH_PATTERN = `^/[^?#\\s\\u0000-\\u001f\\u007f]{0,${LIMITS.pathLength - 1}}$`;
/** Printable: no control characters. */
export const USER_AGENT_PATTERN = `^[^\\u0000-\\u001f\\u007f]{1,${LIMITS.patternLength}}$`;

const IP_ENTRY_RE = new RegExp(IP_ENTRY_PATTERN);
const HOST_RE = new RegExp(HOST_PATTERN);
const RULE_ID_RE = new RegExp(RULE_ID_PATTERN);
const PATH_RE = new RegExp(PATH_PATTERN, 'u');
const USER_AGENT_RE = new RegExp(USER_AGENT_PATTERN, 'u');

/**
 * ISO 3166-1 alpha-2 (all 249 assigned codes), plus XK (Kosovo) and EU, which
 * GeoIP databases return. "UK" is not one: the United Kingdom is GB.
 */
export const COUNTRY_CODES: ReadonlySet<string> = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
    'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP ' +
    'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT ' +
    'MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
    'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ ' +
    'UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK EU'
  ).split(' '),
);

// ---------------------------------------------------------------------------
// Validation

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
    if (x.on_filtered !== undefined && x.on_filtered !== 'WARN' && x.on_filtered !== 'BLOCK') {
      this.add(at(path, 'on_filtered'), 'must be "WARN" or "BLOCK"');
    }
    const s = x.block_http_status;
    if (s !== undefined && (typeof s !== 'number' || !Number.isInteger(s) || s < 400 || s > 599)) {
      this.add(at(path, 'block_http_status'), 'must be an integer HTTP status from 400 to 599');
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
          if (!this.object(g, gp, ['COUNTRY_CODE'])) return;
          const cc = g.COUNTRY_CODE;
          const cp = at(gp, 'COUNTRY_CODE');
          if (cc === undefined) this.add(cp, 'is required');
          else if (typeof cc !== 'string') this.add(cp, 'must be a string');
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
    else if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.add('version', 'must be a non-negative integer');
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

function countryProblem(cc: string): string {
  if (cc === 'UK') return 'not an ISO 3166-1 alpha-2 code: the United Kingdom is "GB"';
  const upper = cc.toUpperCase();
  if (upper !== cc && COUNTRY_CODES.has(upper)) return `country codes are upper-case: "${upper}"`;
  return 'not an ISO 3166-1 alpha-2 country code';
}

/** Parsed form of one `ips` entry: IPv4 folded out of IPv4-mapped IPv6. */
interface IpBlock {
  v4: boolean;
  /** Four 32-bit words (IPv6), or the address in words[0] (IPv4). */
  words: [number, number, number, number];
  prefix: number;
}

function ipEntryProblem(s: string): string | null {
  if (!IP_ENTRY_RE.test(s)) return 'not an IPv4 or IPv6 address or CIDR block (decimal dotted quad without leading zeros; no zone id; prefix 0-32 or 0-128)';
  const b = parseIpEntry(s);
  const masked = maskWords(b.words, b.prefix, b.v4);
  if (masked.some((w, i) => w !== b.words[i])) return `host bits set: the block is ${formatBlock({ ...b, words: masked })}`;
  return null;
}

/**
 * Rule entries go through the same parser as client addresses, so both sides
 * agree on every spelling (ipaddr.js, for one, reads the deprecated
 * IPv4-compatible ::a.b.c.d as IPv4-mapped; RFC 4291 and this engine do not).
 */
function parseIpEntry(s: string): IpBlock {
  const slash = s.indexOf('/');
  const text = slash < 0 ? s : s.slice(0, slash);
  const v6 = text.includes(':');
  let prefix = slash < 0 ? (v6 ? 128 : 32) : Number(s.slice(slash + 1));
  if (!v6) return { v4: true, words: [parseV4(text, 0, text.length), 0, 0, 0], prefix };
  const g = new Uint16Array(8);
  if (!parseV6(text, g)) throw new Error(`not an IPv6 address: ${text}`);
  const words: [number, number, number, number] = [0, 1, 2, 3].map((i) => (((g[2 * i] as number) << 16) | (g[2 * i + 1] as number)) >>> 0) as [number, number, number, number];
  // An IPv4-mapped block is an IPv4 block: clients are compared after folding.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff && prefix >= 96) {
    prefix -= 96;
    return { v4: true, words: [words[3], 0, 0, 0], prefix };
  }
  return { v4: false, words, prefix };
}

function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

function maskWords(w: readonly number[], prefix: number, v4: boolean): [number, number, number, number] {
  if (v4) return [((w[0] as number) & wordMask(prefix)) >>> 0, 0, 0, 0];
  return [0, 1, 2, 3].map((i) => ((w[i] as number) & wordMask(prefix - 32 * i)) >>> 0) as [number, number, number, number];
}

function formatBlock(b: IpBlock): string {
  if (b.v4) {
    const w = b.words[0];
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}/${b.prefix}`;
  }
  const parts = b.words.flatMap((w) => [w >>> 16, w & 0xffff]);
  return `${new ipaddr.IPv6(parts).toString()}/${b.prefix}`;
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

// ---------------------------------------------------------------------------
// Compilation

/** ASCII-only case folding: the Lua engine's string.lower does exactly this. */
function asciiLower(s: string): string {
  if (!/[A-Z]/.test(s)) return s;
  return /[\u0080-\uffff]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s.toLowerCase();
}

/** A two-character country code upper-cased ASCII-only (JS would turn "ı" into "I"; Lua would not). */
function asciiUpper2(cc: string): string {
  const a = cc.charCodeAt(0);
  const b = cc.charCodeAt(1);
  if ((a < 97 || a > 122) && (b < 97 || b > 122)) return cc;
  return String.fromCharCode(a >= 97 && a <= 122 ? a - 32 : a, b >= 97 && b <= 122 ? b - 32 : b);
}

function escapeRegExp(ch: string): string {
  return /[\^$\\.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * A wildcard pattern as a regular-expression source that cannot backtrack
 * badly on hostile input: each chunk between stars is found leftmost inside an
 * atomic lookahead (`(?=(…*?chunk))\N`), the greedy glob algorithm, so the
 * cost is linear in the subject per chunk instead of polynomial in the stars.
 */
function globSource(pattern: string, mode: GlobMode, group: { n: number }): string {
  const chunks = pattern.replace(/\*+/g, '*').split('*');
  const lit = (chunk: string): string => {
    let out = '';
    for (const ch of chunk) {
      if (mode === 'user-agent' && ch === '?') out += '.';
      // ASCII-only case folding in the pattern, so the subject is never lower-cased.
      else if (mode === 'user-agent' && /[A-Za-z]/.test(ch)) out += `[${ch.toLowerCase()}${ch.toUpperCase()}]`;
      else out += escapeRegExp(ch);
    }
    return out;
  };
  if (chunks.length === 1) return lit(chunks[0] as string);
  let src = lit(chunks[0] as string);
  for (let i = 1; i < chunks.length - 1; i++) {
    const n = ++group.n;
    src += `(?=([\\s\\S]*?${lit(chunks[i] as string)}))(?:\\${n})`;
  }
  return `${src}[\\s\\S]*${lit(chunks[chunks.length - 1] as string)}`;
}

/**
 * How a wildcard compiles. `path`: only `*` is special, case counts.
 * `user-agent`: `?` is one code point (u flag), ASCII letters match either
 * case (spelled out as classes). `user-agent-ascii`: for patterns of ASCII
 * characters and `*` only, the native i flag, which is faster and, without
 * the u flag, never folds a non-ASCII character onto an ASCII one.
 */
export type GlobMode = 'path' | 'user-agent' | 'user-agent-ascii';

/** One anchored RegExp for several wildcard patterns (s: `*` crosses newlines). */
export function globRegExp(patterns: readonly string[], mode: GlobMode): RegExp {
  const group = { n: 0 };
  const alts = patterns.map((p) => globSource(p, mode, group));
  return new RegExp(`^(?:${alts.join('|')})$`, mode === 'user-agent-ascii' ? 'is' : 'su');
}

const ASCII_STARS_ONLY = /^[^?\u0080-\uffff]*$/; // ASCII, and no "?"

/** Addresses and blocks grouped by prefix length: one masked Set lookup per distinct length. */
class IpSet {
  private readonly v4Masks: number[] = [];
  private readonly v4Nets: Array<Set<number>> = [];
  /** Per distinct IPv6 prefix length, the masks of its four words. */
  private readonly v6Masks: Array<[number, number, number, number]> = [];
  /** The masked first words: most clients are rejected before a key string is built. */
  private readonly v6Firsts: Array<Set<number>> = [];
  private readonly v6Nets: Array<Set<string>> = [];

  constructor(entries: readonly string[]) {
    const v4 = new Map<number, Set<number>>();
    const v6 = new Map<number, Set<string>>();
    for (const e of entries) {
      const b = parseIpEntry(e);
      const m = maskWords(b.words, b.prefix, b.v4);
      if (b.v4) {
        let set = v4.get(b.prefix);
        if (!set) v4.set(b.prefix, (set = new Set()));
        set.add(m[0]);
      } else {
        let set = v6.get(b.prefix);
        if (!set) v6.set(b.prefix, (set = new Set()));
        set.add(v6Key(m[0], m[1], m[2], m[3]));
      }
    }
    // Longest prefixes first: exact addresses are the common case.
    for (const p of [...v4.keys()].sort((a, b) => b - a)) {
      this.v4Masks.push(wordMask(p));
      this.v4Nets.push(v4.get(p) as Set<number>);
    }
    for (const p of [...v6.keys()].sort((a, b) => b - a)) {
      this.v6Masks.push([wordMask(p), wordMask(p - 32), wordMask(p - 64), wordMask(p - 96)]);
      this.v6Nets.push(v6.get(p) as Set<string>);
      this.v6Firsts.push(new Set([...(v6.get(p) as Set<string>)].map((k) => Number(k.slice(0, k.indexOf(':'))))));
    }
  }

  hasV4(addr: number): boolean {
    for (let i = 0; i < this.v4Masks.length; i++) {
      if ((this.v4Nets[i] as Set<number>).has((addr & (this.v4Masks[i] as number)) >>> 0)) return true;
    }
    return false;
  }

  hasV6(w: Uint32Array): boolean {
    for (let i = 0; i < this.v6Masks.length; i++) {
      const m = this.v6Masks[i] as [number, number, number, number];
      if (!(this.v6Firsts[i] as Set<number>).has(((w[0] as number) & m[0]) >>> 0)) continue;
      const key = v6Key(((w[0] as number) & m[0]) >>> 0, ((w[1] as number) & m[1]) >>> 0, ((w[2] as number) & m[2]) >>> 0, ((w[3] as number) & m[3]) >>> 0);
      if ((this.v6Nets[i] as Set<string>).has(key)) return true;
    }
    return false;
  }
}

function v6Key(a: number, b: number, c: number, d: number): string {
  return `${a}:${b}:${c}:${d}`;
}

interface CompiledCriteria {
  geo: Set<string> | null;
  ips: IpSet | null;
  /** Lower-cased exact user agents, and their lengths: most user agents are rejected without folding case. */
  uaExact: Set<string> | null;
  uaExactLengths: Set<number> | null;
  /**
   * Wildcards tested directly: all of them when few, else those without a
   * literal to look for. ASCII-and-`*` ones (i flag), and the others (u flag).
   */
  uaGlobAscii: RegExp | null;
  uaGlob: RegExp | null;
  /**
   * Many wildcards: one unanchored search for any pattern's longest literal
   * chunk (a superset test, about as fast for a thousand patterns as for ten),
   * then only the patterns whose literal the user agent contains.
   */
  uaPrefilter: RegExp | null;
  uaCandidates: Array<{ literal: string; re: RegExp }>;
}

/** Up to this many wildcards in one criterion, one combined anchored RegExp is cheaper than the prefilter. */
const DIRECT_WILDCARDS = 8;

function wildcardRegExps(patterns: readonly string[]): { ascii: RegExp | null; other: RegExp | null } {
  const ascii = patterns.filter((p) => ASCII_STARS_ONLY.test(p));
  const other = patterns.filter((p) => !ASCII_STARS_ONLY.test(p));
  return {
    ascii: ascii.length > 0 ? globRegExp(ascii, 'user-agent-ascii') : null,
    other: other.length > 0 ? globRegExp(other, 'user-agent') : null,
  };
}

/** The longest run without wildcards: every match contains it (ASCII case aside). */
function longestLiteral(pattern: string): string {
  return pattern.split(/[*?]/).reduce((a, b) => (b.length > a.length ? b : a), '');
}

const GEO = 1;
const IPS = 2;
const UA = 4;

interface CompiledRule {
  id: string;
  /** The kinds its `match` needs (GEO | IPS | UA). */
  kinds: number;
  match: CompiledCriteria;
  except: CompiledCriteria | null;
  block: boolean;
  status: number;
}

interface CompiledLevel {
  enabled: boolean;
  /** Sorted by id (code-unit order), so the first match of an action is its lowest id. */
  rules: CompiledRule[];
  /**
   * Every rule's `match` values of each kind in one criterion: a request that
   * misses the union of a kind cannot match any rule that needs that kind, so
   * a clean request costs one check per kind, not one per rule.
   */
  union: CompiledCriteria;
}

interface CompiledPath {
  source: string;
  level: CompiledLevel;
  /** Set for a prefix entry. */
  prefix: string | null;
  /** The prefix ends with "/": no segment boundary to check. */
  prefixDir: boolean;
  /** Set for a wildcard entry. */
  glob: RegExp | null;
  /** Characters other than "*": more is more specific. */
  literal: number;
}

function compileCriteria(c: Criteria): CompiledCriteria {
  const exact: string[] = [];
  const wild: string[] = [];
  for (const ua of c.user_agents ?? []) (/[*?]/.test(ua) ? wild : exact).push(ua);
  let direct = wild;
  let prefilter: RegExp | null = null;
  const candidates: Array<{ literal: string; re: RegExp }> = [];
  if (wild.length > DIRECT_WILDCARDS) {
    direct = wild.filter((w) => longestLiteral(w) === '');
    const literals = new Set<string>();
    for (const w of wild) {
      const literal = longestLiteral(w);
      if (literal === '') continue;
      literals.add(literal);
      const { ascii, other } = wildcardRegExps([w]);
      candidates.push({ literal: asciiLower(literal), re: (ascii ?? other) as RegExp });
    }
    // Without the u flag, i folds no non-ASCII character onto an ASCII one; where it
    // folds more than ASCII (é ~ É) the test only lets more through to the exact check.
    prefilter = new RegExp([...literals].map((l) => [...l].map(escapeRegExp).join('')).join('|'), 'i');
  }
  const { ascii, other } = wildcardRegExps(direct);
  return {
    geo: c.geo !== undefined ? new Set(c.geo.map((g) => g.COUNTRY_CODE)) : null,
    ips: c.ips !== undefined ? new IpSet(c.ips) : null,
    uaExact: exact.length > 0 ? new Set(exact.map(asciiLower)) : null,
    uaExactLengths: exact.length > 0 ? new Set(exact.map((e) => e.length)) : null,
    uaGlobAscii: ascii,
    uaGlob: other,
    uaPrefilter: prefilter,
    uaCandidates: candidates,
  };
}

function compileLevel(f: SecurityFilter): CompiledLevel {
  const rules = (f.filter_rules ?? []).map((r): CompiledRule => {
    const onFiltered = r.response_handling?.on_filtered ?? f.response_handling?.on_filtered ?? 'WARN';
    return {
      id: r.id,
      kinds: (r.match.geo ? GEO : 0) | (r.match.ips ? IPS : 0) | (r.match.user_agents ? UA : 0),
      match: compileCriteria(r.match),
      except: r.except ? compileCriteria(r.except) : null,
      block: onFiltered === 'BLOCK',
      status: r.response_handling?.block_http_status ?? f.response_handling?.block_http_status ?? DEFAULT_STATUS,
    };
  });
  rules.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const all = (f.filter_rules ?? []).map((r) => r.match);
  const union = (pick: (c: Criteria) => unknown[] | undefined): unknown[] | undefined => {
    const values = all.flatMap((c) => pick(c) ?? []);
    return values.length > 0 ? values : undefined;
  };
  return {
    enabled: f.enabled === true,
    rules,
    union: compileCriteria({
      geo: union((c) => c.geo) as GeoCriterion[] | undefined,
      ips: union((c) => c.ips) as string[] | undefined,
      user_agents: union((c) => c.user_agents && [...new Set(c.user_agents)]) as string[] | undefined,
    }),
  };
}

function compilePath(p: PathFilter): CompiledPath {
  const level = compileLevel(p.security_filter);
  const literal = p.path.replace(/\*/g, '').length;
  if (p.path.includes('*')) return { source: p.path, level, prefix: null, prefixDir: false, glob: globRegExp([p.path], 'path'), literal };
  return { source: p.path, level, prefix: p.path, prefixDir: p.path.endsWith('/'), glob: null, literal };
}

/** Most specific first, whatever the order in the document. */
function bySpecificity(a: CompiledPath, b: CompiledPath): number {
  if (a.literal !== b.literal) return b.literal - a.literal;
  if ((a.prefix === null) !== (b.prefix === null)) return a.prefix !== null ? -1 : 1;
  return a.source < b.source ? -1 : a.source > b.source ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Client address parsing (strict; anything else matches no `ips` criterion)

function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && leadingZero) return -1;
      if (digits === 0) leadingZero = c === 48;
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = HEX[65 + i] = 10 + i;

/**
 * Fills `out` with the 8 groups of an RFC 4291 text address (1-4 hex digits a
 * group, at most one "::" standing for at least one group, optionally a
 * dotted IPv4 last 32 bits); false for anything else. One pass, no allocation.
 */
function parseV6(s: string, out: Uint16Array): boolean {
  const len = s.length;
  if (len < 2 || len > 45) return false;
  let n = 0;
  let dbl = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    dbl = 0;
    i = 2;
  }
  while (i < len) {
    const start = i;
    let v = 0;
    let c = 0;
    for (; i < len; i++) {
      c = s.charCodeAt(i);
      const d = c < 128 ? (HEX[c] as number) : -1;
      if (d < 0) break;
      v = (v << 4) | d;
    }
    if (i < len && c === 46) {
      // The dotted IPv4 tail ends the address.
      if (n > 6) return false;
      const v4 = parseV4(s, start, len);
      if (v4 < 0) return false;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      break;
    }
    if (i === start || i - start > 4 || n === 8) return false;
    out[n++] = v;
    if (i === len) break;
    if (c !== 58) return false;
    i++;
    if (i < len && s.charCodeAt(i) === 58) {
      if (dbl >= 0) return false;
      dbl = n;
      i++;
    } else if (i === len) return false;
  }
  if (dbl < 0) return n === 8;
  if (n > 7) return false;
  // Move the groups after "::" to the end and zero the gap.
  for (let k = 7, j = n - 1; j >= dbl; k--, j--) out[k] = out[j] as number;
  for (let k = dbl; k < 8 - (n - dbl); k++) out[k] = 0;
  return true;
}

// ---------------------------------------------------------------------------
// Evaluation

const NO_MATCH: readonly string[] = Object.freeze([]);
const NONE: FilterOutcome = Object.freeze({ action: 'none', matched: NO_MATCH });

const NOT_PARSED = -1;
const INVALID = 0;

/** Strips a port and a trailing dot, folds ASCII case: as nginx's $host. */
export function normalizeHost(h: string): string {
  let plain = h.length > 0 && h.charCodeAt(h.length - 1) !== 46;
  for (let i = 0; plain && i < h.length; i++) {
    const c = h.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c === 58 || c > 127) plain = false;
  }
  if (plain) return h;
  let s = asciiLower(h);
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end > 0) s = s.slice(0, end + 1);
  } else {
    const colon = s.indexOf(':');
    if (colon >= 0) s = s.slice(0, colon);
  }
  if (s.endsWith('.')) s = s.slice(0, -1);
  return s;
}

export class SecurityFilterEngine {
  readonly version: number;
  private readonly property: CompiledLevel | null;
  private readonly domains: Map<string, CompiledLevel>;
  private readonly hostPaths: Map<string, CompiledPath[]>;
  private readonly anyHostPaths: CompiledPath[];
  private readonly hasPaths: boolean;

  // Per-call scratch: each request feature is computed at most once, and only when a rule needs it.
  private uaRaw = '';
  private uaLower: string | null = null;
  private countryRaw: string | null = null;
  private ipRaw = '';
  private ipKind = NOT_PARSED;
  private ipV4 = 0;
  private readonly groups = new Uint16Array(8);
  private readonly words = new Uint32Array(4);

  /** Use `compileRuleSet`. */
  constructor(ruleSet: RuleSet | null) {
    this.version = ruleSet?.version ?? 0;
    this.property = ruleSet?.property ? compileLevel(ruleSet.property) : null;
    this.domains = new Map(Object.entries(ruleSet?.domains ?? {}).map(([h, f]) => [h, compileLevel(f)]));
    this.hostPaths = new Map();
    this.anyHostPaths = [];
    for (const p of ruleSet?.paths ?? []) {
      const c = compilePath(p);
      if (p.host === undefined) this.anyHostPaths.push(c);
      else {
        let list = this.hostPaths.get(p.host);
        if (!list) this.hostPaths.set(p.host, (list = []));
        list.push(c);
      }
    }
    this.anyHostPaths.sort(bySpecificity);
    for (const list of this.hostPaths.values()) list.sort(bySpecificity);
    this.hasPaths = this.anyHostPaths.length > 0 || this.hostPaths.size > 0;
  }

  evaluate(req: SecurityFilterRequest): FilterOutcome {
    return this.run(req.host, req.path, req.user_agent, req.country, req.ip);
  }

  /** The same as `evaluate`, straight from a decoded access record (no request object built). */
  evaluateRecord(rec: AccessRecord): FilterOutcome {
    return this.run(rec.host, rec.path, rec.user_agent, rec.country, rec.client_ip);
  }

  private levelFor(host: string, path: string): CompiledLevel | null {
    const h = normalizeHost(host);
    if (this.hasPaths) {
      // A host's own path entries are more specific than any-host ones, then by literal length.
      const own = this.hostPaths.get(h);
      if (own !== undefined) for (const p of own) if (pathMatches(p, path)) return p.level;
      for (const p of this.anyHostPaths) if (pathMatches(p, path)) return p.level;
    }
    return this.domains.get(h) ?? this.property;
  }

  private run(host: string, path: string, ua: string, country: string | null, ip: string): FilterOutcome {
    const level = this.levelFor(host, path);
    if (level === null || !level.enabled || level.rules.length === 0) return NONE;
    this.uaRaw = ua;
    this.uaLower = null;
    this.countryRaw = country;
    this.ipRaw = ip;
    this.ipKind = NOT_PARSED;
    let matched: string[] | null = null;
    let block: CompiledRule | null = null;
    let warn: CompiledRule | null = null;
    // Kinds whose union was checked, and of those, the ones that hit.
    let checked = 0;
    let hits = 0;
    const u = level.union;
    for (const r of level.rules) {
      const unknown = r.kinds & ~checked;
      if (unknown !== 0) {
        if (unknown & GEO && this.geoMatches(u)) hits |= GEO;
        if (unknown & IPS && this.ipsMatch(u)) hits |= IPS;
        if (unknown & UA && this.uaMatches(u)) hits |= UA;
        checked |= unknown;
      }
      if ((r.kinds & hits) !== r.kinds) continue;
      if (!this.matches(r.match) || (r.except !== null && this.matches(r.except))) continue;
      (matched ??= []).push(r.id);
      if (r.block) block ??= r;
      else warn ??= r;
    }
    if (matched === null) return NONE;
    if (block !== null) return { action: 'block', status: block.status, rule_id: block.id, matched };
    return { action: 'warn', rule_id: (warn as CompiledRule).id, matched };
  }

  // Cheapest kind first; the kinds are ANDed, so the order changes no outcome.
  private matches(c: CompiledCriteria): boolean {
    if (c.geo !== null && !this.geoMatches(c)) return false;
    if (c.ips !== null && !this.ipsMatch(c)) return false;
    if ((c.uaExact !== null || c.uaGlobAscii !== null || c.uaGlob !== null || c.uaPrefilter !== null) && !this.uaMatches(c)) return false;
    return true;
  }

  private geoMatches(c: CompiledCriteria): boolean {
    const cc = this.countryRaw;
    return cc !== null && cc.length === 2 && (c.geo as Set<string>).has(asciiUpper2(cc));
  }

  private ipsMatch(c: CompiledCriteria): boolean {
    const kind = this.ipKind === NOT_PARSED ? this.parseIp() : this.ipKind;
    const ips = c.ips as IpSet;
    return kind === 4 ? ips.hasV4(this.ipV4) : kind === 6 ? ips.hasV6(this.words) : false;
  }

  private uaMatches(c: CompiledCriteria): boolean {
    const ua = this.uaRaw;
    if (c.uaExact !== null && (c.uaExactLengths as Set<number>).has(ua.length) && c.uaExact.has((this.uaLower ??= asciiLower(ua)))) return true;
    if ((c.uaGlobAscii !== null && c.uaGlobAscii.test(ua)) || (c.uaGlob !== null && c.uaGlob.test(ua))) return true;
    if (c.uaPrefilter === null || !c.uaPrefilter.test(ua)) return false;
    const lower = (this.uaLower ??= asciiLower(ua));
    for (const cand of c.uaCandidates) if (lower.includes(cand.literal) && cand.re.test(ua)) return true;
    return false;
  }

  private parseIp(): number {
    const s = this.ipRaw;
    let kind = INVALID;
    if (s.indexOf(':') < 0) {
      const v4 = s.length <= 15 ? parseV4(s, 0, s.length) : -1;
      if (v4 >= 0) {
        this.ipV4 = v4;
        kind = 4;
      }
    } else if (parseV6(s, this.groups)) {
      const g = this.groups;
      if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
        // IPv4-mapped: the same client as its IPv4 address.
        this.ipV4 = (((g[6] as number) << 16) | (g[7] as number)) >>> 0;
        kind = 4;
      } else {
        for (let i = 0; i < 4; i++) this.words[i] = (((g[2 * i] as number) << 16) | (g[2 * i + 1] as number)) >>> 0;
        kind = 6;
      }
    }
    this.ipKind = kind;
    return kind;
  }
}

function pathMatches(p: CompiledPath, path: string): boolean {
  if (p.prefix !== null) {
    if (!path.startsWith(p.prefix)) return false;
    return path.length === p.prefix.length || p.prefixDir || path.charCodeAt(p.prefix.length) === 47;
  }
  return (p.glob as RegExp).test(path);
}

/**
 * Compiles a rule set for evaluation; `null` (no rule set) filters nothing.
 * Throws on an invalid document: validate untrusted input with
 * `validateRuleSet` first, which names every problem.
 */
export function compileRuleSet(ruleSet: RuleSet | null): SecurityFilterEngine {
  if (ruleSet !== null) {
    const v = validateRuleSet(ruleSet);
    if (!v.ok) throw new Error(`invalid security_filter rule set: ${v.errors.map((e) => `${e.path || '(document)'}: ${e.message}`).join('; ')}`);
  }
  return new SecurityFilterEngine(ruleSet);
}
