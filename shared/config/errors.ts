// The errors of loading logwarden.yaml. Any problem stops the start with the
// path of each bad key, so the operator fixes them all in one go.
import { def, defineErrors, LogwardenError } from '../errors.js';

export const CONFIG_ERRORS = defineErrors('config', {
  LW_CONFIG_INVALID: def('LW_CONFIG_INVALID', 'the configuration (file, environment overrides or secrets) is invalid; each issue names its key'),
});

export interface ConfigIssue {
  /** Dotted path of the key, e.g. `security.rate_threshold` or `nodes[0].url`. */
  path: string;
  reason: string;
}

export class ConfigError extends LogwardenError {
  declare readonly code: 'LW_CONFIG_INVALID';
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(CONFIG_ERRORS.LW_CONFIG_INVALID, `invalid configuration (${source}):\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.reason}`).join('\n'));
  }
}
