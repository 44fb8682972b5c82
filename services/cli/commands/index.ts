// The operators' subcommands over the management API: block, unblock, blocks,
// feeds, whitelist, routes, events, stats, capture, refresh, cleanup, sql — token,
// which is local (it makes a token and its config entry, and calls nothing), and
// check-node, which calls a node's control listener and, given a token, the API.
// One file per command group beside this one; common.ts holds what they share.
//
// Secrets never travel in argv, which every user of the machine can read in
// ps: the API token comes from LOGWARDEN_TOKEN or --token-file, a protected
// route's credential from a file, an environment variable or stdin.
import { readFileSync, statSync } from 'node:fs';
import { ApiCallError, ApiClient, EXIT } from '../api-client.js';
import { CliError, UsageError } from '../errors.js';
import { printable } from '../table.js';
import { block, blocks, unblock } from './blocks.js';
import { capture } from './capture.js';
import { CHECK_NODE_OPTIONS, runCheckNode } from './check-node.js';
import { cleanup } from './cleanup.js';
import type { ApiCommand, ApiOptionValues, Io, LocalCommand } from './common.js';
import { events } from './events.js';
import { feeds } from './feeds.js';
import { refresh } from './refresh.js';
import { routes } from './routes.js';
import { sql } from './sql.js';
import { stats } from './stats.js';
import { token } from './token.js';
import { whitelist } from './whitelist.js';

// main.ts parses the options with its own.
export { API_OPTIONS, type ApiOptionValues } from './common.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8090';

export const API_USAGE = `operator commands (over the management API; --api URL or $LOGWARDEN_API_URL, default ${DEFAULT_API_URL}):
  block IP|CIDR [--duration 24h] [--reason TEXT] [--permanent] [--deployment D] [--force] [--challenge]
                 block an address or range; no --duration: security.auto_block_duration;
                 --force blocks a whitelisted address or your own
  unblock IP|CIDR
  blocks [--source auto|manual|filter|feed|feed:NAME] [--ip IP|CIDR] [--deployment D] [--limit N]
  feeds [ls]       blocklist feeds: state, blocks, last refresh, errors
  feeds add NAME SOURCE [--format plain|csv] [--column N] [--refresh 1h] [--block-duration 24h]
                 [--deployment D] [--timeout 30s] [--max-size 32MiB]
                 add (or replace) a feed kept by the API; SOURCE a file or an http(s) URL
  feeds rm NAME    remove a feed added with feeds add; its blocks are lifted
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
  sql "SELECT ..." [--param NAME=VALUE ...]    one SELECT over logwarden's tables (analyst role);
                 - reads the query from stdin; --csv for CSV
  sql --saved NAME [--param NAME=VALUE ...]    a saved query (sql --list lists them)
  token --name NAME --role admin|analyst
                 local: prints a new API token once and its api.tokens entry (the hash)
  check-node URL [--secret-file FILE | --secret-env VAR] [--probe PAGE-URL] [--within 5m]
                 what is wrong with a node, URL its control listener (http://127.0.0.1:8091 as
                 shipped): unreachable, something else answering, loopback only, no or another
                 secret (default from $LOGWARDEN_NODE_SECRET), not in nodes:, and with a token: no
                 recent log line from it, requests logged but not checked (--probe: one request to a
                 page of the node, to check that server {})

  The token is read from $LOGWARDEN_TOKEN or --token-file FILE (there is no --token option:
  command lines are visible to every user in ps). Durations as in the config file: 30s, 24h, 7d
  (or a number of seconds). --json prints the API's answer as JSON (one object per line with
  --follow). Times are UTC.

exit codes of the operator commands: 0 ok, 1 runtime failure (API unreachable, 5xx),
  2 usage error, 3 authentication or authorization (401, 403, 429), 4 not found (404),
  5 input refused by the API (other 4xx; its message and field are printed)`;

const COMMANDS: ReadonlyMap<string, ApiCommand> = new Map(Object.entries({ block, unblock, blocks, feeds, whitelist, routes, events, stats, capture, refresh, cleanup, sql }));
const LOCAL_COMMANDS: ReadonlyMap<string, LocalCommand> = new Map(Object.entries({ token }));

export const API_COMMANDS: ReadonlySet<string> = new Set([...COMMANDS.keys(), ...LOCAL_COMMANDS.keys(), 'check-node']);

/** The API token, from --token-file or LOGWARDEN_TOKEN (never from argv). */
function readToken(opts: ApiOptionValues, env: NodeJS.ProcessEnv, warn: (s: string) => void): string {
  let token: string;
  if (opts['token-file'] !== undefined) {
    const file = opts['token-file'];
    try {
      token = readFileSync(file, 'utf8').trim();
      if ((statSync(file).mode & 0o077) !== 0) warn(`warning: ${file} can be read by other users; chmod 600 it`);
    } catch (err) {
      throw new CliError('LW_CLI_TOKEN_FILE', `cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token === '') throw new CliError('LW_CLI_TOKEN_FILE', `--token-file ${file} is empty`);
  } else {
    token = (env.LOGWARDEN_TOKEN ?? '').trim();
  }
  if (token === '') throw new CliError('LW_CLI_NO_TOKEN');
  if (/\s/.test(token)) throw new CliError('LW_CLI_TOKEN_MALFORMED');
  return token;
}

/** The API's base URL: --api, LOGWARDEN_API_URL, or the default; http(s) and without credentials. */
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

/** Runs an operator command; returns the exit code. `args` are the positionals after the command. */
export async function runApiCommand(command: string, args: string[], opts: ApiOptionValues, io: Io): Promise<number> {
  const fail = (code: number, message: string): number => {
    io.err(`logwarden ${command}: ${printable(message)}\n`);
    return code;
  };
  try {
    const local = LOCAL_COMMANDS.get(command);
    const remote = COMMANDS.get(command);
    const allowed = new Set<string>(command === 'check-node' ? CHECK_NODE_OPTIONS : ((local ?? remote)?.options ?? []));
    for (const [k, v] of Object.entries(opts)) {
      if (v !== undefined && k !== 'json' && k !== 'help' && !allowed.has(k)) throw new UsageError(`--${k} does not apply to ${command}`);
    }
    if (local) {
      local.run(args, opts, io);
      return EXIT.OK;
    }
    if (command === 'check-node') {
      // The API is asked only with a token: without one, the node alone is checked.
      const hasToken = opts['token-file'] !== undefined || (io.env.LOGWARDEN_TOKEN ?? '').trim() !== '';
      const api = hasToken ? new ApiClient({ baseUrl: apiUrl(opts, io.env), token: readToken(opts, io.env, io.err), timeoutMs: 5_000 }) : undefined;
      return await runCheckNode(args, opts, io, api);
    }
    if (!remote) throw new UsageError(`unknown command ${command}`);
    const api = new ApiClient({ baseUrl: apiUrl(opts, io.env), token: readToken(opts, io.env, io.err) });
    await remote.run(api, args, opts, io);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CliError) return fail(err.exitCode, err.exitCode === EXIT.USAGE ? `${err.message}\n(logwarden --help lists the commands)` : err.message);
    if (err instanceof ApiCallError) {
      const where = [err.status > 0 ? `HTTP ${err.status}` : '', err.code ?? '', err.field ? `field ${err.field}` : ''].filter(Boolean).join(', ');
      return fail(err.exitCode, `${err.message}${where ? ` [${where}]` : ''}`);
    }
    return fail(EXIT.FAILURE, (err as Error).message);
  }
}
