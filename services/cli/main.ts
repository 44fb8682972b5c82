#!/usr/bin/env node
// logwarden — one CLI, every service a subcommand.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../shared/config/load.js';
import { VERSION } from '../../shared/version.js';
import type { Runtime, ServiceName } from '../runtime.js';
import { API_COMMANDS, API_OPTIONS, API_USAGE, runApiCommand, type ApiOptionValues } from './commands/index.js';
import { nginxSteps } from './nginx-steps.js';

// The services' modules (Kafka, ClickHouse, piscina, ...) load only for the commands that run them:
// an operator command over the API starts in a fraction of the time.

const USAGE = `logwarden ${VERSION} — log-stream security for nginx/OpenResty

usage: logwarden <command> [--config FILE]

commands:
  all            every service in this process (embedded mode; what npm start runs)
  ingester       syslog in, AccessRecords out to the bus
  detector       windowed detectors per client IP → events and block decisions
  sink           bus → ClickHouse
  enforcer       keeps the OpenResty nodes' blocklists (nodes:) equal to the decisions
  notifier       webhooks (notifications:) told of blocks, events, feed failures, nodes out of sync;
                 SIEM targets (siem:) pushed every event and block in ECS
  api            management API (port 8090)
  replay FILE... parse access logs (plain, .gz, or - for stdin) and publish them like live traffic
  migrate        apply ClickHouse migrations, then exit
  check-config   validate the configuration and print the effective values
  geo [ADDRESS]  the bundled country and ASN databases (versions, dates, licences), and an address's
                 country and AS
  version        print the version

options:
  -c, --config FILE   YAML configuration (default: $LOGWARDEN_CONFIG, else ./logwarden.yaml, else defaults)
  -w, --workers N     ingester: N processes sharing the UDP/TCP sockets (default ingest.workers)
      --report        replay: run the detectors in-process over the files (backtesting) and report
                      who would have been blocked, when and by which detector; publishes nothing
      --threads N     replay --report: threads, each detecting the clients that hash to it
                      (default detection.shards for the json and combined formats, else 1)
      --format F      replay: the files' log format: json, combined, or an nginx log_format string
                      (default: detected from each file's first lines, syslog headers included)
      --no-dns        replay --report: do not verify crawler claims with DNS (offline; the report says so)
      --json          replay, geo: print the summary (or the report) as JSON
  -h, --help

exit codes: 0 ok, 1 runtime failure (replay: most lines rejected), 2 usage or configuration error

${API_USAGE}`;

const EXIT_USAGE = 2;

function fail(message: string, code = 1): never {
  process.stderr.write(`logwarden: ${message}\n`);
  process.exit(code);
}

/** logwarden geo [ADDRESS]: the bundled databases, and an address's country and AS (services/cli/geo.ts). */
async function geo(configFile: string | undefined, address: string | undefined, json: boolean): Promise<void> {
  const config = await load(configFile);
  const { geoReport } = await import('./geo.js');
  const { UsageError } = await import('./errors.js');
  try {
    process.stdout.write(geoReport(config, address, json));
  } catch (err) {
    if (err instanceof UsageError) fail(err.message, EXIT_USAGE);
    throw err;
  }
}

async function load(file: string | undefined): Promise<Config> {
  const { loadConfig, ConfigError } = await import('../../shared/config/load.js');
  try {
    return loadConfig(file === undefined ? {} : { file });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, EXIT_USAGE);
    throw err;
  }
}

const MAIN_OPTIONS = new Set(['config', 'workers', 'json', 'report', 'threads', 'format', 'no-dns', 'help']);

/** stdin, whole, when it is not a terminal (a credential piped to routes add). */
function readStdin(): string | undefined {
  if (process.stdin.isTTY) return undefined;
  return readFileSync(0, 'utf8');
}

async function apiCommand(command: string, args: string[], values: ApiOptionValues): Promise<void> {
  const interrupt = new AbortController();
  const stop = (): void => interrupt.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const code = await runApiCommand(command, args, values, {
    env: process.env,
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    stdin: readStdin,
    interrupted: interrupt.signal,
  });
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  process.exitCode = code;
}

