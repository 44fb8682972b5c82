#!/usr/bin/env node
// `npm run demo`: a real nginx with the Lua module, logwarden, and attackers,
// on loopback, for a bounded time. The terminal shows who gets blocked and
// why as it happens, and a summary at the end.
//
// Two ways to run it:
// - Next to a running `npm start` (found on 127.0.0.1:8090, or --api URL):
//   the demo nginx sends its log to that instance's syslog port (--syslog,
//   default 127.0.0.1:5514), so detection, events, blocks and the dashboard
//   are that instance's. It needs the token `npm start` printed on its first
//   start (LOGWARDEN_TOKEN or --token). The instance has no `nodes:` entry
//   for the demo nginx, and none is added to it: the demo runs an enforcer of
//   its own (the same Enforcer class) for its nginx, fed with the instance's
//   blocks read from the API, like an enforcer per edge node.
// - Alone (nothing on 8090, or --embedded): the demo starts an embedded
//   instance of its own (temporary data, API on 8090 when free) whose
//   enforcer lists the demo nginx as its node, and prints the dashboard URL
//   and a token for the length of the demo.
//
// Files: demo-instance.ts (the instance and the demo nginx), demo-traffic.ts
// (the clients, each from its own 127.0.x.y address), demo-watch.ts (the live
// lines), demo-summary.ts (the account at the end), demo-site.ts (what the
// visitors look like).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootLogger } from '../../shared/log.js';
import { attachInstance, startOwnInstance, type DemoInstance } from './demo-instance.js';
import { formatSummary, progressLine, summarise, type DemoSummary } from './demo-summary.js';
import { startTraffic, type ClientStats } from './demo-traffic.js';
import { startWatch } from './demo-watch.js';

export { formatSummary, type AttackerSummary, type DemoSummary } from './demo-summary.js';

export const MAX_SECONDS = 300;

