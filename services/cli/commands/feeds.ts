// feeds: each blocklist feed's state, size, last refresh and error (/api/feeds).
// The feeds' blocks: logwarden blocks --source feed:<name> (or --source feed).
import { formatDuration } from '../../../shared/config/duration.js';
import { printable, table, when } from '../table.js';
import { CONNECTION, positionals, type ApiCommand } from './common.js';

/** A feed as the API shows it (GET /api/feeds). */
export interface FeedRow {
  name: string;
  source: string;
  state: string;
  size: number;
  listed: number;
  whitelisted: number;
  invalid_lines: number;
  refresh_ms: number;
  last_refresh_at: number | null;
  last_success_at: number | null;
  consecutive_failures: number;
  last_error: { code: string; message: string; at: number } | null;
}

export const feeds: ApiCommand = {
  options: CONNECTION,
  async run(api, args, opts, io) {
    positionals(args, 0, 0, 'feeds');
    const r = await api.call<FeedRow[]>('GET', '/api/feeds');
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    if (r.data.length === 0) return io.out('no feeds configured (feeds: in the config file)\n');
    io.out(table(
      ['FEED', 'STATE', 'BLOCKS', 'LISTED', 'WHITELISTED', 'INVALID', 'EVERY', 'LAST REFRESH', 'LAST SUCCESS', 'SOURCE'],
      r.data.map((f) => [f.name, f.state, f.size, f.listed, f.whitelisted, f.invalid_lines, formatDuration(f.refresh_ms), when(f.last_refresh_at), when(f.last_success_at), f.source]),
    ));
    for (const f of r.data) {
      if (f.last_error) io.out(printable(`${f.name}: ${f.last_error.code} at ${when(f.last_error.at)} (${f.consecutive_failures} in a row): ${f.last_error.message}; its last good set stays in force`) + '\n');
    }
  },
};