function banner(rt: Runtime): string {
  const c = rt.config;
  const lines = [`logwarden ${VERSION} running: ${rt.bus.kind === 'memory' ? 'embedded (in-process bus)' : `Kafka ${c.kafka.brokers.join(',')}`}, ClickHouse ${rt.ch?.mode ?? '-'}`];
  if (rt.udpPort !== undefined) {
    lines.push(`  syslog (UDP)  ${c.ingest.udp.host}:${rt.udpPort}`, ...nginxSteps({ udpHost: c.ingest.udp.host, udpPort: rt.udpPort, nodes: c.nodes }));
  }
  if (rt.apiPort !== undefined) {
    const api = `http://${c.api.host}:${rt.apiPort}`;
    lines.push(`  API           ${api}  (health: /healthz, readiness: /readyz, metrics: /metrics)`, `  API docs      ${api}/api/docs`);
    if (rt.newAdminToken !== undefined) {
      lines.push(
        `  admin token   ${rt.newAdminToken}`,
        `                shown only this once: only its hash is kept, in ${c.api.token_file}; keep the token now`,
        '                (LOGWARDEN_TOKEN=<token> logwarden blocks); lost, and no api.tokens configured: delete that file and restart',
      );
    }
    lines.push(`  dashboard     ${api}/dashboard/  (sign in with an API token)`, '  demo          in a second terminal: LOGWARDEN_TOKEN=<token> npm run demo');
  }
  if (rt.enforcer) lines.push(`  enforcer      ${c.nodes.map((n) => `${n.name} (${n.url})`).join(', ')}`);
  if (rt.notifier) lines.push(`  notifier      ${c.notifications.targets.map((t) => `${t.name} (${t.format}: ${t.kinds.join(', ')})`).join('; ')}`);
  if (rt.siem) lines.push(`  siem push     ${c.siem.targets.map((t) => `${t.name} (${t.transport}: ${t.records.join(', ')})`).join('; ')}`);
  lines.push(`  capture       ${rt.state.capture ? 'on: every request is stored in ClickHouse (requests table)' : 'off (security.realtime_capture)'}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string', short: 'w' },
        json: { type: 'boolean' },
        report: { type: 'boolean' },
        threads: { type: 'string' },
        'no-dns': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...API_OPTIONS,
      },
    });
  } catch (err) {
    if (argv.some((a) => a === '--token' || a.startsWith('--token='))) {
      fail('there is no --token option: command lines are visible to every user in ps; set LOGWARDEN_TOKEN or --token-file FILE', EXIT_USAGE);
    }
    fail(`${(err as Error).message}\n\n${USAGE}`, EXIT_USAGE);
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (API_COMMANDS.has(command)) {
    // --format is replay's and feeds add's: the operator command decides whether it applies.
    const { config: _c, workers: _w, report: _r, threads: _t, 'no-dns': _n, help: _h, ...apiValues } = parsed.values;
    for (const k of ['config', 'workers', 'report', 'threads', 'no-dns'] as const) {
      if (parsed.values[k] !== undefined) fail(`--${k} does not apply to ${command}\n(logwarden --help lists the commands)`, EXIT_USAGE);
    }
    await apiCommand(command, rest, apiValues);
    return;
  }
  for (const [k, v] of Object.entries(parsed.values)) {
    if (v !== undefined && !MAIN_OPTIONS.has(k)) fail(`--${k} does not apply to ${command}\n\n${USAGE}`, EXIT_USAGE);
  }
  if (rest.length > 0 && command !== 'replay' && !(command === 'geo' && rest.length === 1)) fail(`unexpected argument ${rest[0]}\n\n${USAGE}`, EXIT_USAGE);

  switch (command) {
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return;
    case 'check-config': {
      const config = await load(parsed.values.config);
      // A webhook URL read from url_env/url_file is a secret too (a Slack-compatible URL carries its token);
      // a SIEM target's auth header value (header_value) is one.
      const masked = function (this: Record<string, unknown>, k: string, v: unknown): unknown {
        return (/password$|secret$|^header_value$/.test(k) || (k === 'url' && (this.url_env || this.url_file))) && v ? '[set]' : v;
      };
      process.stdout.write(`${JSON.stringify(config, masked, 2)}\n`);
      return;
    }
    case 'geo':
      return geo(parsed.values.config, rest[0], parsed.values.json === true);
    case 'migrate': {
      const config = await load(parsed.values.config);
      const { migrateConfigured, openConfigured } = await import('../../shared/clickhouse/configured.js');
      const ch = await openConfigured(config);
      try {
        const r = await migrateConfigured(ch, config);
        process.stdout.write(`schema at version ${r.version}; applied now: ${r.applied.map((a) => a.name).join(', ') || 'none'}\n`);
      } finally {
        await ch.close();
      }
      return;
    }
    case 'replay': {
      if (rest.length === 0) fail(`replay needs at least one FILE (or - for stdin)\n\n${USAGE}`, EXIT_USAGE);
      const config = await load(parsed.values.config);
      const { rootLogger } = await import('../../shared/log.js');
      rootLogger.level = config.log_level;
      const format = parsed.values.format;
      if (format !== undefined) {
        const { validateLogFormat } = await import('../../shared/access-log/formats/index.js');
        const problem = validateLogFormat(format);
        if (problem) fail(`--format: ${problem}`, EXIT_USAGE);
      }
      const { replayVerdict } = await import('./replay-verdict.js');
      if (parsed.values.report) {
        const { backtest, formatBacktest } = await import('../detector/backtest.js');
        const threads = parsed.values.threads === undefined ? undefined : Number(parsed.values.threads);
        if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64)) fail('--threads takes a whole number from 1 to 64', EXIT_USAGE);
        const report = await backtest(config, rest, { ...(threads === undefined ? {} : { threads }), ...(format === undefined ? {} : { format }), dns: !parsed.values['no-dns'] });
        process.stdout.write(parsed.values.json ? `${JSON.stringify(report)}\n` : formatBacktest(report));
        const verdict = await replayVerdict(config, rest, report);
        if (verdict) fail(verdict);
        return;
      }
      const { formatReplay, replay } = await import('./replay.js');
      const summary = await replay(config, rest, format);
      process.stdout.write(parsed.values.json ? `${JSON.stringify(summary)}\n` : formatReplay(summary));
      const verdict = await replayVerdict(config, rest, summary);
      if (verdict) fail(verdict);
      return;
    }
    default:
      break;
  }

  const { SERVICES, startRuntime } = await import('../runtime.js');
  const services: ServiceName[] = command === 'all' ? [...SERVICES] : SERVICES.includes(command as ServiceName) ? [command as ServiceName] : [];
  if (services.length === 0) fail(`unknown command "${command}"\n\n${USAGE}`, EXIT_USAGE);
  const config = await load(parsed.values.config);
  const { rootLogger } = await import('../../shared/log.js');
  rootLogger.level = config.log_level;
  const workers = parsed.values.workers === undefined ? config.ingest.workers : Number(parsed.values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) fail('--workers takes a whole number from 1 to 64', EXIT_USAGE);
  const { default: cluster } = await import('node:cluster');
  if (workers > 1) {
    if (command !== 'ingester') fail('--workers applies to the ingester command', EXIT_USAGE);
    if (config.kafka.brokers.length === 0) fail('several ingester workers need Kafka (kafka.brokers): the in-process bus is per process', EXIT_USAGE);
    if (cluster.isPrimary) {
      const { superviseWorkers } = await import('./workers.js');
      await superviseWorkers(workers, config);
      return;
    }
  }
  const { startMetricsServer } = await import('../../shared/metrics.js');
  // Embedded mode's first start makes the admin token (printed once below); a single service never does.
  const rt = await startRuntime(config, new Set(services), { generateToken: command === 'all' });
  // Without the API in this process, /metrics gets a listener of its own (a cluster worker reports to its primary).
  const metrics =
    !services.includes('api') && config.metrics.port !== 0 && !cluster.isWorker
      ? await startMetricsServer(config.metrics.host, config.metrics.port)
      : undefined;
  process.stdout.write(`${banner(rt)}\n`);
  if (metrics) process.stdout.write(`  metrics       http://${config.metrics.host}:${metrics.port}/metrics\n`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    rootLogger.info({ signal }, 'stopping: flushing what is held');
    Promise.all([rt.stop(), metrics?.close()]).then(
      () => process.exit(0),
      (err: unknown) => {
        rootLogger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch(async (err: unknown) => {
    const { rootLogger } = await import('../../shared/log.js');
    rootLogger.error({ err }, 'fatal');
    process.exit(1);
  });
}