export interface DemoOptions {
  seconds: number;
  benign: number;
  /** Attackers of each kind (scanner, brute-forcer, flooder). */
  attackers: number;
  /** 'attach': use the instance at `api`; 'own': start one in this process. */
  mode: 'attach' | 'own';
  api?: string;
  token?: string;
  /** attach: the instance's syslog address for the demo nginx. */
  syslog?: string;
  /** own: API port (0: any free one). */
  apiPort?: number;
  out?: (line: string) => void;
  signal?: AbortSignal;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Runs the demo and returns its summary; everything it started is stopped before it returns. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The demo's own instance logs warnings only: the terminal is for the demo.
  if (o.mode === 'own' && rootLogger.level !== 'silent') rootLogger.level = 'warn';
  if (!(o.seconds > 0 && o.seconds <= MAX_SECONDS)) throw new RangeError(`seconds must be within (0, ${MAX_SECONDS}]`);
  const stops: Array<() => Promise<void>> = [];
  const started = Date.now();
  try {
    const instanceOptions = {
      controlSecret: randomBytes(24).toString('hex'),
      out,
      onStop: (stop: () => Promise<void>) => void stops.push(stop),
      ...(o.apiPort === undefined ? {} : { apiPort: o.apiPort }),
      ...(o.api === undefined ? {} : { api: o.api }),
      ...(o.token === undefined ? {} : { token: o.token }),
      ...(o.syslog === undefined ? {} : { syslog: o.syslog }),
    };
    const instance = o.mode === 'own' ? await startOwnInstance(instanceOptions) : await attachInstance(instanceOptions);
    out(`  demo nginx ${instance.nginx.url}   (try: curl ${instance.nginx.url}/)`);
    return await runTraffic(o, instance, started, out, (stop) => void stops.push(stop));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

/** The watchers, then the traffic for o.seconds, then the summary. */
async function runTraffic(o: DemoOptions, instance: DemoInstance, started: number, out: (line: string) => void, onStop: (stop: () => Promise<void>) => void): Promise<DemoSummary> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  o.signal?.addEventListener('abort', onAbort);
  onStop(() => {
    o.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    return Promise.resolve();
  });
  const byIp = new Map<string, ClientStats>();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  const watch = startWatch({ base: instance.base, token: instance.token, signal: stop.signal, clients: byIp, out, elapsed, feedEnforcer: instance.feedEnforcer });
  await Promise.race([watch.ready, sleep(5_000)]);

  out(`▶ traffic for ${o.seconds} s: ${o.benign} benign visitors, ${o.attackers} scanner(s), ${o.attackers} brute-forcer(s), ${o.attackers} flooder(s), each from its own 127.0.x.y address`);
  const trafficStart = Date.now();
  const traffic = startTraffic({ url: instance.nginx.url, seconds: o.seconds, benign: o.benign, attackers: o.attackers, signal: stop.signal });
  for (const c of traffic.clients) byIp.set(c.ip, c);
  const ticker = setInterval(() => out(`${elapsed()}  ·        ${progressLine(traffic.clients, watch.blocks)}`), 3_000);
  try {
    await traffic.done;
  } finally {
    clearInterval(ticker);
  }
  const seconds = Math.round((Date.now() - trafficStart) / 100) / 10;
  // Late events (flushes every scan_interval) and the last poll, then the watchers stop.
  await sleep(1_500);
  stop.abort();
  await watch.done;
  return summarise({ mode: o.mode, seconds, clients: traffic.clients, blocks: watch.blocks, eventsByType: watch.eventsByType, eventsByDetector: watch.eventsByDetector });
}

const USAGE = `npm run demo [-- options]

Starts a test nginx with logwarden's Lua module, sends benign visitors and
attackers (scanner, brute-forcer, flooder) through it on loopback for a bounded
time, and shows live which addresses logwarden blocks and why.

  --seconds N     how long the traffic runs (default 60, at most ${MAX_SECONDS})
  --benign N      benign visitors (default 12)
  --attackers N   attackers of each kind (default 2)
  --api URL       the running logwarden to use (default http://127.0.0.1:8090 when it answers)
  --token-file F  a file holding its API token (default: $LOGWARDEN_TOKEN; never a
                  token on the command line, which every user sees in ps)
  --syslog H:P    its syslog address, where the demo nginx logs (default 127.0.0.1:5514)
  --embedded      start an instance of the demo's own even when one runs on 8090
  --json          print the summary as JSON`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' }, benign: { type: 'string' }, attackers: { type: 'string' }, api: { type: 'string' },
      'token-file': { type: 'string' }, syslog: { type: 'string' }, embedded: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const int = (v: string | undefined, d: number, min: number, max: number, name: string): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      process.stderr.write(`demo: --${name} takes a whole number from ${min} to ${max}\n`);
      process.exit(2);
    }
    return n;
  };
  const seconds = int(values.seconds, 60, 1, MAX_SECONDS, 'seconds');
  const benign = int(values.benign, 12, 0, 200, 'benign');
  const attackers = int(values.attackers, 2, 0, 50, 'attackers');
  const api = values.api ?? 'http://127.0.0.1:8090';
  const token = values['token-file'] !== undefined ? readFileSync(values['token-file'], 'utf8').trim() : process.env.LOGWARDEN_TOKEN;
  let mode: 'attach' | 'own' = 'own';
  if (!values.embedded) {
    const up = await fetch(`${api.replace(/\/+$/, '')}/healthz`, { signal: AbortSignal.timeout(1_500) }).then((r) => r.ok, () => false);
    if (up) mode = 'attach';
    else if (values.api) {
      process.stderr.write(`demo: nothing answers at ${api}/healthz\n`);
      process.exit(1);
    }
  }
  if (mode === 'attach' && !token) {
    process.stderr.write(
      `demo: logwarden runs at ${api}; to follow it the demo needs its API token.\n` +
        '  npm start printed it on its first start ("admin token: lw_..."): LOGWARDEN_TOKEN=lw_... npm run demo\n' +
        '  lost it? stop npm start, delete data/api-tokens.json, start it again: it prints a new one.\n' +
        '  or run the demo with an instance of its own: npm run demo -- --embedded\n',
    );
    process.exit(2);
  }
  const ac = new AbortController();
  process.once('SIGINT', () => {
    process.stdout.write('\n(stopping: Ctrl-C again to quit at once)\n');
    ac.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  const apiPort = mode === 'own' && (await portFree(8090)) ? 8090 : 0;
  const summary = await runDemo({
    seconds, benign, attackers, mode, api, apiPort, signal: ac.signal,
    ...(token ? { token } : {}),
    ...(values.syslog ? { syslog: values.syslog } : {}),
  });
  process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  // Wait-free exit: every service was stopped; stray keep-alive timers must not hold the terminal.
  process.exit(summary.attackers.every((a) => a.blocked) ? 0 : 1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
