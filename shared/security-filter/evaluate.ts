// The engine: a compiled rule set evaluated per request. It runs without
// allocating unless a rule matches. It is synchronous and keeps per-call
// scratch state on the instance, so one instance serves one thread (a worker
// owns its own). Each request feature (lower-cased user agent, country,
// parsed address) is computed at most once, and only when a rule needs it.
import { parseClient, type IpSet } from '../ip.js';
import type { AccessRecord } from '../records.js';
import { asciiLower, asciiUpper2 } from './ascii.js';
import { GEO, IPS, UA, bySpecificity, compileLevel, compilePath, type CompiledCriteria, type CompiledLevel, type CompiledPath, type CompiledRule } from './compile.js';
import type { FilterOutcome, RuleSet, SecurityFilterRequest } from './types.js';
import { validateRuleSet } from './validate.js';

const NO_MATCH: readonly string[] = Object.freeze([]);
const NONE: FilterOutcome = Object.freeze({ action: 'none', matched: NO_MATCH });

const NOT_PARSED = -1;

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
  private asnRaw: number | null = null;
  private ipRaw = '';
  private ipKind = NOT_PARSED;
  private readonly ipV4 = new Uint32Array(1);
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
    return this.run(req.host, req.path, req.user_agent, req.country, req.asn ?? null, req.ip);
  }

  /** The same as `evaluate`, straight from a decoded access record (no request object built). */
  evaluateRecord(rec: AccessRecord): FilterOutcome {
    return this.run(rec.host, rec.path, rec.user_agent, rec.country, rec.asn ?? null, rec.client_ip);
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

  private run(host: string, path: string, ua: string, country: string | null, asn: number | null, ip: string): FilterOutcome {
    const level = this.levelFor(host, path);
    if (level === null || !level.enabled || level.rules.length === 0) return NONE;
    this.uaRaw = ua;
    this.uaLower = null;
    this.countryRaw = country;
    this.asnRaw = asn;
    this.ipRaw = ip;
    this.ipKind = NOT_PARSED;
    let matched: string[] | null = null;
    let block: CompiledRule | null = null;
    let challenge: CompiledRule | null = null;
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
      else if (r.challenge) challenge ??= r;
      else warn ??= r;
    }
    if (matched === null) return NONE;
    if (block !== null) return { action: 'block', status: block.status, rule_id: block.id, matched };
    if (challenge !== null) return { action: 'challenge', rule_id: challenge.id, matched };
    return { action: 'warn', rule_id: (warn as CompiledRule).id, matched };
  }

  // Cheapest kind first; the kinds are ANDed, so the order changes no outcome.
  private matches(c: CompiledCriteria): boolean {
    if (c.geo !== null && !this.geoMatches(c)) return false;
    if (c.ips !== null && !this.ipsMatch(c)) return false;
    if ((c.uaExact !== null || c.uaGlobAscii !== null || c.uaGlob !== null || c.uaPrefilter !== null) && !this.uaMatches(c)) return false;
    return true;
  }

  /** A geo criterion: any of its countries, or any of its autonomous systems. */
  private geoMatches(c: CompiledCriteria): boolean {
    const cc = this.countryRaw;
    if (cc !== null && cc.length === 2 && (c.geo as Set<string>).has(asciiUpper2(cc))) return true;
    const asn = this.asnRaw;
    return asn !== null && (c.asns as Set<number>).has(asn);
  }

  private ipsMatch(c: CompiledCriteria): boolean {
    const kind = this.ipKind === NOT_PARSED ? this.parseIp() : this.ipKind;
    const ips = c.ips as IpSet;
    return kind === 4 ? ips.hasV4(this.ipV4[0] as number) : kind === 6 ? ips.hasV6(this.words) : false;
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
    const kind = parseClient(this.ipRaw, this.ipV4, this.words, this.groups);
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
    // A caller bug: rule sets are validated where they enter (config, API, node rules), naming every problem.
    if (!v.ok) throw new Error(`invalid security_filter rule set: ${v.errors.map((e) => `${e.path || '(document)'}: ${e.message}`).join('; ')}`);
  }
  return new SecurityFilterEngine(ruleSet);
}
