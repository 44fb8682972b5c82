// refresh: every enforcer pushes the full state to its nodes now (/api/security/refresh).
import { printable } from '../table.js';
import { CONNECTION, positionals, type ApiCommand } from './common.js';

export const refresh: ApiCommand = {
  options: CONNECTION,
  async run(api, args, opts, io) {
    positionals(args, 0, 0, 'refresh');
    const r = await api.call<{ refreshed: boolean; local_enforcer?: boolean }>('POST', '/api/security/refresh');
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    io.out(`${printable(r.message ?? 'refreshed')}${r.data.local_enforcer ? '' : ' (requested; no enforcer in the API process: the enforcers re-push on their own)'}\n`);
  },
};
