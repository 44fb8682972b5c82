// The detector service (service.ts) run with the control plane's view: the
// run-time security settings, the whitelist and the security_filter rule set
// the nodes run (the config's levels composed with the API's). It follows the
// control state itself: a change of any restarts the detectors (debounced, so a burst of
// API calls is one restart), and each rebuilds its last window from the log.
import { withSecurityOverrides } from '../../shared/control/settings.js';
import { composeWhitelist } from '../../shared/control/whitelist.js';
import type { ControlEvent } from '../../shared/control/state.js';
import { componentLogger } from '../../shared/log.js';
import type { Started, ServiceContext } from '../context.js';
import { DetectorService } from './service.js';

const log = componentLogger('detector');

const RESTART_DEBOUNCE_MS = 1_000;

export async function start(ctx: ServiceContext): Promise<Started> {
  const { config, bus, topics, control } = ctx;
  const create = (): DetectorService => new DetectorService({
    config: withSecurityOverrides(config, control),
    bus,
    topics,
    whitelist: composeWhitelist(config.detection.whitelist, control),
    securityFilter: control.ruleSet(),
  });
  let detector = create();
  await detector.start();
  let pending: NodeJS.Timeout | undefined;
  let restarting = Promise.resolve();
  const restart = (): void => {
    restarting = restarting.then(async () => {
      await detector.close();
      detector = create();
      await detector.start();
      log.info('detectors restarted with the new control-plane settings');
    }).catch((err: unknown) => log.error({ err }, 'detector restart failed'));
  };
  const onChange = (e: ControlEvent): void => {
    if (e.kind !== 'whitelist' && e.kind !== 'filter' && !(e.kind === 'setting' && e.id === 'security')) return;
    if (pending) clearTimeout(pending);
    pending = setTimeout(restart, RESTART_DEBOUNCE_MS);
    pending.unref();
  };
  control.on('change', onChange);
  return {
    stop: async () => {
      control.off('change', onChange);
      if (pending) clearTimeout(pending);
      await restarting;
      await detector.close();
    },
  };
}
