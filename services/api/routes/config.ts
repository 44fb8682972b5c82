// /api/security/config: the effective `security:` settings (the config file's,
// then run-time changes), and the run-time changes themselves — persisted as
// control settings, never written back to the config file.
import type { FastifyInstance } from 'fastify';
import { formatDuration, parseDuration } from '../../../shared/config/duration.js';
import type { Config } from '../../../shared/config/load.js';
import { withSecurityOverrides } from '../../../shared/control/settings.js';
import type { ControlState } from '../../../shared/control/state.js';
import { invalid } from '../errors.js';
import { actor, envelope, type RouteDeps } from './common.js';

/** Settings of the `security:` block that may change at run time (durations as in the config file). */
const RUNTIME_SECURITY = {
  enabled: { type: 'boolean' },
  scan_interval: { type: 'string', format: 'duration' },
  retention_days: { type: 'integer', minimum: 1, maximum: 3650 },
  rate_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  auto_block_enabled: { type: 'boolean' },
  auto_block_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  auto_block_duration: { type: 'string', format: 'duration' },
  detection_window: { type: 'string', format: 'duration' },
  not_found_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  auth_failure_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  unique_paths_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  repeated_hits_threshold: { type: 'integer', minimum: 1, maximum: 10_000_000 },
} as const;
const DURATION_KEYS = new Set(['scan_interval', 'auto_block_duration', 'detection_window']);
const configSchema = envelope({ type: 'object', additionalProperties: true, properties: { realtime_capture: { type: 'boolean' }, ...RUNTIME_SECURITY } });

/** The effective `security:` settings: the config file's, then run-time overrides. Durations as the file writes them. */
function effectiveSecurity(config: Config, state: ControlState, capture: boolean): Record<string, unknown> {
  const s = withSecurityOverrides(config, state).security;
  return {
    enabled: s.enabled,
    realtime_capture: capture,
    scan_interval: formatDuration(s.scan_interval_ms),
    retention_days: s.retention_days,
    rate_threshold: s.rate_threshold,
    auto_block_enabled: s.auto_block_enabled,
    auto_block_threshold: s.auto_block_threshold,
    auto_block_duration: formatDuration(s.auto_block_duration_ms),
    detection_window: formatDuration(s.detection_window_ms),
    not_found_threshold: s.not_found_threshold,
    auth_failure_threshold: s.auth_failure_threshold,
    unique_paths_threshold: s.unique_paths_threshold,
    repeated_hits_threshold: s.repeated_hits_threshold,
  };
}

export function registerConfig(app: FastifyInstance, deps: RouteDeps): void {
  const { store, state } = deps.control;
  app.get('/api/security/config', { config: { auth: 'analyst' }, schema: { summary: 'Effective security settings (config file, then run-time changes)', response: { 200: configSchema } } }, () => ({
    data: effectiveSecurity(deps.config, state, deps.state.capture),
  }));
  app.put<{ Body: Record<string, unknown> }>(
    '/api/security/config',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Change security settings at run time (persisted; the config file is not rewritten)',
        description: 'Keys of the security: block; durations as in the config file ("30s", "24h"). retention_days applies to the tables at the next start.',
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { realtime_capture: { type: 'boolean' }, ...RUNTIME_SECURITY } },
        response: { 200: configSchema },
      },
    },
    async (req) => {
      const { realtime_capture: capture, ...rest } = req.body as Record<string, unknown> & { realtime_capture?: boolean };
      for (const [k, v] of Object.entries(rest)) {
        if (DURATION_KEYS.has(k) && (parseDuration(v as string) ?? 0) <= 0) throw invalid(k, 'must be a positive duration');
      }
      if (Object.keys(rest).length > 0) {
        const merged = { ...(state.setting<Record<string, number | boolean | string>>('security') ?? {}), ...rest } as Record<string, number | boolean>;
        await store.putSetting('security', merged, actor(req));
      }
      if (capture !== undefined) {
        await store.putSetting('realtime_capture', capture, actor(req));
      }
      return { data: effectiveSecurity(deps.config, state, deps.state.capture), message: 'settings updated' };
    },
  );
}
