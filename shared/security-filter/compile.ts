// Compilation of a validated rule set into matchers: wildcards into
// RegExps that cannot backtrack badly, address lists into prefix-grouped
// sets, each level with the union of its rules' values per kind, path
// entries ordered most specific first. Defaults are applied here, not
// written into the document.
import { IpSet } from '../ip.js';
import { asciiLower } from './ascii.js';
import { BLOCK_STATUS } from './limits.js';
import type { Criteria, GeoCriterion, PathFilter, SecurityFilter } from './types.js';

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

export interface CompiledCriteria {
  /** Set when the criterion has geo entries: its countries and its autonomous systems (either may be empty). */
  geo: Set<string> | null;
  asns: Set<number> | null;
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

export const GEO = 1;
export const IPS = 2;
export const UA = 4;

export interface CompiledRule {
  id: string;
  /** The kinds its `match` needs (GEO | IPS | UA). */
  kinds: number;
  match: CompiledCriteria;
  except: CompiledCriteria | null;
  block: boolean;
  /** CHALLENGE: answered with the challenge page until the client proves it runs a browser (BLOCK wins over it, it over WARN). */
  challenge: boolean;
  status: number;
}

export interface CompiledLevel {
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

export interface CompiledPath {
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
    geo: c.geo !== undefined ? new Set(c.geo.flatMap((g) => (g.COUNTRY_CODE !== undefined ? [g.COUNTRY_CODE] : []))) : null,
    asns: c.geo !== undefined ? new Set(c.geo.flatMap((g) => (g.ASN !== undefined ? [g.ASN] : []))) : null,
    ips: c.ips !== undefined ? new IpSet(c.ips) : null,
    uaExact: exact.length > 0 ? new Set(exact.map(asciiLower)) : null,
    uaExactLengths: exact.length > 0 ? new Set(exact.map((e) => e.length)) : null,
    uaGlobAscii: ascii,
    uaGlob: other,
    uaPrefilter: prefilter,
    uaCandidates: candidates,
  };
}

export function compileLevel(f: SecurityFilter): CompiledLevel {
  const rules = (f.filter_rules ?? []).map((r): CompiledRule => {
    const onFiltered = r.response_handling?.on_filtered ?? f.response_handling?.on_filtered ?? 'WARN';
    return {
      id: r.id,
      kinds: (r.match.geo ? GEO : 0) | (r.match.ips ? IPS : 0) | (r.match.user_agents ? UA : 0),
      match: compileCriteria(r.match),
      except: r.except ? compileCriteria(r.except) : null,
      block: onFiltered === 'BLOCK',
      challenge: onFiltered === 'CHALLENGE',
      status: r.response_handling?.block_http_status ?? f.response_handling?.block_http_status ?? BLOCK_STATUS.default,
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

export function compilePath(p: PathFilter): CompiledPath {
  const level = compileLevel(p.security_filter);
  const literal = p.path.replace(/\*/g, '').length;
  if (p.path.includes('*')) return { source: p.path, level, prefix: null, prefixDir: false, glob: globRegExp([p.path], 'path'), literal };
  return { source: p.path, level, prefix: p.path, prefixDir: p.path.endsWith('/'), glob: null, literal };
}

/** Most specific first, whatever the order in the document. */
export function bySpecificity(a: CompiledPath, b: CompiledPath): number {
  if (a.literal !== b.literal) return b.literal - a.literal;
  if ((a.prefix === null) !== (b.prefix === null)) return a.prefix !== null ? -1 : 1;
  return a.source < b.source ? -1 : a.source > b.source ? 1 : 0;
}
