// check-node URL: what is wrong with an nginx node, in the order a setup goes
// wrong (README "Point nginx at it"). It calls the node's control listener
// (logwarden-control.conf) itself, signed like the enforcer, and, with an API
// token, asks the management API what the ingester received from the node:
//
//   1. reachable         nothing answers: LW_CLI_NODE_UNREACHABLE
//   2. logwarden answers  another server (HTML, no JSON), or the Lua module not
//                         loaded there: LW_CLI_NODE_NOT_LOGWARDEN
//   3. may call it        loopback only: LW_CLI_NODE_REMOTE_REFUSED; no secret on
//                         the node (503): LW_CLI_NODE_SECRET_UNSET; a signature
//                         refused: LW_CLI_NODE_WRONG_SECRET or _CLOCK_SKEW
//   4. listed             no nodes: entry has the URL: LW_CLI_NODE_NOT_LISTED
//   5. logs arrive        the ingester has no recent line from the node's host
//                         name: LW_CLI_NODE_NO_LOGS
//   6. requests checked   lines arrive, but the node's access check ran on none
//                         (GET /status `checked`): LW_CLI_NODE_NO_ACCESS_CHECK
//
// With --probe URL (a page of one server on the node) it sends one request
// there and waits for it to be logged and checked: a server {} that logs
// without the access check is found even while others have it. On a busy
// node other requests move the same counters, so the probe proves less there.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { signNodeRequest } from '../../../shared/node-auth.js';
import type { ApiCallError, ApiClient } from '../api-client.js';
import { CLI_ERRORS, CliError, UsageError, type CliErrorCode } from '../errors.js';
import { printable } from '../table.js';
import { durationSeconds, positionals, type ApiOptionValues, type Io, type OptionName } from './common.js';

export const CHECK_NODE_OPTIONS: readonly OptionName[] = ['api', 'token-file', 'secret-file', 'secret-env', 'probe', 'within'];

const CALL_TIMEOUT_MS = 5_000;
/** How long a probe waits for its line and its check (the node adds its count once a second). */
const PROBE_WAIT_MS = 6_000;

export interface Finding {
  ok: boolean;
  /** Set on a failure (and on a warning with ok true). */
  code?: CliErrorCode;
  message: string;
  /** What to do about it. */
  hints?: string[];
}

interface NodeStatus {
  epoch: string;
  blocks: number;
  ranges: number;
  rules_version: number;
  checked?: number;
  hostname?: string;
}

interface PipelineView {
  ingest: { received: number; nodes?: Record<string, { lines: number; last_line_s: number }> };
  nodes: Array<{ name: string; url: string; synced: boolean | null }>;
}

export interface CheckNodeInput {
  url: string;
  /** The control secret, and where it came from (for messages). */
  secret?: { value: string; from: string };
  /** The management API, when a token was given. */
  api?: ApiClient;
  probe?: string;
  withinS: number;
}

type Answer = { kind: 'down'; cause: string } | { kind: 'http'; status: number; contentType: string; server: string; wwwAuth: string; body: unknown };

