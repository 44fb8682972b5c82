// Tests that need the real broker call kafkaBrokers(): `npm test` starts it
// once and passes its address; a test file run on its own starts it here.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export function unitOnly(): boolean {
  return process.env.LOGWARDEN_TEST_UNIT_ONLY === '1';
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
