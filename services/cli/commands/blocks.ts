// block, unblock, blocks: blocks in force (/api/security/blocked-ips).
import { printable, table, when } from '../table.js';
import { CONNECTION, deploymentText, durationSeconds, positionals, type ApiCommand } from './common.js';

/** A block as the API lists it (GET /api/security/blocked-ips). */
export interface Block {
  ip: string;
  /** block or challenge (absent from older servers: block). */
  action?: string;
  reason: string;
  source: string;
  created_at: number;
  expires_at: number | null;
  deployment: string;
  escalation_level: number;
}

/** A path segment for an address or a CIDR (the API takes a range as /ADDR/BITS). */
function ipPath(ip: string): string {
  return ip.split('/').map(encodeURIComponent).join('/');
}

export const block: ApiCommand = {
  options: [...CONNECTION, 'duration', 'reason', 'permanent', 'deployment', 'force', 'challenge'],
  async run(api, args, opts, io) {
    const [ip] = positionals(args, 1, 1, 'block IP|CIDR [--duration 24h] [--reason TEXT] [--permanent] [--deployment D] [--force] [--challenge]');
    const body: Record<string, unknown> = { ip: ip };
    if (opts.challenge) body.action = 'challenge';
    if (opts.reason !== undefined) body.reason = opts.reason;
    if (opts.duration !== undefined) body.duration = durationSeconds(opts.duration, 'duration');
    if (opts.permanent) body.permanent = true;
    if (opts.deployment !== undefined) body.deployment = opts.deployment;
    if (opts.force) body.force = true;
    const r = await api.call<Block>('POST', '/api/security/blocked-ips', { body });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    const b = r.data;
    io.out(printable(`${b.action === 'challenge' ? 'challenged' : 'blocked'} ${b.ip} (${deploymentText(b.deployment)}) ${b.expires_at === null ? 'permanently' : `until ${when(b.expires_at)}`}: ${b.reason}`) + '\n');
  },
};

export const unblock: ApiCommand = {
  options: CONNECTION,
  async run(api, args, opts, io) {
    const [ip] = positionals(args, 1, 1, 'unblock IP|CIDR');
    const r = await api.call<{ ip: string }>('DELETE', `/api/security/blocked-ips/${ipPath(ip as string)}`);
    io.out(opts.json ? `${JSON.stringify(r)}\n` : `${printable(r.message ?? `${r.data.ip} unblocked`)}\n`);
  },
};

export const blocks: ApiCommand = {
  options: [...CONNECTION, 'source', 'ip', 'deployment', 'limit'],
  async run(api, args, opts, io) {
    positionals(args, 0, 0, 'blocks [--source auto|manual|filter|feed|feed:NAME] [--ip IP|CIDR] [--deployment D] [--limit N]');
    const r = await api.call<Block[]>('GET', '/api/security/blocked-ips', { query: { source: opts.source, ip: opts.ip, deployment: opts.deployment, limit: opts.limit } });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    if (r.data.length === 0) return io.out('no blocks in force\n');
    io.out(table(['IP', 'SOURCE', 'DEPLOYMENT', 'EXPIRES', 'SINCE', 'REASON'], r.data.map((b) => [b.ip, b.action === 'challenge' ? `${b.source} (challenge)` : b.source, b.deployment || '*', b.expires_at === null ? 'permanent' : when(b.expires_at), when(b.created_at), b.reason])));
    if (r.total !== undefined && r.total > r.data.length) io.out(`${r.data.length} of ${r.total} blocks (--limit N for more)\n`);
  },
};
