// The Kafka broker during `npm run bench`: the report starts one of its own
// for the benches that use it and stops it before the others, and it will not
// measure beside a broker it did not start.
//
// A broker is not idle: with a few thousand partitions its threads took a
// share of the 2 cores and cost the CPU-bound benches 10-20 % (detection-eval's
// replay: 136k lines/s beside it, 164k without). A test run leaves one up (a
// single test file run with `node --test` starts infra/kafka/kafka.sh and does
// not stop it), and a report once ran beside such a broker and was committed
// with figures 10-20 % low. So a running broker, on any port and from any data
// directory, stops the report before the first bench, naming it and how to
// stop it; `--allow-running-broker` measures anyway, and the report says that
// it ran throughout.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A Kafka broker process found on this machine. */
export interface RunningBroker {
  pid: number;
  /** The properties file it was started with (it names its data directory). */
  config: string;
}

/** Every process whose command line runs the broker's main class (kafka.Kafka), from /proc. */
export function runningBrokers(proc = '/proc'): RunningBroker[] {
  const found: RunningBroker[] = [];
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let args: string[];
    try {
      args = readFileSync(join(proc, e, 'cmdline'), 'latin1').split('\0');
    } catch {
      continue; // ended while listed, or not ours to read
    }
    const main = args.indexOf('kafka.Kafka');
    if (main < 0) continue;
    found.push({ pid: Number(e), config: args.slice(main + 1).find((a) => a.endsWith('.properties')) ?? '(no properties file)' });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** Why the report will not start beside these brokers, and what to do. */
export function refusal(brokers: RunningBroker[]): string {
  const list = brokers.map((b) => `pid ${b.pid} (${b.config})`).join(', ');
  return (
    `a Kafka broker is running: ${list}. It takes CPU from the benches (10-20 % measured), so the report would be low. ` +
    'Stop it (bash infra/kafka/kafka.sh stop, with the KAFKA_PORT and LOGWARDEN_KAFKA_DIR it was started with; ' +
    'a test run leaves infra/kafka/.run on port 19092) or pass --allow-running-broker to measure beside it.'
  );
}

export interface BrokerPolicy {
  /** Before a bench that does not use the broker: stops the report's own. */
  quiet(): void;
  /** After the last bench: removes the report's own broker and its data. */
  end(): void;
  /** For the report's machine table. */
  describe(): string;
}

/**
 * The report's broker: a fresh one (infra/kafka/.run-bench, so it holds only
 * what this run creates) when none was up; the one already up, left alone,
 * when the caller allowed it.
 */
export function brokerPolicy(root: string, alreadyRunning: RunningBroker[]): BrokerPolicy {
  const kafkaSh = (cmd: string): boolean => spawnSync('bash', ['infra/kafka/kafka.sh', cmd], { cwd: root, stdio: 'ignore' }).status === 0;
  if (alreadyRunning.length > 0) {
    const pids = alreadyRunning.map((b) => b.pid).join(', ');
    return { quiet() {}, end() {}, describe: () => `already running when the report started (pid ${pids}), allowed by --allow-running-broker: up during every bench` };
  }
  process.env.LOGWARDEN_KAFKA_DIR = join(root, 'infra/kafka/.run-bench');
  kafkaSh('reset');
  let stops = 0;
  return {
    quiet() {
      if (kafkaSh('status') && kafkaSh('stop')) stops++;
    },
    end() {
      if (process.env.LOGWARDEN_KEEP_KAFKA) return;
      kafkaSh('reset');
    },
    describe: () => `started by the benches that use it (a fresh one, infra/kafka/.run-bench), stopped before the others (${stops} time${stops === 1 ? '' : 's'})`,
  };
}
