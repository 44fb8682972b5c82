// The shapes of the security_filter model: the rule-set document (as
// schemas/security-filter/README.md and rule-set.schema.json define it), one
// request, one outcome, and what validation returns.

export type OnFiltered = 'WARN' | 'CHALLENGE' | 'BLOCK';

export interface ResponseHandling {
  on_filtered?: OnFiltered;
  block_http_status?: number;
}

/**
 * One geo variable per entry (the CDN's "key/value pairs for geo
 * variables"): the client's country, or its autonomous system.
 */
export type GeoCriterion = { COUNTRY_CODE: string; ASN?: undefined } | { ASN: number; COUNTRY_CODE?: undefined };

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
  /** The client's autonomous system number; null or absent when unknown. */
  asn?: number | null;
  ip: string;
}

export type FilterAction = 'none' | 'warn' | 'challenge' | 'block';

export interface FilterOutcome {
  action: FilterAction;
  /** The HTTP status to answer with, for `block` only. */
  status?: number;
  /** The rule that decided: the lowest id among the matching rules of the winning action (BLOCK over CHALLENGE over WARN). */
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
