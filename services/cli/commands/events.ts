// events: security events (/api/security/events), as a page or followed live.
import { parseDuration } from '../../../shared/config/duration.js';
import type { Query } from '../api-client.js';
import { printable, table, when } from '../table.js';
import { UsageError } from '../errors.js';
import { CONNECTION, positionals, type ApiCommand } from './common.js';

export interface SecurityEvent {
  ts: number;
  type: string;
  ip: string;
  deployment: string;
  count: number;
  detector: string;
  sample_paths?: string[];
}

/** --since: a duration ("1h": that long ago) or a time the API reads (epoch ms, ISO 8601). */
export function sinceParam(text: string, now = Date.now()): string {
  const ms = /^\d+$/.test(text) ? undefined : parseDuration(text);
  return ms === undefined ? text : String(now - ms);
}

function eventLine(e: SecurityEvent): string {
  const path = e.sample_paths?.[0];
  return printable(`${when(e.ts)}  ${e.type}  ${e.ip}  ${e.deployment || '-'}  count=${e.count}  detector=${e.detector}${path ? `  ${path}` : ''}`);
}

export const events: ApiCommand = {
  options: [...CONNECTION, 'type', 'ip', 'deployment', 'since', 'limit', 'follow'],
  async run(api, args, opts, io) {
    positionals(args, 0, 0, 'events [--type T] [--ip IP|CIDR] [--deployment D] [--since 1h|TIME] [--limit N] [--follow]');
    const filters: Query = { type: opts.type, ip: opts.ip, deployment: opts.deployment };
    if (opts.follow) {
      if (opts.since !== undefined || opts.limit !== undefined) throw new UsageError('events --follow shows what happens from now on: it takes --type, --ip, --deployment (not --since, --limit)');
      io.err('following security events (interrupt to stop)\n');
      await api.stream('/api/security/events/stream', filters, (name, data) => {
        if (name !== 'security_event') return;
        if (opts.json) return io.out(`${data}\n`);
        try {
          io.out(`${eventLine(JSON.parse(data) as SecurityEvent)}\n`);
        } catch {
          io.out(`${printable(data)}\n`);
        }
      }, io.interrupted);
      return;
    }
    const r = await api.call<SecurityEvent[]>('GET', '/api/security/events', { query: { ...filters, since: opts.since === undefined ? undefined : sinceParam(opts.since), limit: opts.limit } });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    if (r.data.length === 0) return io.out('no events\n');
    io.out(table(['TIME', 'TYPE', 'IP', 'DEPLOYMENT', 'COUNT', 'DETECTOR', 'SAMPLE PATH'], r.data.map((e) => [when(e.ts), e.type, e.ip, e.deployment, e.count, e.detector, e.sample_paths?.[0]])));
    if (r.next_cursor) io.out(`(more: --limit N, or --since an earlier time)\n`);
  },
};
