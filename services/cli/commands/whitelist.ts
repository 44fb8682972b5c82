// whitelist add|rm|ls: addresses, ranges and paths never blocked (/api/security/whitelist).
import { printable, table, when } from '../table.js';
import { UsageError } from '../errors.js';
import { CONNECTION, deploymentText, listAll, pick, positionals, type ApiCommand } from './common.js';

interface WhitelistEntry {
  id: string;
  type: string;
  value: string;
  description: string;
  deployment: string;
  created_at: number;
}

/** The whitelist type a value is: a path starts with "/", a range has a "/" after its address. */
export function inferWhitelistType(value: string): 'ip' | 'cidr' | 'path' {
  if (value.startsWith('/')) return 'path';
  return value.includes('/') ? 'cidr' : 'ip';
}

export const whitelist: ApiCommand = {
  options: [...CONNECTION, 'description', 'deployment', 'type', 'limit'],
  async run(api, args, opts, io) {
    const [sub, ...rest] = args;
    if (sub === 'add') {
      const [a, b] = positionals(rest, 1, 2, 'whitelist add [ip|cidr|path] VALUE [--description TEXT] [--deployment D]');
      let type: string;
      let value: string;
      if (b === undefined) {
        value = a as string;
        type = inferWhitelistType(value);
      } else {
        if (a !== 'ip' && a !== 'cidr' && a !== 'path') throw new UsageError(`whitelist add takes the type ip, cidr or path, not "${a}"`);
        type = a;
        value = b;
      }
      const body: Record<string, unknown> = { type, value };
      if (opts.description !== undefined) body.description = opts.description;
      if (opts.deployment !== undefined) body.deployment = opts.deployment;
      const r = await api.call<WhitelistEntry>('POST', '/api/security/whitelist', { body });
      if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
      return io.out(printable(`whitelisted ${r.data.type} ${r.data.value} (${deploymentText(r.data.deployment)}), id ${r.data.id}`) + '\n');
    }
    if (sub === 'rm') {
      const [arg] = positionals(rest, 1, 1, 'whitelist rm ID|VALUE [--deployment D]');
      const all = await listAll<WhitelistEntry>(api, '/api/security/whitelist', { deployment: opts.deployment });
      const e = pick(all, arg as string, (w) => w.value, 'whitelist entry');
      const r = await api.call<{ id: string }>('DELETE', `/api/security/whitelist/${encodeURIComponent(e.id)}`);
      if (opts.json) return io.out(`${JSON.stringify({ ...r, data: { ...r.data, entry: e } })}\n`);
      return io.out(printable(`removed whitelist entry ${e.id} (${e.type} ${e.value}, ${deploymentText(e.deployment)})`) + '\n');
    }
    if (sub === 'ls' || sub === 'list') {
      positionals(rest, 0, 0, 'whitelist ls [--type ip|cidr|path] [--deployment D] [--limit N]');
      const r = await api.call<WhitelistEntry[]>('GET', '/api/security/whitelist', { query: { type: opts.type, deployment: opts.deployment, limit: opts.limit } });
      if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
      if (r.data.length === 0) return io.out('the whitelist is empty\n');
      io.out(table(['ID', 'TYPE', 'VALUE', 'DEPLOYMENT', 'ADDED', 'DESCRIPTION'], r.data.map((w) => [w.id, w.type, w.value, w.deployment || '*', when(w.created_at), w.description])));
      if (r.total !== undefined && r.total > r.data.length) io.out(`${r.data.length} of ${r.total} entries (--limit N for more)\n`);
      return;
    }
    throw new UsageError('usage: logwarden whitelist add|rm|ls ...');
  },
};
