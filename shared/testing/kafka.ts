// Tests that need the real broker call kafkaBrokers(): `npm test` starts it
// once and passes its address; a test file run on its own starts it here.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './nginx.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export function unitOnly(): boolean {
  return process.env.LOGWARDEN_TEST_UNIT_ONLY === '1';
}

/**
 * The producer client Kafka tests publish with: kafkajs, or librdkafka when
 * LOGWARDEN_TEST_PRODUCER_CLIENT=librdkafka asks for it (the package is opt-in:
 * infra/kafka/install-librdkafka.sh). Asked for and not installed, the bus's first
 * publish fails (LW_BUS_CLIENT_UNAVAILABLE): never a silent fallback to kafkajs.
 */
export function testProducerClient(): 'kafkajs' | 'librdkafka' {
  return process.env.LOGWARDEN_TEST_PRODUCER_CLIENT === 'librdkafka' ? 'librdkafka' : 'kafkajs';
}

/** Brokers of a real Kafka (started by infra/kafka/kafka.sh when none is given). */
export function kafkaBrokers(): string[] {
  let brokers = process.env.LOGWARDEN_TEST_KAFKA_BROKERS;
  if (!brokers) {
    const out = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    brokers = out.split(/\s+/)[0] ?? '';
    process.env.LOGWARDEN_TEST_KAFKA_BROKERS = brokers;
  }
  return brokers.split(',');
}

/** A name no other test run uses, for topics and consumer groups. */
export function uniqueName(base: string): string {
  return `${base}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * A single-node broker (infra/kafka/kafka.sh) on free ports with its own data
 * directory: stopping it disturbs no other test file, which share the default one.
 */
export class PrivateBroker {
  readonly dir = mkdtempSync(join(tmpdir(), 'lw-private-kafka-'));
  private env: NodeJS.ProcessEnv = {};
  brokers: string[] = [];

  async start(): Promise<string[]> {
    if (this.brokers.length === 0) {
      const [port, cport] = [await freePort(), await freePort()];
      this.env = { ...process.env, LOGWARDEN_KAFKA_DIR: this.dir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(cport), KAFKA_HEAP: '384m' };
    }
    this.brokers = [this.sh('start').split(/\s+/)[0] as string];
    return this.brokers;
  }

  stop(): void {
    this.sh('stop');
  }

  /** Stops the broker and deletes its data. */
  dispose(): void {
    try {
      if (this.brokers.length > 0) this.sh('stop');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private sh(cmd: string): string {
    return execFileSync('bash', ['infra/kafka/kafka.sh', cmd], { cwd: root, env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }
}
