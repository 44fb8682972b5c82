// Run-time settings: the control plane's overrides of the config file's
// `security:` block and its realtime_capture (PUT /api/security/config,
// /realtime-capture), applied in one place.
import type { Config } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import type { ControlState } from './state.js';

const DURATION_SETTINGS: Record<string, keyof Config['security']> = {
  scan_interval: 'scan_interval_ms',
  auto_block_duration: 'auto_block_duration_ms',
  detection_window: 'detection_window_ms',
};

/**
 * The config with the control plane's run-time `security:` overrides applied
 * (durations converted as the loader does): what the detectors run with and
 * what the API reports and applies. Keys unknown or of the wrong type are ignored.
 */
export function withSecurityOverrides(config: Config, control: ControlState): Config {
  const over = control.setting<Record<string, unknown>>('security');
  if (!over) return config;
  const security: Record<string, unknown> = { ...config.security };
  for (const [k, v] of Object.entries(over)) {
    const msKey = DURATION_SETTINGS[k];
    if (msKey) {
      const ms = typeof v === 'string' ? parseDuration(v) : undefined;
      if (ms !== undefined && ms > 0) security[msKey] = ms;
    } else if (k in security && typeof v === typeof security[k]) security[k] = v;
  }
  return { ...config, security: security as unknown as Config['security'] };
}

/**
 * Whether every request is stored (the requests sink, the API's live tail):
 * the control plane's realtime_capture setting once someone set it (PUT
 * /api/security/realtime-capture or /config), until then the config file's.
 * The one path: nothing else switches capture.
 */
export function realtimeCapture(config: Config, control: ControlState): boolean {
  const v = control.setting<unknown>('realtime_capture');
  return typeof v === 'boolean' ? v : config.security.realtime_capture;
}
