// The errors of the detectors and the backtest (LW_DETECTOR_*). A bad
// security_filter in the configuration is a ConfigError (LW_CONFIG_INVALID).
import { def, defineErrors } from '../../shared/errors.js';

export const DETECTOR_ERRORS = defineErrors('detector', {
  LW_DETECTOR_BACKTEST_WORKER_FAILED: def('LW_DETECTOR_BACKTEST_WORKER_FAILED', 'a backtest worker thread exited before it reported its shard'),
  LW_DETECTOR_SIGNATURES_MISSING: def('LW_DETECTOR_SIGNATURES_MISSING', 'the shipped signature set (services/detector/signatures/shipped.json) is not beside the installed code'),
  LW_DETECTOR_CRAWLERS_MISSING: def('LW_DETECTOR_CRAWLERS_MISSING', 'the shipped crawler list (services/detector/crawlers/known.json) is not beside the installed code'),
});
