// The feeds service (feed.ts): every feed of the config's `feeds:` refreshed
// on its own timer, its difference published as decisions of source
// feed:<name>. It runs where the API runs (it writes through the control
// store, and the API shows its status); with no feeds nothing starts.
import type { ControlEvent } from '../../shared/control/state.js';
import type { Started, StorageContext } from '../context.js';
import { Feed, type FeedStatus } from './feed.js';

export type { FeedStatus };
export { FEED_ERRORS } from './errors.js';

export interface StartedFeeds extends Started {
  /** Each feed's state, size, last refresh and error, in config order. */
  status(): FeedStatus[];
}

export async function start(ctx: StorageContext): Promise<StartedFeeds | undefined> {
  const { config, store, control } = ctx;
  if (config.feeds.length === 0) return undefined;
  const feeds = config.feeds.map((f) => new Feed(f, { store, control, configWhitelist: config.detection.whitelist }));
  // The whitelist always wins, also over blocks already applied.
  let pending: NodeJS.Timeout | undefined;
  const onChange = (e: ControlEvent): void => {
    if (e.kind !== 'whitelist' || pending) return;
    // Changes arriving together (a burst of API calls) are applied once.
    pending = setTimeout(() => {
      pending = undefined;
      for (const f of feeds) void f.reapply();
    }, 50);
    pending.unref();
  };
  control.on('change', onChange);
  for (const f of feeds) await f.start();
  return {
    status: () => feeds.map((f) => f.status()),
    stop: async () => {
      control.off('change', onChange);
      if (pending) clearTimeout(pending);
      await Promise.all(feeds.map((f) => f.stop()));
    },
  };
}
