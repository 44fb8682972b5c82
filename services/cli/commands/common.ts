// What every operator command shares: the options they take, the shape of a
// command, and the helpers for arguments, durations, paged lists and "which
// entry did the operator mean".
import { parseDuration } from '../../../shared/config/duration.js';
import { normalizeIpOrCidr } from '../../../shared/ip.js';
import { ApiCallError, type ApiClient, type Query } from '../api-client.js';
import { UsageError } from '../errors.js';

/** Options of the operator commands, for parseArgs (main.ts parses them with its own). */
export const API_OPTIONS = {
  api: { type: 'string' },
  'token-file': { type: 'string' },
  duration: { type: 'string' },
  reason: { type: 'string' },
  permanent: { type: 'boolean' },
  deployment: { type: 'string' },
  force: { type: 'boolean' },
  challenge: { type: 'boolean' },
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
  'secret-file': { type: 'string' },
  'secret-env': { type: 'string' },
  probe: { type: 'string' },
  within: { type: 'string' },
  format: { type: 'string' },
  column: { type: 'string' },
  refresh: { type: 'string' },
  'block-duration': { type: 'string' },
  timeout: { type: 'string' },
  'max-size': { type: 'string' },
  saved: { type: 'string' },
  param: { type: 'string', multiple: true },
  csv: { type: 'boolean' },
  list: { type: 'boolean' },
} as const;

export type OptionName = keyof typeof API_OPTIONS;
export type ApiOptionValues = {
  [K in OptionName]?: (typeof API_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof API_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string;
} & { json?: boolean };

export const CONNECTION: readonly OptionName[] = ['api', 'token-file'];

export interface Io {
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
  /** Read all of stdin (for a credential piped in); undefined when stdin is a terminal. */
  stdin: () => string | undefined;
  /** Resolves when the user interrupts (SIGINT, SIGTERM): ends --follow. */
  interrupted: AbortSignal;
}

/** A command that calls the API. */
export interface ApiCommand {
  /** Its options besides --json and --help; anything else is a usage error, not silently ignored. */
  readonly options: readonly OptionName[];
  run(api: ApiClient, args: string[], opts: ApiOptionValues, io: Io): Promise<void>;
}

/** A command that calls nothing (token). */
export interface LocalCommand {
  readonly options: readonly OptionName[];
  run(args: string[], opts: ApiOptionValues, io: Io): void;
}

/** A duration as the config file writes it ("24h", "7d"), or a whole number of seconds, as seconds. */
export function durationSeconds(text: string, option: string): number {
  if (/^\d{1,12}$/.test(text)) return Number(text);
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`--${option} takes a duration such as 30s, 24h, 7d (or seconds), not "${text}"`);
  if (ms % 1000 !== 0) throw new UsageError(`--${option} is counted in whole seconds`);
  return ms / 1000;
}

export function positionals(args: readonly string[], min: number, max: number, shape: string): string[] {
  if (args.length < min || args.length > max) throw new UsageError(`usage: logwarden ${shape}`);
  return [...args];
}

export const deploymentText = (d: string | null | undefined): string => (d ? d : 'every deployment');

/** Every item of a paged list (offset/limit), for lookups by value. */
export async function listAll<T>(api: ApiClient, path: string, query: Query): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; ) {
    const page = await api.call<T[]>('GET', path, { query: { ...query, limit: 1000, offset } });
    out.push(...page.data);
    offset += page.data.length;
    if (page.data.length === 0 || offset >= (page.total ?? 0)) return out;
  }
}

/** The entries an operator meant by an id or a value; one, or a usage error naming the candidates. */
export function pick<T extends { id: string }>(items: T[], arg: string, valueOf: (t: T) => string, what: string): T {
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
