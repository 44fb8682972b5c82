// The feeds service (feed.ts): every feed of the config's `feeds:` and every
// feed added through the API (the control plane's `feeds` setting), each
// refreshed on its own timer, its difference published as decisions of source
// feed:<name>. It runs where the API runs: it writes through the control store,
// and the API shows its status. A feed added through the API starts at once; one
// removed stops and its blocks are lifted; one changed restarts from what
// control_blocks holds for it (only the difference is applied).
import { isDeepStrictEqual } from 'node:util';
import { resolveFeed } from '../../shared/config/feeds.js';
import type { ControlEvent, Settings } from '../../shared/control/state.js';
import { componentLogger } from '../../shared/log.js';
import { busNoticePublisher } from '../../shared/notices.js';
import type { Started, StorageContext } from '../context.js';
import { Feed, type FeedStatus } from './feed.js';

export type { FeedStatus };
export { FEED_ERRORS } from './errors.js';

const log = componentLogger('feeds');

export interface StartedFeeds extends Started {
  /** Each feed's state, size, last refresh and error: the config's first, then the API's by name. */
  status(): FeedStatus[];
}

type ApiFeeds = NonNullable<Settings['feeds']>;

export async function start(ctx: StorageContext): Promise<StartedFeeds> {
  const { config, store, control } = ctx;
  const deps = { store, control, configWhitelist: config.detection.whitelist, notices: busNoticePublisher(ctx.bus, ctx.topics) };
  const fromConfig = config.feeds.map((f) => new Feed(f, deps));
  const fromApi = new Map<string, { feed: Feed; spec: ApiFeeds[string] }>();
  let syncing: Promise<void> = Promise.resolve();

  const sync = async (): Promise<void> => {
    const want = control.setting<ApiFeeds>('feeds') ?? {};
    for (const [name, running] of fromApi) {
      const spec = want[name];
      if (spec && isDeepStrictEqual(spec, running.spec)) continue;
      fromApi.delete(name);
      // Changed: the new one takes over what the old one holds; removed: lifted.
      if (spec) await running.feed.stop();
      else await running.feed.remove();
    }
    for (const [name, spec] of Object.entries(want)) {
      if (fromApi.has(name) || config.feeds.some((f) => f.name === name)) continue;
      const feed = new Feed(resolveFeed(spec), deps, 'api');
      fromApi.set(name, { feed, spec });
      await feed.start();
    }
  };
  const resync = (): void => {
    syncing = syncing.then(sync).catch((err: unknown) => log.error({ err }, 'feeds added through the API not synced'));
  };

  let pending: NodeJS.Timeout | undefined;
  const onChange = (e: ControlEvent): void => {
    if (e.kind === 'setting' && e.id === 'feeds') resync();
    if (e.kind !== 'whitelist' || pending) return;
    // Changes arriving together (a burst of API calls) are applied once.
    pending = setTimeout(() => {
      pending = undefined;
      for (const f of [...fromConfig, ...[...fromApi.values()].map((x) => x.feed)]) void f.reapply();
    }, 50);
    pending.unref();
  };
  control.on('change', onChange);
  for (const f of fromConfig) await f.start();
  resync();
  await syncing;
  return {
    status: () => [...fromConfig, ...[...fromApi.values()].map((x) => x.feed).sort((a, b) => (a.config.name < b.config.name ? -1 : 1))].map((f) => f.status()),
    stop: async () => {
      control.off('change', onChange);
      if (pending) clearTimeout(pending);
      await syncing;
      await Promise.all([...fromConfig, ...[...fromApi.values()].map((x) => x.feed)].map((f) => f.stop()));
    },
  };
}
