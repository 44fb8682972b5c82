// The operators' subcommands over the management API: block, unblock, blocks,
// whitelist, routes, events, stats, capture, refresh, cleanup — and token,
// which is local (it makes a token and its config entry, and calls nothing).
//
// Secrets never travel in argv, which every user of the machine can read in
// ps: the API token comes from LOGWARDEN_TOKEN or --token-file, a protected
// route's credential from a file, an environment variable or stdin.
import { readFileSync, statSync } from 'node:fs';
import { parseDuration } from '../../shared/config/duration.js';
import { normalizeIpOrCidr } from '../../shared/ip.js';
import { hashToken, newToken } from '../../shared/auth/tokens.js';
import { ApiCallError, ApiClient, EXIT, type Envelope, type Query } from './api-client.js';
import { printable, table, when } from './table.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8090';

export const API_USAGE = `operator commands (over the management API; --api URL or $LOGWARDEN_API_URL, default ${DEFAULT_API_URL}):
  block IP|CIDR [--duration 24h] [--reason TEXT] [--permanent] [--deployment D] [--force]
                 block an address or range; no --duration: security.auto_block_duration;
                 --force blocks a whitelisted address or your own
  unblock IP|CIDR
  blocks [--source auto|manual|filter] [--ip IP|CIDR] [--deployment D] [--limit N]
  whitelist add [ip|cidr|path] VALUE [--description TEXT] [--deployment D]
                 (the type is inferred from VALUE when left out)
  whitelist rm ID|VALUE [--deployment D]
  whitelist ls [--type ip|cidr|path] [--deployment D] [--limit N]
  routes add PATH --auth basic|bearer (--credentials-file FILE | --credentials-env VAR)
                 [--method ALL|GET|POST|...] [--deployment D]
                 the credential (basic: user:password; bearer: the token) is read from FILE,
                 from - (stdin, no prompt) or from the variable VAR — never from the command
                 line, which other users see in ps
  routes rm ID|PATH [--deployment D]
  routes ls [--deployment D] [--limit N]
  events [--type T] [--ip IP|CIDR] [--deployment D] [--since 1h|TIME] [--limit N]
  events --follow [--type T] [--ip IP|CIDR] [--deployment D]    live, until interrupted
  stats
  capture [on|off]  real-time capture of every request (no argument: show it)
  refresh           push the full state to every node now
  cleanup [--older-than 7d]   delete events older than that (default: security.retention_days)
  token --name NAME --role admin|analyst
                 local: prints a new API token once and its api.tokens entry (the hash)

  The token is read from $LOGWARDEN_TOKEN or --token-file FILE (there is no --token option:
  command lines are visible to every user in ps). Durations as in the config file: 30s, 24h, 7d
  (or a number of seconds). --json prints the API's answer as JSON (one object per line with
  --follow). Times are UTC.

exit codes of the operator commands: 0 ok, 1 runtime failure (API unreachable, 5xx),
  2 usage error, 3 authentication or authorization (401, 403, 429), 4 not found (404),
  5 input refused by the API (other 4xx; its message and field are printed)`;

