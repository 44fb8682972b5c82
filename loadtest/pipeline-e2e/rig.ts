// The distributed mode on this machine, for the end-to-end bench: the Kafka
// broker of infra/kafka/kafka.sh (KAFKA_PORT), a real nginx with the Lua module
// and its control endpoint (shared/testing/nginx.ts), and the logwarden roles
// as separate processes — ingester (UDP and TCP), detector, sink (embedded
// ClickHouse, real-time capture on so every access record lands in `requests`)
// and enforcer (pushing to that nginx). Detection runs at FlatRun's defaults.
// Also: a watcher of the decisions topic, and a prober that asks nginx, for
// each attacker, whether it refuses it yet (X-Forwarded-For from 127.0.0.1,
// which the test nginx trusts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import type { Subscription } from '../../shared/bus/types.js';
import { freePort, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';
import { consumerGroup, topicNames, type Topics } from '../../shared/topics.js';
import { lag, total } from './accounting.js';

export const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = join(root, 'dist/services/cli/main.js');

export const STAGES = ['ingester', 'detector', 'sink', 'enforcer'] as const;
export type Stage = (typeof STAGES)[number];

interface Proc {
  name: Stage;
  child: ChildProcess;
  log: string;
}

export interface RigOptions {
  partitions: number;
  workers: number;
}

export class Rig {
  readonly dir = mkdtempSync(join(tmpdir(), 'pipeline-e2e-'));
  readonly stamp = `pe${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  readonly topics: Topics = topicNames(`${this.stamp}.`);
  readonly groups: Record<'detector' | 'sink', string>;
  broker = '';
  kafkaVersion = '';
  udpPort = 0;
  tcpPort = 0;
  sinkMetricsPort = 0;
  nginx: TestNginx | undefined;
  bus: KafkaBus | undefined;
  private procs: Proc[] = [];
  private decisionsSub: Subscription | undefined;
  /** First block decision per address: its time (the offending line's $msec) and when the bench saw it. */
  readonly blocks = new Map<string, { createdAt: number; seenAt: number }>();

  constructor(private readonly opts: RigOptions) {
    const kafka = { client_id: this.stamp, topic_prefix: `${this.stamp}.` };
    this.groups = { detector: consumerGroup(kafka, 'detector'), sink: consumerGroup(kafka, 'sink-requests') };
  }

  pid(stage: Stage): number {
    const p = this.procs.find((x) => x.name === stage);
    if (!p?.child.pid) throw new Error(`${stage} is not running`);
    return p.child.pid;
  }

  async start(): Promise<void> {
    const line = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()?.split(/\s+/) ?? [];
    this.broker = line[0] as string;
    this.kafkaVersion = line[1] ?? '';
    this.bus = new KafkaBus({ brokers: [this.broker], clientId: `${this.stamp}-bench`, acks: 'all', compression: 'none', replicationFactor: 1 });
    this.udpPort = await freePort();
    this.tcpPort = await freePort();
    this.sinkMetricsPort = await freePort();
    const secret = randomBytes(24).toString('hex');
    // nginx's own access log goes to a port nobody reads: the probes are not part of the traffic.
    this.nginx = await startTestNginx({ syslog: `127.0.0.1:${await freePort()}`, controlPort: await freePort(), controlSecret: secret });
    const config = join(this.dir, 'logwarden.yaml');
    writeFileSync(
      config,
      [
        // No `security:` thresholds: FlatRun's defaults. Capture on: every access record becomes a row.
        `kafka: { brokers: ["${this.broker}"], client_id: "${this.stamp}", topic_prefix: "${this.stamp}.", partitions: ${this.opts.partitions}, linger: 5ms }`,
        `clickhouse: { database: ${this.stamp} }`,
        `ingest: { udp: { host: 127.0.0.1, port: ${this.udpPort} }, tcp: { enabled: true, host: 127.0.0.1, port: ${this.tcpPort} } }`,
        'security: { realtime_capture: true }',
        `nodes: [{ name: edge-1, url: "${this.nginx.controlUrl as string}", secret_env: LOGWARDEN_BENCH_NODE_SECRET }]`,
        'metrics: { port: 0 }',
        `data_dir: ${JSON.stringify(join(this.dir, 'data'))}`,
        'log_level: warn',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const env: NodeJS.ProcessEnv = { ...process.env, LOGWARDEN_BENCH_NODE_SECRET: secret };
    for (const k of ['LOGWARDEN_CONFIG', 'CLICKHOUSE_URL', 'LOGWARDEN_LOG_LEVEL', 'LOGWARDEN_KAFKA_BROKERS', 'LOGWARDEN_TOPIC_PREFIX']) delete env[k];
    // The sink first: it applies the migrations. Its /metrics tells the rows ClickHouse acknowledged.
    await this.spawn('sink', ['sink', '-c', config], { ...env, LOGWARDEN__METRICS__PORT: String(this.sinkMetricsPort) });
    await Promise.all([
      this.spawn('ingester', ['ingester', '-c', config, '--workers', String(this.opts.workers)], env),
      this.spawn('detector', ['detector', '-c', config], env),
      this.spawn('enforcer', ['enforcer', '-c', config], env),
    ]);
    this.decisionsSub = await this.bus.subscribe({
      groupId: `${this.stamp}-bench-decisions`,
      topics: [this.topics.decisions],
      fromBeginning: true,
      onBatch: (batch) => {
        const seenAt = Date.now();
        for (const m of batch.messages) {
          const d = blockDecisionCodec.decode(m.value);
          if (d.action === 'block' && !this.blocks.has(d.ip)) this.blocks.set(d.ip, { createdAt: d.created_at, seenAt });
        }
        return Promise.resolve();
      },
    });
  }

  private spawn(name: Stage, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
    const log = join(this.dir, `${name}.log`);
    const out = createWriteStream(log);
    const child = spawn(process.execPath, [cli, ...args], { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push({ name, child, log });
    child.stderr?.pipe(out);
    return new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`${name} not ready within 120 s (log: ${log})`)), 120_000);
      child.stdout?.on('data', (b: Buffer) => {
        out.write(b);
        seen = (seen + b.toString()).slice(-8192);
        if (/running:/.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) (log: ${log}): ${this.tail(log)}`));
      });
    });
  }

  tail(log: string): string {
    try {
      return readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ');
    } catch {
      return '';
    }
  }

  /** Which processes died, with the end of their logs. */
  dead(): string[] {
    return this.procs.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null).map((p) => `${p.name} exited (${p.child.exitCode ?? p.child.signalCode}): ${this.tail(p.log)}`);
  }

  /** Access records and dead-lettered lines on the topics; each group's lag over the access topic. */
  async counts(): Promise<{ onTopic: number; rejected: number; lag: Record<string, number> }> {
    const bus = this.bus as KafkaBus;
    const ends = await bus.endOffsets(this.topics.access);
    const dl = await bus.endOffsets(this.topics.deadLetter).catch(() => []);
    const lags: Record<string, number> = {};
    for (const [name, group] of Object.entries(this.groups)) lags[name] = lag(ends, await bus.committedOffsets(group, this.topics.access));
    return { onTopic: total(ends), rejected: total(dl), lag: lags };
  }

  /** Rows ClickHouse acknowledged to the sink in `requests` (logwarden_sink_rows_total). */
  async storedRows(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.sinkMetricsPort}/metrics`)).text();
    const m = /^logwarden_sink_rows_total\{[^}]*table="requests"[^}]*\}\s+(\S+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  /**
   * Until `deadlineMs`, asks nginx every `everyMs` for each address whether it
   * refuses it (403); resolves with the time of each one's first 403.
   */
  async probe(ips: readonly string[], everyMs: number, deadlineMs: number): Promise<Map<string, number>> {
    const nginx = this.nginx as TestNginx;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4, localAddress: '127.0.0.1' });
    const first = new Map<string, number>();
    const get = (ip: string): Promise<number> =>
      new Promise((resolve) => {
        const req = http.get(`${nginx.url}/`, { agent, headers: { 'x-forwarded-for': ip }, timeout: 5_000 }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(0));
      });
    try {
      while (Date.now() < deadlineMs && first.size < ips.length) {
        const t = Date.now();
        await Promise.all(
          ips.filter((ip) => !first.has(ip)).map(async (ip) => {
            if ((await get(ip)) === 403) first.set(ip, Date.now());
          }),
        );
        await sleep(Math.max(0, everyMs - (Date.now() - t)));
      }
    } finally {
      agent.destroy();
    }
    return first;
  }

  async stop(): Promise<void> {
    await this.decisionsSub?.close().catch(() => undefined);
    await this.bus?.close().catch(() => undefined);
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const gone = new Promise((r) => p.child.once('exit', r));
        p.child.kill('SIGTERM');
        const hard = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
        await gone;
        clearTimeout(hard);
      }),
    );
    await this.nginx?.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
