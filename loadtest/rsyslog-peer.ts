// rsyslog as the front door's peer (imudp → omkafka, the raw line as the
// record), shared by the benches that compare the ingester with it
// (ingest-udp, pipeline-e2e): installed through loadtest/peers/apt-install.sh
// where the machine allows, configured in a directory of the bench's own, on a
// loopback port, writing to a topic of the bench's own.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RsyslogPeer {
  /** rsyslogd's version, e.g. "8.2302.0". */
  version: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Where rsyslog listens: UDP with `threads` input threads, or TCP (octet-counted or newline framing). */
export type RsyslogInput = { kind: 'imudp'; threads: number } | { kind: 'imtcp' };

/** The rsyslog configuration: `input` on 127.0.0.1:`port` → omkafka to `topic`. */
export function rsyslogConfig(o: { dir: string; broker: string; topic: string; port: number; input: RsyslogInput }): string {
  const udp = o.input.kind === 'imudp';
  return `global(workDirectory="${o.dir}"${udp ? '' : ' maxMessageSize="64k"'})
module(load="${o.input.kind}"${o.input.kind === 'imudp' ? ` threads="${o.input.threads}"` : ''})
module(load="omkafka")
template(name="raw" type="string" string="%rawmsg%")
ruleset(name="tokafka" queue.type="LinkedList" queue.size="500000" queue.dequeueBatchSize="4096") {
  action(type="omkafka" broker=["${o.broker}"] topic="${o.topic}" template="raw" partitions.auto="on"
         confParam=["acks=all", "linger.ms=5", "batch.num.messages=10000", "compression.codec=none"])
}
input(type="${o.input.kind}" address="127.0.0.1" port="${o.port}" ruleset="tokafka" ${udp ? 'rcvbufSize="8m"' : 'supportOctetCountedFraming="on"'})
`;
}

/** Installs rsyslog + rsyslog-kafka when missing; undefined when present, else why the peer is skipped. */
export function ensureRsyslog(root: string): string | undefined {
  try {
    execFileSync('bash', ['loadtest/peers/apt-install.sh', 'rsyslog', 'rsyslog-kafka'], { cwd: root, stdio: 'inherit' });
    return undefined;
  } catch {
    return 'rsyslog + rsyslog-kafka not installed (needs root on Debian): peer skipped';
  }
}

/**
 * Starts rsyslogd in the foreground on `port` (the topic must exist); resolves
 * once it had 2 s to bind, or with why it could not start.
 */
export async function startRsyslog(o: { dir: string; broker: string; topic: string; port: number; input: RsyslogInput }): Promise<RsyslogPeer | string> {
  const conf = join(o.dir, 'rsyslog.conf');
  writeFileSync(conf, rsyslogConfig(o));
  const child = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(o.dir, 'rsyslog.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.resume();
  child.stderr?.resume();
  await sleep(2000);
  if (child.exitCode !== null) return `rsyslogd exited (${child.exitCode}): peer skipped`;
  let version = '';
  try {
    version = execFileSync('rsyslogd', ['-v'], { encoding: 'utf8' }).split('\n')[0]?.split(/\s+/)[1] ?? '';
  } catch {
    /* the version is only a label */
  }
  return {
    version,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
