// CDN-style `security_filter` rules (user agent, country, client address,
// each with exceptions; WARN or BLOCK with a status), evaluated on the stream
// for nodes that run without the Lua module. The semantics are written down in
// schemas/security-filter/README.md and pinned by schemas/security-filter/vectors.json,
// which the Lua engine runs too: change one side only together with the vectors.
//
// A rule set is validated (validate.ts) and compiled (compile.ts) once;
// `evaluate` (evaluate.ts) then runs per request. The limits and the country
// list are data (limits.ts reads schemas/security-filter/limits.json, which
// Lua reads too).
export type * from './types.js';
export { BLOCK_STATUS, CHALLENGE, COUNTRY_CODES, HOST_PATTERN, IP_ENTRY_PATTERN, IPV4_SOURCE, IPV6_SOURCE, LIMITS, ON_FILTERED, PATH_PATTERN, RULE_ID_PATTERN, USER_AGENT_PATTERN } from './limits.js';
export { validateRuleSet } from './validate.js';
export { globRegExp, type GlobMode } from './compile.js';
export { SecurityFilterEngine, compileRuleSet, normalizeHost } from './evaluate.js';
