// From the validated configuration to the engine's settings.
import type { Config } from '../../shared/config/load.js';
import { composeWhitelist, type ComposedWhitelist } from '../../shared/control/whitelist.js';
import type { EngineConfig } from './engine.js';
import { configRuleSet } from '../../shared/config/security-filter.js';
import type { RuleSet } from '../../shared/security-filter/index.js';
import { SHIPPED_SIGNATURES } from './signatures.js';

/**
 * `whitelist`: the composed whitelist (config and control plane, shared/control/whitelist.ts); the
 * config file's alone when absent. `securityFilter`: the rule set nodes enforce, the config's levels
 * composed with the API's (ControlState.ruleSet()); without a control plane (a backtest), the config's.
 */
export function engineConfig(
  config: Config,
  whitelist: ComposedWhitelist = composeWhitelist(config.detection.whitelist, undefined),
  securityFilter: RuleSet | null = configRuleSet(config),
): EngineConfig {
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
    challenge: { threshold: d.challenge_threshold, durationMs: d.challenge_duration_ms },
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
    securityFilter: securityFilter ?? undefined,
  };
}