/** Options of the operator commands, for parseArgs (main.ts parses them with its own). */
export const API_OPTIONS = {
  api: { type: 'string' },
  'token-file': { type: 'string' },
  duration: { type: 'string' },
  reason: { type: 'string' },
  permanent: { type: 'boolean' },
  deployment: { type: 'string' },
  force: { type: 'boolean' },
  source: { type: 'string' },
  ip: { type: 'string' },
  limit: { type: 'string' },
  type: { type: 'string' },
  since: { type: 'string' },
  follow: { type: 'boolean' },
  description: { type: 'string' },
  auth: { type: 'string' },
  method: { type: 'string' },
  'credentials-file': { type: 'string' },
  'credentials-env': { type: 'string' },
  'older-than': { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
} as const;

type OptionName = keyof typeof API_OPTIONS;
export type ApiOptionValues = { [K in OptionName]?: (typeof API_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string } & { json?: boolean };

const CONNECTION: readonly OptionName[] = ['api', 'token-file'];

/** Each command's options besides --json and --help; anything else is a usage error, not silently ignored. */
const COMMAND_OPTIONS: Record<string, readonly OptionName[]> = {
  block: [...CONNECTION, 'duration', 'reason', 'permanent', 'deployment', 'force'],
  unblock: CONNECTION,
  blocks: [...CONNECTION, 'source', 'ip', 'deployment', 'limit'],
  whitelist: [...CONNECTION, 'description', 'deployment', 'type', 'limit'],
  routes: [...CONNECTION, 'auth', 'method', 'credentials-file', 'credentials-env', 'deployment', 'limit'],
  events: [...CONNECTION, 'type', 'ip', 'deployment', 'since', 'limit', 'follow'],
  stats: CONNECTION,
  capture: CONNECTION,
  refresh: CONNECTION,
  cleanup: [...CONNECTION, 'older-than'],
  token: ['name', 'role'],
};

export const API_COMMANDS: ReadonlySet<string> = new Set(Object.keys(COMMAND_OPTIONS));

/** A mistake in the command line: exit 2 with the message. */
export class UsageError extends Error {}

export interface Io {
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
  /** Read all of stdin (for a credential piped in); undefined when stdin is a terminal. */
  stdin: () => string | undefined;
  /** Resolves when the user interrupts (SIGINT, SIGTERM): ends --follow. */
  interrupted: AbortSignal;
}

// ------------------------------------------------------------------ helpers

/** A duration as the config file writes it ("24h", "7d"), or a whole number of seconds, as seconds. */
export function durationSeconds(text: string, option: string): number {
  if (/^\d{1,12}$/.test(text)) return Number(text);
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`--${option} takes a duration such as 30s, 24h, 7d (or seconds), not "${text}"`);
  if (ms % 1000 !== 0) throw new UsageError(`--${option} is counted in whole seconds`);
  return ms / 1000;
}

/** The whitelist type a value is: a path starts with "/", a range has a "/" after its address. */
export function inferWhitelistType(value: string): 'ip' | 'cidr' | 'path' {
  if (value.startsWith('/')) return 'path';
  return value.includes('/') ? 'cidr' : 'ip';
}

/** --since: a duration ("1h": that long ago) or a time the API reads (epoch ms, ISO 8601). */
export function sinceParam(text: string, now = Date.now()): string {
  const ms = /^\d+$/.test(text) ? undefined : parseDuration(text);
  return ms === undefined ? text : String(now - ms);
}

/** A path segment for an address or a CIDR (the API takes a range as /ADDR/BITS). */
function ipPath(ip: string): string {
  return ip.split('/').map(encodeURIComponent).join('/');
}

function readToken(opts: ApiOptionValues, env: NodeJS.ProcessEnv, warn: (s: string) => void): string {
  let token: string;
  if (opts['token-file'] !== undefined) {
    const file = opts['token-file'];
    try {
      token = readFileSync(file, 'utf8').trim();
      if ((statSync(file).mode & 0o077) !== 0) warn(`warning: ${file} can be read by other users; chmod 600 it`);
    } catch (err) {
      throw new UsageError(`cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token === '') throw new UsageError(`--token-file ${file} is empty`);
  } else {
    token = (env.LOGWARDEN_TOKEN ?? '').trim();
  }
  if (token === '') {
    throw new ApiCallError('no API token: set LOGWARDEN_TOKEN or --token-file FILE (logwarden token makes one; embedded mode prints one at its first start)', 0, undefined, undefined, EXIT.AUTH);
  }
  if (/\s/.test(token)) throw new UsageError('the API token holds whitespace; the file should hold the token alone');
  return token;
}

function apiUrl(opts: ApiOptionValues, env: NodeJS.ProcessEnv): string {
  const raw = opts.api ?? (env.LOGWARDEN_API_URL || DEFAULT_API_URL);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--api takes a URL such as ${DEFAULT_API_URL}, not "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--api takes an http:// or https:// URL, not "${raw}"`);
  if (u.username || u.password) throw new UsageError('--api must not hold credentials; the token comes from LOGWARDEN_TOKEN or --token-file');
  return u.toString();
}

function readCredential(opts: ApiOptionValues, io: Io): string {
  const file = opts['credentials-file'];
  const variable = opts['credentials-env'];
  if ((file === undefined) === (variable === undefined)) {
    throw new UsageError('routes add takes the credential from exactly one of --credentials-file FILE (- for stdin) or --credentials-env VAR');
  }
  let raw: string;
  if (variable !== undefined) {
    raw = io.env[variable] ?? '';
    if (raw === '') throw new UsageError(`the environment variable ${variable} is not set or empty`);
  } else if (file === '-') {
    const s = io.stdin();
    if (s === undefined) throw new UsageError('--credentials-file - reads stdin, which is a terminal: pipe the credential in (no prompt)');
    raw = s;
  } else {
    try {
      raw = readFileSync(file as string, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --credentials-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  // One trailing newline is the file's, not the credential's.
  const credential = raw.replace(/\r?\n$/, '');
  if (credential === '') throw new UsageError('the credential is empty');
  return credential;
}

function positionals(args: readonly string[], min: number, max: number, shape: string): string[] {
  if (args.length < min || args.length > max) throw new UsageError(`usage: logwarden ${shape}`);
  return [...args];
}

interface Block {
  ip: string;
  reason: string;
  source: string;
  created_at: number;
  expires_at: number | null;
  deployment: string;
}
interface WhitelistEntry {
  id: string;
  type: string;
  value: string;
  description: string;
  deployment: string;
  created_at: number;
}
interface Route {
  id: string;
  path: string;
  method: string;
  auth_type: string;
  deployment: string;
  created_at: number;
}
interface SecurityEvent {
  ts: number;
  type: string;
  ip: string;
  deployment: string;
  count: number;
  detector: string;
  sample_paths?: string[];
}

const deploymentText = (d: string | null | undefined): string => (d ? d : 'every deployment');

/** Every item of a paged list (offset/limit), for lookups by value. */
async function listAll<T>(api: ApiClient, path: string, query: Query): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; ) {
    const page = await api.call<T[]>('GET', path, { query: { ...query, limit: 1000, offset } });
    out.push(...page.data);
    offset += page.data.length;
    if (page.data.length === 0 || offset >= (page.total ?? 0)) return out;
  }
}

/** The entries an operator meant by an id or a value; one, or a usage error naming the candidates. */
function pick<T extends { id: string }>(items: T[], arg: string, valueOf: (t: T) => string, what: string): T {
  const byId = items.find((t) => t.id === arg);
  if (byId) return byId;
  const wanted = normalizeIpOrCidr(arg) ?? arg;
  const matches = items.filter((t) => valueOf(t) === wanted || valueOf(t) === arg);
  if (matches.length === 0) throw new ApiCallError(`no ${what} ${arg}`, 404, 'LW_API_NOT_FOUND', undefined);
  if (matches.length > 1) {
    throw new UsageError(`${arg} matches ${matches.length} ${what}s (${matches.map((m) => m.id).join(', ')}): name one by id, or add --deployment`);
  }
  return matches[0] as T;
}

function eventLine(e: SecurityEvent): string {
  const path = e.sample_paths?.[0];
  return printable(`${when(e.ts)}  ${e.type}  ${e.ip}  ${e.deployment || '-'}  count=${e.count}  detector=${e.detector}${path ? `  ${path}` : ''}`);
}

// ------------------------------------------------------------------ commands

type Handler = (api: ApiClient, args: string[], opts: ApiOptionValues, io: Io) => Promise<void>;

const HANDLERS: Record<string, Handler> = {
  async block(api, args, opts, io) {
    const [ip] = positionals(args, 1, 1, 'block IP|CIDR [--duration 24h] [--reason TEXT] [--permanent] [--deployment D] [--force]');
    const body: Record<string, unknown> = { ip: ip };
    if (opts.reason !== undefined) body.reason = opts.reason;
    if (opts.duration !== undefined) body.duration = durationSeconds(opts.duration, 'duration');
    if (opts.permanent) body.permanent = true;
    if (opts.deployment !== undefined) body.deployment = opts.deployment;
    if (opts.force) body.force = true;
    const r = await api.call<Block>('POST', '/api/security/blocked-ips', { body });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    const b = r.data;
    io.out(printable(`blocked ${b.ip} (${deploymentText(b.deployment)}) ${b.expires_at === null ? 'permanently' : `until ${when(b.expires_at)}`}: ${b.reason}`) + '\n');
  },

  async unblock(api, args, opts, io) {
    const [ip] = positionals(args, 1, 1, 'unblock IP|CIDR');
    const r = await api.call<{ ip: string }>('DELETE', `/api/security/blocked-ips/${ipPath(ip as string)}`);
    io.out(opts.json ? `${JSON.stringify(r)}\n` : `${printable(r.message ?? `${r.data.ip} unblocked`)}\n`);
  },

  async blocks(api, args, opts, io) {
    positionals(args, 0, 0, 'blocks [--source auto|manual|filter] [--ip IP|CIDR] [--deployment D] [--limit N]');
    const r = await api.call<Block[]>('GET', '/api/security/blocked-ips', { query: { source: opts.source, ip: opts.ip, deployment: opts.deployment, limit: opts.limit } });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    if (r.data.length === 0) return io.out('no blocks in force\n');
    io.out(table(['IP', 'SOURCE', 'DEPLOYMENT', 'EXPIRES', 'SINCE', 'REASON'], r.data.map((b) => [b.ip, b.source, b.deployment || '*', b.expires_at === null ? 'permanent' : when(b.expires_at), when(b.created_at), b.reason])));
    if (r.total !== undefined && r.total > r.data.length) io.out(`${r.data.length} of ${r.total} blocks (--limit N for more)\n`);
  },

  async whitelist(api, args, opts, io) {
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

  async routes(api, args, opts, io) {
    const [sub, ...rest] = args;
    if (sub === 'add') {
      const [path] = positionals(rest, 1, 1, 'routes add PATH --auth basic|bearer (--credentials-file FILE | --credentials-env VAR) [--method M] [--deployment D]');
      if (opts.auth === undefined) throw new UsageError('routes add needs --auth basic|bearer');
      const body: Record<string, unknown> = { path, auth_type: opts.auth, credentials: readCredential(opts, io) };
      if (opts.method !== undefined) body.method = opts.method.toUpperCase();
      if (opts.deployment !== undefined) body.deployment = opts.deployment;
      const r = await api.call<Route>('POST', '/api/security/protected-routes', { body });
      if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
      return io.out(printable(`protected ${r.data.path} (${r.data.method}, ${r.data.auth_type}, ${deploymentText(r.data.deployment)}), id ${r.data.id}`) + '\n');
    }
    if (sub === 'rm') {
      const [arg] = positionals(rest, 1, 1, 'routes rm ID|PATH [--deployment D]');
      const all = await listAll<Route>(api, '/api/security/protected-routes', { deployment: opts.deployment });
      const route = pick(all, arg as string, (r) => r.path, 'protected route');
      const r = await api.call<{ id: string }>('DELETE', `/api/security/protected-routes/${encodeURIComponent(route.id)}`);
      if (opts.json) return io.out(`${JSON.stringify({ ...r, data: { ...r.data, route } })}\n`);
      return io.out(printable(`removed protected route ${route.id} (${route.path}, ${deploymentText(route.deployment)})`) + '\n');
    }
    if (sub === 'ls' || sub === 'list') {
      positionals(rest, 0, 0, 'routes ls [--deployment D] [--limit N]');
      const r = await api.call<Route[]>('GET', '/api/security/protected-routes', { query: { deployment: opts.deployment, limit: opts.limit } });
      if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
      if (r.data.length === 0) return io.out('no protected routes\n');
      io.out(table(['ID', 'PATH', 'METHOD', 'AUTH', 'DEPLOYMENT', 'ADDED'], r.data.map((x) => [x.id, x.path, x.method, x.auth_type, x.deployment || '*', when(x.created_at)])));
      if (r.total !== undefined && r.total > r.data.length) io.out(`${r.data.length} of ${r.total} routes (--limit N for more)\n`);
      return;
    }
    throw new UsageError('usage: logwarden routes add|rm|ls ...');
  },

  async events(api, args, opts, io) {
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

  async stats(api, args, opts, io) {
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

  async capture(api, args, opts, io) {
    const [state] = positionals(args, 0, 1, 'capture [on|off]');
    let r: Envelope<{ enabled: boolean }>;
    if (state === undefined) r = await api.call('GET', '/api/security/realtime-capture');
    else if (state === 'on' || state === 'off') r = await api.call('PUT', '/api/security/realtime-capture', { body: { enabled: state === 'on' } });
    else throw new UsageError(`capture takes on or off, not "${state}"`);
    io.out(opts.json ? `${JSON.stringify(r)}\n` : `real-time capture ${r.data.enabled ? 'on' : 'off'}\n`);
  },

  async refresh(api, args, opts, io) {
    positionals(args, 0, 0, 'refresh');
    const r = await api.call<{ refreshed: boolean; local_enforcer?: boolean }>('POST', '/api/security/refresh');
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    io.out(`${printable(r.message ?? 'refreshed')}${r.data.local_enforcer ? '' : ' (requested; no enforcer in the API process: the enforcers re-push on their own)'}\n`);
  },

  async cleanup(api, args, opts, io) {
    positionals(args, 0, 0, 'cleanup [--older-than 7d]');
    const body = opts['older-than'] === undefined ? {} : { older_than: durationSeconds(opts['older-than'], 'older-than') };
    const r = await api.call<{ cutoff?: number; rows_deleted?: number; rows_dropped?: number; partitions_dropped?: string[] }>('POST', '/api/security/cleanup', { body });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    const d = r.data;
    const parts = [d.partitions_dropped?.length ? `${d.partitions_dropped.length} partitions dropped` : '', d.rows_dropped ? `${d.rows_dropped} rows in them` : '', d.rows_deleted !== undefined ? `${d.rows_deleted} rows deleted` : ''].filter(Boolean);
    io.out(`${printable(r.message ?? 'cleaned up')}${parts.length ? ` (${parts.join(', ')})` : ''}\n`);
  },
};

function token(args: string[], opts: ApiOptionValues, io: Io): void {
  positionals(args, 0, 0, 'token --name NAME --role admin|analyst');
  const name = opts.name;
  if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw new UsageError('token needs --name NAME (letters, digits, _ . -)');
  if (opts.role !== 'admin' && opts.role !== 'analyst') throw new UsageError('token needs --role admin or --role analyst');
  const t = newToken();
  const hash = hashToken(t);
  const entry = `{ name: ${name}, role: ${opts.role}, hash: "${hash}" }`;
  if (opts.json) return io.out(`${JSON.stringify({ name, role: opts.role, token: t, hash })}\n`);
  io.out(
    [
      `token for ${name} (${opts.role}) — shown only this once; logwarden keeps only its hash:`,
      `  ${t}`,
      '',
      'add to the api.tokens list of logwarden.yaml, then restart the API:',
      '  api:',
      '    tokens:',
      `      - ${entry}`,
      '',
      'use it with LOGWARDEN_TOKEN=<token> or --token-file FILE (mode 600), not on a command line.',
      '',
    ].join('\n'),
  );
}

/** Runs an operator command; returns the exit code. `args` are the positionals after the command. */
export async function runApiCommand(command: string, args: string[], opts: ApiOptionValues, io: Io): Promise<number> {
  const fail = (code: number, message: string): number => {
    io.err(`logwarden ${command}: ${printable(message)}\n`);
    return code;
  };
  try {
    const allowed = new Set<string>(COMMAND_OPTIONS[command] ?? []);
    for (const [k, v] of Object.entries(opts)) {
      if (v !== undefined && k !== 'json' && k !== 'help' && !allowed.has(k)) throw new UsageError(`--${k} does not apply to ${command}`);
    }
    if (command === 'token') {
      token(args, opts, io);
      return EXIT.OK;
    }
    const handler = HANDLERS[command];
    if (!handler) throw new UsageError(`unknown command ${command}`);
    const api = new ApiClient({ baseUrl: apiUrl(opts, io.env), token: readToken(opts, io.env, io.err) });
    await handler(api, args, opts, io);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT.USAGE, `${err.message}\n(logwarden --help lists the commands)`);
    if (err instanceof ApiCallError) {
      const where = [err.status > 0 ? `HTTP ${err.status}` : '', err.code ?? '', err.field ? `field ${err.field}` : ''].filter(Boolean).join(', ');
      return fail(err.exitCode, `${err.message}${where ? ` [${where}]` : ''}`);
    }
    return fail(EXIT.FAILURE, (err as Error).message);
  }
}
