// The API service: the management API (server.ts) listening on api.host:port,
// over this process's ClickHouse and control plane. Disabled in the config
// (api.enabled: false), nothing starts.
import { VERSION } from '../../shared/version.js';
import type { Started, StorageContext } from '../context.js';
import { ensureAdminToken, readTokenFile } from '../../shared/auth/tokens.js';
import { buildApi } from './server.js';
import type { FeedStatus } from '../feeds/index.js';

export interface ApiStartOptions {
  /** With no token configured or stored yet, generate an admin token (embedded mode's first start). */
  generateToken?: boolean;
  /** An enforcer runs in this process: POST /refresh waits for its full re-push. */
  refresh?: () => Promise<void>;
  /** Blocklist feeds run in this process: GET /api/feeds shows their status. */
  feeds?: () => readonly FeedStatus[];
}

export interface StartedApi extends Started {
  port: number;
  /** An admin token generated at this start; print it once. */
  newAdminToken: string | undefined;
}

export async function start(ctx: StorageContext, opts: ApiStartOptions = {}): Promise<StartedApi | undefined> {
  const { config, bus, ch, topics, control, store } = ctx;
  if (!config.api.enabled) return undefined;
  const newAdminToken = opts.generateToken ? ensureAdminToken(config.api.token_file, config.api.tokens) : undefined;
  const app = buildApi({
    config, bus, ch, version: VERSION, topics, control: { state: control, store },
    ...(opts.refresh ? { refresh: opts.refresh } : {}),
    ...(opts.feeds ? { feeds: opts.feeds } : {}),
    tokens: readTokenFile(config.api.token_file),
  });
  try {
    await app.listen({ host: config.api.host, port: config.api.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const addr = app.server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : config.api.port, newAdminToken, stop: () => app.close() };
}
