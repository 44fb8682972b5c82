// A 3-node Kafka cluster of a fault test's own (infra/kafka/kafka.sh
// cluster-*), on six consecutive loopback ports: node N's broker on
// base+2(N-1), its controller on the next port. The base is
// LOGWARDEN_TEST_KAFKA_CLUSTER_PORT when set, else the first free range found.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { root, until } from './helpers.js';

const NODES = 3;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports found`);
}

export class PrivateCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'lw-private-cluster-'));
  private env: NodeJS.ProcessEnv = {};
  brokers: string[] = [];

  /** Starts the three nodes and waits until every one is registered with the quorum (topics of replication factor 3 can be created). */
  async start(): Promise<string[]> {
    if (this.brokers.length === 0) {
      const fixed = Number(process.env.LOGWARDEN_TEST_KAFKA_CLUSTER_PORT ?? 0);
      const base = fixed > 0 ? fixed : await freeRange(2 * NODES);
      this.env = { ...process.env, LOGWARDEN_KAFKA_DIR: this.dir, KAFKA_CLUSTER_PORT: String(base) };
    }
    this.brokers = (this.sh('cluster-start').split(/\s+/)[0] as string).split(',');
    await this.waitForBrokers(NODES);
    return this.brokers;
  }

  /** The broker address of node `n` (1-3). */
  address(n: number): string {
    return this.brokers[n - 1] as string;
  }

  /** The node (1-3) whose broker listens on `port`. */
  nodeOfPort(port: number): number {
    return this.brokers.findIndex((b) => b.endsWith(`:${port}`)) + 1;
  }

  /** SIGKILL node `n`: no controlled shutdown, no leadership handed over. (Asynchronous: the pipeline under test shares this event loop.) */
  async kill(n: number): Promise<void> {
    await this.shAsync('kill-broker', String(n));
  }

  /** Starts node `n` again on its data and waits until the cluster counts it again. */
  async restart(n: number): Promise<void> {
    await this.shAsync('start-broker', String(n));
    await this.waitForBrokers(NODES);
  }

  /** Waits until `count` brokers are registered and unfenced (the cluster's metadata lists them). */
  async waitForBrokers(count: number): Promise<void> {
    const admin = this.admin();
    await admin.connect();
    try {
      await until(`${count} Kafka brokers registered`, async () => {
        const c = await admin.describeCluster().catch(() => undefined);
        return c && c.brokers.length >= count ? true : undefined;
      }, 120_000, 250);
    } finally {
      await admin.disconnect();
    }
  }

  /** A kafkajs admin client on this cluster, for what the bus does not expose (leaders, ISR, groups). */
  admin(): kafkajs.Admin {
    return new kafkajs.Kafka({ clientId: 'lw-fault-cluster-probe', brokers: this.brokers, logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 3 } }).admin();
  }

  /** Stops every node and deletes the data. */
  dispose(): void {
    try {
      if (this.brokers.length > 0) this.sh('cluster-stop');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private async shAsync(...args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)('bash', ['infra/kafka/kafka.sh', ...args], { cwd: root, env: this.env, encoding: 'utf8' });
    return stdout.trim();
  }

  private sh(...args: string[]): string {
    return execFileSync('bash', ['infra/kafka/kafka.sh', ...args], { cwd: root, env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }
}

export { offsetsPartitionOf } from '../../shared/bus/kafka-failover.js';
