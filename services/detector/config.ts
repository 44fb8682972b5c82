// From the validated configuration to the engine's settings.
import type { Config } from '../../shared/config/load.js';
import { ConfigError } from '../../shared/config/errors.js';
import { composeWhitelist, type ComposedWhitelist } from '../../shared/control/whitelist.js';
import type { EngineConfig } from './engine.js';
import { validateRuleSet, type RuleSet } from '../../shared/security-filter/index.js';
import { SHIPPED_SIGNATURES } from './signatures.js';

function ruleSetOf(doc: Record<string, unknown>): RuleSet {
  const v = validateRuleSet({ version: 1, ...doc });
  if (!v.ok) throw new ConfigError('security_filter', v.errors.map((e) => ({ path: e.path ? `security_filter.${e.path}` : 'security_filter', reason: e.message })));
  return v.ruleSet;
}

/** `whitelist`: the composed whitelist (config and control plane, shared/control/whitelist.ts); the config file's alone when absent. */
export function engineConfig(config: Config, whitelist: ComposedWhitelist = composeWhitelist(config.detection.whitelist, undefined)): EngineConfig {
  const s = config.security;
  const d = config.detection;
  return {
    windowMs: s.detection_window_ms,
    scanIntervalMs: s.scan_interval_ms,
    rateThreshold: s.rate_threshold,
    notFoundThreshold: s.not_found_threshold,
    authFailureThreshold: s.auth_failure_threshold,
    uniquePathsThreshold: s.unique_paths_threshold,
    repeatedHitsThreshold: s.repeated_hits_threshold,
    autoBlock: {
      enabled: s.auto_block_enabled,
      threshold: s.auto_block_threshold,
      durationMs: s.auto_block_duration_ms,
      escalationFactor: d.escalation_factor,
      maxDurationMs: d.max_block_duration_ms,
      memoryMs: d.escalation_memory_ms,
    },
    lateToleranceMs: d.late_tolerance_ms,
    offenceHalfLifeMs: d.offence_half_life_ms,
    ipv6ClientPrefix: d.ipv6_client_prefix,
    rangeEscalation: d.range_escalation.enabled
      ? { minIps: d.range_escalation.min_ips, ipv4Prefix: d.range_escalation.ipv4_prefix, ipv6Prefix: d.range_escalation.ipv6_prefix }
      : undefined,
    authPaths: new RegExp(d.auth_paths),
    staticAssets: d.static_assets === '' ? undefined : new RegExp(d.static_assets, 'i'),
    whitelist: whitelist.global,
    deploymentWhitelist: whitelist.deployments,
    signatures: [...SHIPPED_SIGNATURES, ...d.signatures],
    // Validated by loadConfig (validateRuleSet); the document's shape is the RuleSet's.
    securityFilter: Object.keys(config.security_filter).length > 0 ? ruleSetOf(config.security_filter) : undefined,
  };
}
