// capture [on|off]: real-time capture of every request (/api/security/realtime-capture).
import type { Envelope } from '../api-client.js';
import { UsageError } from '../errors.js';
import { CONNECTION, positionals, type ApiCommand } from './common.js';

export const capture: ApiCommand = {
  options: CONNECTION,
  async run(api, args, opts, io) {
    const [state] = positionals(args, 0, 1, 'capture [on|off]');
    let r: Envelope<{ enabled: boolean }>;
    if (state === undefined) r = await api.call('GET', '/api/security/realtime-capture');
    else if (state === 'on' || state === 'off') r = await api.call('PUT', '/api/security/realtime-capture', { body: { enabled: state === 'on' } });
    else throw new UsageError(`capture takes on or off, not "${state}"`);
    io.out(opts.json ? `${JSON.stringify(r)}\n` : `real-time capture ${r.data.enabled ? 'on' : 'off'}\n`);
  },
};
