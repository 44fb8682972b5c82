// The limits, the country list and the syntax of rule-set documents. The
// numbers and the list come from schemas/security-filter/limits.json, which
// the Lua validator (lua/logwarden/limits.lua) reads too: neither language
// keeps a copy. The JSON Schema (rule-set.schema.json) repeats them for
// schema users, and the test holds it equal to these.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemasDir } from '../avro/schema-source.js';

interface Range {
  default: number;
  min: number;
  max: number;
}

interface LimitsFile {
  limits: {
    domains: number;
    paths: number;
    rules_per_filter: number;
    user_agents: number;
    user_agents_per_filter: number;
    geo: number;
    ips: number;
    id_length: number;
    pattern_length: number;
    path_length: number;
    host_length: number;
    errors: number;
    version_max: number;
  };
  block_http_status: { default: number; min: number; max: number };
  on_filtered: string[];
  challenge: { http_status: number; difficulty_bits: Range; cookie_ttl_s: Range };
  country_codes: string[];
}

const file = JSON.parse(readFileSync(join(schemasDir(), 'security-filter', 'limits.json'), 'utf8')) as LimitsFile;
const l = file.limits;

export const LIMITS = Object.freeze({
  domains: l.domains,
  paths: l.paths,
  rulesPerFilter: l.rules_per_filter,
  userAgents: l.user_agents,
  /** User-agent patterns in one security_filter (all rules, match and except): bounds the compiled matchers. */
  userAgentsPerFilter: l.user_agents_per_filter,
  geo: l.geo,
  ips: l.ips,
  idLength: l.id_length,
  patternLength: l.pattern_length,
  pathLength: l.path_length,
  hostLength: l.host_length,
  errors: l.errors,
  /** The largest `version`: Number.MAX_SAFE_INTEGER, which Lua's doubles hold exactly too. */
  versionMax: l.version_max,
});

/** `block_http_status`: the default, and the range accepted. */
export const BLOCK_STATUS = Object.freeze({ ...file.block_http_status });

/** `on_filtered`: the responses a rule may give (WARN, CHALLENGE, BLOCK). */
export const ON_FILTERED: readonly string[] = Object.freeze([...file.on_filtered]);

/** CHALLENGE: the page's status, and the ranges of the settings the enforcer pushes (difficulty in bits, cookie lifetime in seconds). */
export const CHALLENGE = Object.freeze({
  httpStatus: file.challenge.http_status,
  difficultyBits: Object.freeze({ ...file.challenge.difficulty_bits }),
  cookieTtlS: Object.freeze({ ...file.challenge.cookie_ttl_s }),
});

/**
 * ISO 3166-1 alpha-2 (all 249 assigned codes), plus XK (Kosovo) and EU, which
 * GeoIP databases return. "UK" is not one: the United Kingdom is GB.
 */
export const COUNTRY_CODES: ReadonlySet<string> = new Set(file.country_codes);

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
