// stats: events by type, blocked addresses, top offenders, recent threats (/api/security/stats).
import { table, when } from '../table.js';
import { CONNECTION, positionals, type ApiCommand } from './common.js';
import type { SecurityEvent } from './events.js';

export const stats: ApiCommand = {
  options: CONNECTION,
  async run(api, args, opts, io) {
    positionals(args, 0, 0, 'stats');
    const r = await api.call<{
      from?: number; to?: number; total_events: number; events_by_type: Record<string, number>; blocked_ips: number;
      recent_threats: SecurityEvent[]; top_offending_ips: Array<{ ip?: string; events?: number; requests?: number }>;
    }>('GET', '/api/security/stats');
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    const s = r.data;
    io.out(`events ${s.from !== undefined ? `from ${when(s.from)} to ${when(s.to)}` : '(last 24 h)'}: ${s.total_events}\n`);
    io.out(table(['  TYPE', 'EVENTS'], Object.entries(s.events_by_type).map(([t, n]) => [`  ${t}`, n])));
    io.out(`blocked IPs: ${s.blocked_ips}\n`);
    if (s.top_offending_ips.length > 0) {
      io.out('\ntop offending IPs:\n');
      io.out(table(['  IP', 'EVENTS', 'REQUESTS'], s.top_offending_ips.map((t) => [`  ${t.ip ?? '-'}`, t.events, t.requests])));
    }
    if (s.recent_threats.length > 0) {
      io.out('\nrecent threats:\n');
      io.out(table(['  TIME', 'TYPE', 'IP', 'DEPLOYMENT', 'DETECTOR'], s.recent_threats.map((e) => [`  ${when(e.ts)}`, e.type, e.ip, e.deployment, e.detector])));
    }
  },
};
