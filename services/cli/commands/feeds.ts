// feeds: each blocklist feed's state, size, last refresh and error (/api/feeds);
// feeds add / rm: feeds kept by the API beside the config file's.
// The feeds' blocks: logwarden blocks --source feed:<name> (or --source feed).
import { formatDuration } from '../../../shared/config/duration.js';
import { printable, table, when } from '../table.js';
import { UsageError } from '../errors.js';
import { CONNECTION, positionals, type ApiCommand, type ApiOptionValues } from './common.js';

/** A feed as the API shows it (GET /api/feeds). */
export interface FeedRow {
  name: string;
  origin: string;
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

const USAGE = 'feeds [ls] | feeds add NAME SOURCE [--format plain|csv] [--column N] [--refresh 1h] [--block-duration 24h] [--deployment D] [--timeout 30s] [--max-size 32MiB] | feeds rm NAME';

/** The API's feed body from the options (durations and sizes as the config writes them). */
function specOf(name: string, source: string, opts: ApiOptionValues): Record<string, unknown> {
  const body: Record<string, unknown> = { name, source };
  if (opts.format !== undefined) body.format = opts.format;
  if (opts.column !== undefined) {
    if (!/^\d{1,4}$/.test(opts.column)) throw new UsageError(`--column takes a column number (1 = first), not "${opts.column}"`);
    body.column = Number(opts.column);
  }
  if (opts.refresh !== undefined) body.refresh = opts.refresh;
  if (opts['block-duration'] !== undefined) body.block_duration = opts['block-duration'];
  if (opts.deployment !== undefined) body.deployment = opts.deployment;
  if (opts.timeout !== undefined) body.timeout = opts.timeout;
  if (opts['max-size'] !== undefined) body.max_size = opts['max-size'];
  return body;
}

export const feeds: ApiCommand = {
  options: [...CONNECTION, 'format', 'column', 'refresh', 'block-duration', 'deployment', 'timeout', 'max-size'],
  async run(api, args, opts, io) {
    const [sub = 'ls', ...rest] = args;
    if (sub === 'add') {
      const [name, source] = positionals(rest, 2, 2, USAGE);
      const r = await api.call<{ name: string }>('POST', '/api/feeds', { body: specOf(name as string, source as string, opts) });
      return io.out(opts.json ? `${JSON.stringify(r)}\n` : `${printable(r.message ?? `feed ${r.data.name} saved`)}\n`);
    }
    if (sub === 'rm') {
      const [name] = positionals(rest, 1, 1, USAGE);
      const r = await api.call<{ name: string }>('DELETE', `/api/feeds/${encodeURIComponent(name as string)}`);
      return io.out(opts.json ? `${JSON.stringify(r)}\n` : `${printable(r.message ?? `feed ${r.data.name} removed`)}\n`);
    }
    if (sub !== 'ls') throw new UsageError(USAGE);
    positionals(rest, 0, 0, USAGE);
    for (const o of ['format', 'column', 'refresh', 'block-duration', 'deployment', 'timeout', 'max-size'] as const) {
      if (opts[o] !== undefined) throw new UsageError(`--${o} applies to feeds add`);
    }
    const r = await api.call<FeedRow[]>('GET', '/api/feeds');
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    if (r.data.length === 0) return io.out('no feeds configured (feeds: in the config file)\n');
    io.out(table(
      ['FEED', 'ORIGIN', 'STATE', 'BLOCKS', 'LISTED', 'WHITELISTED', 'INVALID', 'EVERY', 'LAST REFRESH', 'LAST SUCCESS', 'SOURCE'],
      r.data.map((f) => [f.name, f.origin, f.state, f.size, f.listed, f.whitelisted, f.invalid_lines, formatDuration(f.refresh_ms), when(f.last_refresh_at), when(f.last_success_at), f.source]),
    ));
    for (const f of r.data) {
      if (f.last_error) io.out(printable(`${f.name}: ${f.last_error.code} at ${when(f.last_error.at)} (${f.consecutive_failures} in a row): ${f.last_error.message}; its last good set stays in force`) + '\n');
    }
  },
};
