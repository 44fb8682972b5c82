// routes add|rm|ls: paths the nodes guard with basic or bearer authentication
// (/api/security/protected-routes). The credential never travels in argv,
// which every user of the machine can read in ps: it comes from a file, stdin
// or an environment variable.
import { readFileSync } from 'node:fs';
import { printable, table, when } from '../table.js';
import { CliError, UsageError } from '../errors.js';
import { CONNECTION, deploymentText, listAll, pick, positionals, type ApiCommand, type ApiOptionValues, type Io } from './common.js';

interface Route {
  id: string;
  path: string;
  method: string;
  auth_type: string;
  deployment: string;
  created_at: number;
}

/** The credential of routes add, from exactly one of a file, stdin (-) or an environment variable. */
function readCredential(opts: ApiOptionValues, io: Io): string {
  const file = opts['credentials-file'];
  const variable = opts['credentials-env'];
  if ((file === undefined) === (variable === undefined)) {
    throw new UsageError('routes add takes the credential from exactly one of --credentials-file FILE (- for stdin) or --credentials-env VAR');
  }
  let raw: string;
  if (variable !== undefined) {
    raw = io.env[variable] ?? '';
    if (raw === '') throw new CliError('LW_CLI_CREDENTIALS', `the environment variable ${variable} is not set or empty`);
  } else if (file === '-') {
    const s = io.stdin();
    if (s === undefined) throw new CliError('LW_CLI_CREDENTIALS', '--credentials-file - reads stdin, which is a terminal: pipe the credential in (no prompt)');
    raw = s;
  } else {
    try {
      raw = readFileSync(file as string, 'utf8');
    } catch (err) {
      throw new CliError('LW_CLI_CREDENTIALS', `cannot read --credentials-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  // One trailing newline is the file's, not the credential's.
  const credential = raw.replace(/\r?\n$/, '');
  if (credential === '') throw new CliError('LW_CLI_CREDENTIALS', 'the credential is empty');
  return credential;
}

export const routes: ApiCommand = {
  options: [...CONNECTION, 'auth', 'method', 'credentials-file', 'credentials-env', 'deployment', 'limit'],
  async run(api, args, opts, io) {
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
};