async function callNode(base: string, secret: string | undefined): Promise<Answer> {
  const headers: Record<string, string> = secret === undefined ? {} : { authorization: signNodeRequest(secret, 'GET', '/status', '') };
  try {
    const res = await fetch(`${base}/status`, { headers, redirect: 'manual', signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const h = (k: string): string => res.headers.get(k) ?? '';
    return { kind: 'http', status: res.status, contentType: h('content-type'), server: h('server'), wwwAuth: h('www-authenticate'), body };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { kind: 'down', cause: e.name === 'TimeoutError' ? `no answer within ${CALL_TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message) };
  }
}

const fail = (code: CliErrorCode, message: string, hints: string[] = []): Finding => ({ ok: false, code, message, hints });
const ok = (message: string): Finding => ({ ok: true, message });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Steps 1-3: the node's own answer. Returns its status, or the finding that ends the check. */
function judgeAnswer(url: string, a: Answer, secret: CheckNodeInput['secret']): NodeStatus | Finding {
  if (a.kind === 'down') {
    return fail('LW_CLI_NODE_UNREACHABLE', `nothing answers at ${url} (${a.cause})`, [
      'is nginx running, with logwarden-control.conf included in http {} (nginx -t; nginx -s reload)?',
      'the control listener is `listen 127.0.0.1:8091;` unless changed there: the URL must name that address and port',
      'from another host: listen on an internal address, set $logwarden_control_allow_remote "on", and open the port to the enforcer only',
    ]);
  }
  const body = isObject(a.body) ? a.body : undefined;
  const json = a.contentType.startsWith('application/json') && body !== undefined;
  if (a.status === 200 && json && typeof body.epoch === 'string') {
    return body as unknown as NodeStatus;
  }
  const error = json && typeof body.error === 'string' ? body.error : undefined;
  if (a.status === 403 && error?.includes('loopback')) {
    return fail('LW_CLI_NODE_REMOTE_REFUSED', `${url} answers loopback callers only`, [
      'in logwarden-control.conf: listen on an internal address the enforcer reaches, and set $logwarden_control_allow_remote "on"; then nginx -s reload',
    ]);
  }
  if (a.status === 503 && error === 'control secret not configured') {
    return fail('LW_CLI_NODE_SECRET_UNSET', `${url} has no control secret: every call gets 503`, [
      `in logwarden-control.conf: set $logwarden_control_secret "<16+ characters>"; (the enforcer's: ${secret?.from ?? 'LOGWARDEN_NODE_SECRET'}), then nginx -s reload`,
    ]);
  }
  if (a.status === 401 && error !== undefined && a.wwwAuth.startsWith('LW1')) {
    const reason = typeof body?.reason === 'string' ? body.reason : '';
    if (secret === undefined) return fail('LW_CLI_NODE_NO_SECRET', `${url} is a logwarden control listener; give its secret to check more`, ['--secret-file FILE, or the variable named by --secret-env (default LOGWARDEN_NODE_SECRET)']);
    if (reason.startsWith('signature time off')) return fail('LW_CLI_NODE_CLOCK_SKEW', `${url} refused the call: ${reason}`, ['synchronise the clocks (NTP) of the node and of the enforcer']);
    return fail('LW_CLI_NODE_WRONG_SECRET', `${url} refused the signature made with ${secret.from} (${reason || 'unauthorized'})`, [
      `$logwarden_control_secret in the node's logwarden-control.conf and ${secret.from} must be the same string`,
    ]);
  }
  const what = [`HTTP ${a.status}`, a.contentType || 'no content type', a.server ? `Server: ${a.server}` : ''].filter(Boolean).join(', ');
  return fail('LW_CLI_NODE_NOT_LOGWARDEN', `something else answers at ${url} (${what}): not logwarden's control listener`, [
    'the URL must be the listen address of logwarden-control.conf (127.0.0.1:8091 as shipped), not a site of the node',
    'nginx needs the Lua module: OpenResty, or load_module ndk_http_module.so then ngx_http_lua_module.so (Debian: libnginx-mod-http-lua, loaded by /etc/nginx/modules-enabled)',
  ]);
}

async function pipeline(api: ApiClient): Promise<PipelineView | Finding> {
  try {
    return (await api.call<PipelineView>('GET', '/api/pipeline/status')).data;
  } catch (err) {
    const e = err as ApiCallError;
    return { ok: true, message: `not asked about logs: the management API did not answer (${printable(e.message)})` };
  }
}

const linesOf = (p: PipelineView, host: string): { lines: number; last_line_s: number } | undefined => p.ingest.nodes?.[host];

/** Step 4: whether the API's configuration lists the node (a warning only: in distributed mode the enforcer's may differ). */
function listed(url: string, p: PipelineView): Finding {
  const origin = new URL(url).origin;
  const entry = p.nodes.find((n) => {
    try {
      return new URL(n.url).origin === origin;
    } catch {
      return false;
    }
  });
  if (entry) return ok(`listed in nodes: as ${entry.name}${entry.synced === null ? '' : entry.synced ? ' (in sync)' : ' (not in sync yet)'}`);
  return {
    ok: true,
    code: 'LW_CLI_NODE_NOT_LISTED',
    message: `no nodes: entry of the API's configuration has the URL ${url}`,
    hints: [`add it to logwarden.yaml, the secret in the named variable: nodes: [{ name: edge-1, url: "${url}", secret_env: LOGWARDEN_NODE_SECRET }] (a separate enforcer process reads its own configuration)`],
  };
}

const NO_LOGS_HINTS = [
  'logwarden-server.conf names the ingester: access_log syslog:server=HOST:PORT must be the ingester\'s ingest.udp host:port (npm start prints it)',
  'the ingester listens on 127.0.0.1 by default: for another host, set ingest.udp.host to an address the node reaches, and open UDP to it',
  'every server {} includes logwarden-server.conf (an access_log in a location {} replaces it there)',
];

const NO_CHECK_HINTS = [
  'include logwarden-server.conf whole in every server {}: it holds the access_log line AND access_by_lua_block { require("logwarden.access").check() }',
  'a location {} with its own access_by_lua must call require("logwarden.access").check() first; `return` answers before the access phase',
];

/** Steps 5-6 from what the node and the ingester counted so far. */
function fromCounts(st: NodeStatus, p: PipelineView, withinS: number): Finding[] {
  const host = st.hostname ?? '';
  const seen = linesOf(p, host);
  const age = seen ? Math.floor(Date.now() / 1000) - seen.last_line_s : undefined;
  if (!seen || age === undefined || age > withinS) {
    const when = seen ? `its last line came ${age} s ago` : p.ingest.received === 0 ? 'the API\'s process received no line at all (in distributed mode ask an ingester\'s /metrics: logwarden_ingest_node_last_line_seconds)' : 'none so far';
    return [fail('LW_CLI_NODE_NO_LOGS', `no line from "${host}" within ${withinS} s: ${when}`, NO_LOGS_HINTS)];
  }
  const out = [ok(`logs arrive: ${seen.lines} lines from "${host}", the last ${age} s ago`)];
  if ((st.checked ?? 0) === 0) out.push(fail('LW_CLI_NODE_NO_ACCESS_CHECK', `the node logged ${seen.lines} requests and its access check ran on none`, NO_CHECK_HINTS));
  else out.push(ok(`the access check ran on ${st.checked ?? 0} requests since nginx started (--probe URL checks one server)`));
  return out;
}

/** Steps 5-6 with one request to a page of the node. */
async function withProbe(input: CheckNodeInput, st0: NodeStatus, p0: PipelineView | undefined): Promise<Finding[]> {
  const probe = input.probe as string;
  const host = st0.hostname ?? '';
  let answered: number;
  try {
    answered = (await fetch(probe, { redirect: 'manual', signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })).status;
  } catch (err) {
    return [fail('LW_CLI_NODE_UNREACHABLE', `the probe ${probe} got no answer (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`)];
  }
  const lines0 = p0 ? (linesOf(p0, host)?.lines ?? 0) : 0;
  const checked0 = st0.checked ?? 0;
  let logged = false;
  let checked = false;
  for (const deadline = Date.now() + PROBE_WAIT_MS; Date.now() < deadline && !(checked && (logged || !input.api)); ) {
    await sleep(250);
    const a = await callNode(input.url, input.secret?.value);
    const st = a.kind === 'http' && isObject(a.body) ? (a.body as unknown as NodeStatus) : undefined;
    if (st && (st.checked ?? 0) > checked0) checked = true;
    if (input.api && !logged) {
      const p = await pipeline(input.api);
      if ('ingest' in p && (linesOf(p, host)?.lines ?? 0) > lines0) logged = true;
    }
  }
  const out: Finding[] = [];
  if (!input.api) out.push(ok('logs not asked about: no API token (LOGWARDEN_TOKEN or --token-file)'));
  else if (logged) out.push(ok(`the probe (HTTP ${answered}) was logged: a line from "${host}" reached the ingester`));
  else out.push(fail('LW_CLI_NODE_NO_LOGS', `the probe ${probe} (HTTP ${answered}) reached no ingester line from "${host}" within ${PROBE_WAIT_MS / 1000} s`, NO_LOGS_HINTS));
  if (checked) out.push(ok(`the probe went through the access check (HTTP ${answered})`));
  else out.push(fail('LW_CLI_NODE_NO_ACCESS_CHECK', `the probe ${probe} (HTTP ${answered}) did not go through the access check: the server {} answering it has none`, NO_CHECK_HINTS));
  return out;
}

/** Every finding about the node, in setup order; it stops at the first step that fails before the node's status is known. */
export async function checkNode(input: CheckNodeInput): Promise<Finding[]> {
  const judged = judgeAnswer(input.url, await callNode(input.url, input.secret?.value), input.secret);
  if ('ok' in judged) return [judged];
  const st = judged;
  const findings: Finding[] = [
    ok(`the logwarden control listener answers (nginx host "${st.hostname ?? '?'}", epoch ${st.epoch})`),
    ok(`signature accepted (secret from ${input.secret?.from ?? '?'}); ${st.blocks} blocks, ${st.ranges} ranges, rule set version ${st.rules_version}`),
  ];
  let p: PipelineView | undefined;
  if (input.api) {
    const got = await pipeline(input.api);
    if ('ingest' in got) {
      p = got;
      findings.push(listed(input.url, p));
    } else {
      findings.push(got);
    }
  } else {
    findings.push(ok('nodes: entry and logs not asked about: no API token (LOGWARDEN_TOKEN or --token-file)'));
  }
  if (typeof st.checked !== 'number') {
    // A Lua module from before the count: logs can still be judged, checks cannot.
    findings.push(ok('the node does not count checked requests (its lua/ predates logwarden.checked): copy the current lua/ to check that'));
    if (p && input.probe === undefined) findings.push(...fromCounts(st, p, input.withinS).filter((f) => f.code !== 'LW_CLI_NODE_NO_ACCESS_CHECK' && !f.message.startsWith('the access check ran')));
    return findings;
  }
  if (input.probe !== undefined) findings.push(...(await withProbe(input, st, p)));
  else if (p) findings.push(...fromCounts(st, p, input.withinS));
  return findings;
}

/** The exit code of a check: the first failure's, else 0. */
export function exitCodeOf(findings: readonly Finding[]): number {
  const first = findings.find((f) => !f.ok);
  return first?.code ? CLI_ERRORS[first.code].exitCode : 0;
}

export function formatFindings(url: string, findings: readonly Finding[]): string {
  const lines = [`check-node ${url}`];
  for (const f of findings) {
    const tag = !f.ok ? 'FAIL' : f.code ? 'warn' : 'ok';
    lines.push(`  ${tag.padEnd(5)} ${f.code ? `${f.code}: ` : ''}${printable(f.message)}`);
    for (const h of f.hints ?? []) lines.push(`        - ${printable(h)}`);
  }
  return `${lines.join('\n')}\n`;
}

function readSecret(opts: ApiOptionValues, env: NodeJS.ProcessEnv): CheckNodeInput['secret'] {
  if (opts['secret-file'] !== undefined) {
    const file = opts['secret-file'];
    let value: string;
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new CliError('LW_CLI_NODE_NO_SECRET', `cannot read --secret-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return value === '' ? undefined : { value, from: `--secret-file ${file}` };
  }
  const name = opts['secret-env'] ?? 'LOGWARDEN_NODE_SECRET';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`--secret-env takes a variable name, not "${name}"`);
  const value = (env[name] ?? '').trim();
  return value === '' ? undefined : { value, from: `$${name}` };
}

/** The node's control URL: http(s), an origin (the endpoint's paths are at its root). */
export function nodeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`check-node takes the control listener's URL, such as http://127.0.0.1:8091, not "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`check-node takes an http:// or https:// URL, not "${raw}"`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.username) throw new UsageError(`check-node takes the control listener's address alone (http://HOST:PORT), not "${raw}"`);
  return u.origin;
}

/** Runs check-node; `api` when a token was given. Returns the exit code. */
export async function runCheckNode(args: string[], opts: ApiOptionValues, io: Io, api: ApiClient | undefined): Promise<number> {
  const [raw] = positionals(args, 1, 1, 'check-node URL [--secret-file FILE | --secret-env VAR] [--probe URL] [--within 5m]');
  const url = nodeUrl(raw as string);
  const withinS = opts.within === undefined ? 300 : durationSeconds(opts.within, 'within');
  if (opts.probe !== undefined && !/^https?:\/\//.test(opts.probe)) throw new UsageError(`--probe takes a page of the node, such as http://shop.example/, not "${opts.probe}"`);
  const secret = readSecret(opts, io.env);
  const findings = await checkNode({ url, ...(secret ? { secret } : {}), ...(api ? { api } : {}), ...(opts.probe === undefined ? {} : { probe: opts.probe }), withinS });
  if (opts.json) io.out(`${JSON.stringify({ url, ok: findings.every((f) => f.ok), findings })}\n`);
  else io.out(formatFindings(url, findings));
  return exitCodeOf(findings);
}

