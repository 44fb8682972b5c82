#!/usr/bin/env node
// logwarden — one CLI, every service a subcommand.
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadConfig, ConfigError, type Config } from '../../shared/config/load.js';
import { openClickHouse } from '../../shared/clickhouse/client.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { rootLogger } from '../../shared/log.js';
import { startMetricsServer } from '../../shared/metrics.js';
import { SERVICES, VERSION, startRuntime, type Runtime, type ServiceName } from '../runtime.js';
import { backtest, formatBacktest } from '../detector/backtest.js';
import { formatReplay, replay } from './replay.js';
import { superviseWorkers } from './workers.js';

const USAGE = `logwarden ${VERSION} — log-stream security for nginx/OpenResty

usage: logwarden <command> [--config FILE]

commands:
  all            every service in this process (embedded mode; what npm start runs)
  ingester       syslog in, AccessRecords out to the bus
  detector       windowed detectors per client IP → events and block decisions
  sink           bus → ClickHouse
  enforcer       keeps the OpenResty nodes' blocklists (nodes:) equal to the decisions
  api            management API (port 8090)
  replay FILE... parse access logs (plain, .gz, or - for stdin) and publish them like live traffic
  migrate        apply ClickHouse migrations, then exit
  check-config   validate the configuration and print the effective values
  version        print the version

options:
  -c, --config FILE   YAML configuration (default: $LOGWARDEN_CONFIG, else ./logwarden.yaml, else defaults)
  -w, --workers N     ingester: N processes sharing the UDP/TCP sockets (default ingest.workers)
      --report        replay: run the detectors in-process over the files (backtesting) and report
                      who would have been blocked, when and by which detector; publishes nothing
      --threads N     replay --report: threads, each detecting the clients that hash to it
                      (default detection.shards for the json and combined formats, else 1)
      --json          replay: print the summary (or the report) as JSON
  -h, --help

exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error`;

const EXIT_USAGE = 2;

function fail(message: string, code = 1): never {
  process.stderr.write(`logwarden: ${message}\n`);
  process.exit(code);
}

function load(file: string | undefined): Config {
  try {
    return loadConfig(file === undefined ? {} : { file });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, EXIT_USAGE);
    throw err;
  }
}

function banner(rt: Runtime): string {
  const c = rt.config;
  const lines = [`logwarden ${VERSION} running: ${rt.bus.kind === 'memory' ? 'embedded (in-process bus)' : `Kafka ${c.kafka.brokers.join(',')}`}, ClickHouse ${rt.ch?.mode ?? '-'}`];
  if (rt.udpPort !== undefined) {
    const at = `${c.ingest.udp.host}:${rt.udpPort}`;
    lines.push(
      `  syslog (UDP)  ${at}`,
      '  point nginx at it — in http {}:   include /path/to/logwarden/lua/conf/logwarden-http.conf;',
      `                    in each server {}: access_log syslog:server=${at},tag=nginx logwarden_json;`,
      '                    (or include lua/conf/logwarden-server.conf after setting its address)',
    );
  }
  if (rt.apiPort !== undefined) lines.push(`  API           http://${c.api.host}:${rt.apiPort}  (health: /healthz, readiness: /readyz, metrics: /metrics)`);
  if (rt.enforcer) lines.push(`  enforcer      ${c.nodes.map((n) => `${n.name} (${n.url})`).join(', ')}`);
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
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`, EXIT_USAGE);
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (rest.length > 0 && command !== 'replay') fail(`unexpected argument ${rest[0]}\n\n${USAGE}`, EXIT_USAGE);

  switch (command) {
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return;
    case 'check-config': {
      const config = load(parsed.values.config);
      process.stdout.write(`${JSON.stringify(config, (k, v: unknown) => (/password$|secret$/.test(k) && v ? '[set]' : v), 2)}\n`);
      return;
    }
    case 'migrate': {
      const config = load(parsed.values.config);
      const c = config.clickhouse;
      const ch = await openClickHouse({
        ...(c.url ? { url: c.url, username: c.username, password: c.password } : {}),
        database: c.database,
        dataDir: c.data_dir,
        ...(c.cluster ? { cluster: c.cluster } : {}),
      });
      try {
        const r = await migrate(ch, { retentionDays: config.security.retention_days, requestsTtlDays: Math.max(1, Math.ceil(c.requests_ttl_ms / 86_400_000)) });
        process.stdout.write(`schema at version ${r.version}; applied now: ${r.applied.map((a) => a.name).join(', ') || 'none'}\n`);
      } finally {
        await ch.close();
      }
      return;
    }
    case 'replay': {
      if (rest.length === 0) fail(`replay needs at least one FILE (or - for stdin)\n\n${USAGE}`, EXIT_USAGE);
      const config = load(parsed.values.config);
      rootLogger.level = config.log_level;
      if (parsed.values.report) {
        const threads = parsed.values.threads === undefined ? undefined : Number(parsed.values.threads);
        if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64)) fail('--threads takes a whole number from 1 to 64', EXIT_USAGE);
        const report = await backtest(config, rest, threads === undefined ? {} : { threads });
        process.stdout.write(parsed.values.json ? `${JSON.stringify(report)}\n` : formatBacktest(report));
        return;
      }
      const summary = await replay(config, rest);
      process.stdout.write(parsed.values.json ? `${JSON.stringify(summary)}\n` : formatReplay(summary));
      return;
    }
    default:
      break;
  }

  const services: ServiceName[] = command === 'all' ? [...SERVICES] : SERVICES.includes(command as ServiceName) ? [command as ServiceName] : [];
  if (services.length === 0) fail(`unknown command "${command}"\n\n${USAGE}`, EXIT_USAGE);
  const config = load(parsed.values.config);
  rootLogger.level = config.log_level;
  const workers = parsed.values.workers === undefined ? config.ingest.workers : Number(parsed.values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) fail('--workers takes a whole number from 1 to 64', EXIT_USAGE);
  if (workers > 1) {
    if (command !== 'ingester') fail('--workers applies to the ingester command', EXIT_USAGE);
    if (config.kafka.brokers.length === 0) fail('several ingester workers need Kafka (kafka.brokers): the in-process bus is per process', EXIT_USAGE);
    if (cluster.isPrimary) {
      await superviseWorkers(workers, config);
      return;
    }
  }
  const rt = await startRuntime(config, new Set(services));
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
  main(process.argv.slice(2)).catch((err: unknown) => {
    rootLogger.error({ err }, 'fatal');
    process.exit(1);
  });
}
