// The configuration's security_filter levels as one rule set. The `security:`
// block is FlatRun's and the CDN document writes its rules as
// `"security": { "security_filter": { ... } }`, so that document's block pasted
// as it is lands here as the property level; the domain and path levels sit
// beside it (security_filter_domains, security_filter_paths). The control plane
// composes this set with the levels set through the API (shared/control/state.ts),
// and nodes and detectors both run the result.
import { validateRuleSet, type RuleSet } from '../security-filter/index.js';
import type { ConfigIssue } from './errors.js';
import type { SecurityConfig } from './types.js';

/** The config's levels as a rule set, unvalidated; null when it sets none. */
function composeLevels(s: SecurityConfig): RuleSet | null {
  const rs: RuleSet = { version: 1 };
  if (Object.keys(s.security_filter).length > 0) rs.property = s.security_filter;
  if (Object.keys(s.security_filter_domains).length > 0) rs.domains = s.security_filter_domains;
  if (s.security_filter_paths.length > 0) rs.paths = s.security_filter_paths;
  return rs.property || rs.domains || rs.paths ? rs : null;
}

/** The config's security_filter levels (validated at load), or null when the file sets none. */
export function configRuleSet(config: { security: SecurityConfig }): RuleSet | null {
  const rs = composeLevels(config.security);
  if (!rs) return null;
  const v = validateRuleSet(rs);
  // loadConfig refused the file otherwise; a hand-built Config in a test may not have been checked.
  if (!v.ok) throw new Error(`invalid security_filter in the config: ${v.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return v.ruleSet;
}

/** The rule-set document's field paths, renamed to where the config file holds them. */
function configPath(path: string): string {
  if (path === '') return 'security.security_filter';
  if (path.startsWith('property')) return `security.security_filter${path.slice('property'.length)}`;
  if (path.startsWith('domains')) return `security.security_filter_domains${path.slice('domains'.length)}`;
  if (path.startsWith('paths')) return `security.security_filter_paths${path.slice('paths'.length)}`;
  return `security.${path}`;
}

/** Every problem of the config's levels, named by its path in the file. */
export function configRuleSetIssues(config: { security: SecurityConfig }): ConfigIssue[] {
  const rs = composeLevels(config.security);
  if (!rs) return [];
  const v = validateRuleSet(rs);
  return v.ok ? [] : v.errors.map((e) => ({ path: configPath(e.path), reason: e.message }));
}
