// What the fault tests share: waiting on a condition (never a fixed sleep
// standing in for an assertion), a Kafka broker of the test's own that it may
// stop and start, and logwarden services run as child processes that can be
// killed outright.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
export { PrivateBroker } from '../../shared/testing/kafka.js';
import { loadConfig, type Config } from '../../shared/config/load.js';
import { until as waitUntil } from '../../shared/testing/wait.js';

export const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Polls `fn` until it returns a value (not undefined); throws naming `what` after `ms` (a minute by default: faults take time). */
export function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 60_000, every = 100): Promise<T> {
  return waitUntil(what, fn, ms, every);
}

/**
 * The config of a whole pipeline in one process (ingester on TCP and UDP, detectors,
 * sinks with capture on) on `brokers`, named `name` (topics, groups, database).
 */
export function pipelineConfig(name: string, brokers: string[], dataDir: string, o: { partitions: number; kafka?: string; ingest?: string }): Config {
  return loadConfig({
    text: [
      `kafka: { brokers: ${JSON.stringify(brokers)}, client_id: "${name}", topic_prefix: "${name}.", partitions: ${o.partitions}, linger: 5ms${o.kafka ? `, ${o.kafka}` : ''} }`,
      `clickhouse: { database: ${name.replace(/[^A-Za-z0-9_]/g, '_')} }`,
      `ingest: { udp: { port: 0 }, tcp: { enabled: true, port: 0 }${o.ingest ? `, ${o.ingest}` : ''} }`,
      'security: { realtime_capture: true }',
      'detection: { shards: 1 }',
      `data_dir: ${JSON.stringify(dataDir)}`,
      'log_level: error',
    ].join('\n'),
    env: {},
  });
}

/** One pino line of a child's log. */
export type LogLine = Record<string, unknown> & { msg?: string };

/** A logwarden CLI command (`node dist/services/cli/main.js <command> -c <file>`) in a process of its own. */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private tail = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'lw-fault-proc-'));

  constructor(command: string, configYaml: string) {
    const file = join(this.dir, 'logwarden.yaml');
    writeFileSync(file, configYaml, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The child is a service, not a test: it must not think it runs under node:test.
    delete env.NODE_TEST_CONTEXT;
    delete env.LOGWARDEN_LOG_LEVEL;
    this.child = spawn(process.execPath, [join(root, 'dist/services/cli/main.js'), command, '-c', file], { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk: Buffer): void => {
      this.tail += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.tail.indexOf('\n')) >= 0) {
        const text = this.tail.slice(0, nl);
        this.tail = this.tail.slice(nl + 1);
        if (!text.startsWith('{')) continue;
        try {
          this.lines.push(JSON.parse(text) as LogLine);
        } catch {
          // not a log line (the banner)
        }
      }
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Log lines with this message. */
  logged(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** SIGKILL: no shutdown hook runs, no group leave, no final flush. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait for the orderly stop. */
  async stop(): Promise<number | null> {
    if (this.alive) this.child.kill('SIGTERM');
    const code = await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}
