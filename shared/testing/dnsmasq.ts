// A real DNS server on loopback for tests (Debian's dnsmasq; install it with
// infra/tools/dns.sh): it answers only the records a test gives it and
// NXDOMAIN for every other name (--no-resolv, --local=/#/), so a test never
// queries the internet. Used by the crawler verification tests and by any
// test or corpus whose crawlers need their DNS answered.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { reverseDnsName } from '../ip.js';
import { requireTool } from './require-tool.js';
import { until } from './wait.js';
import { freeUdpPort } from './ports.js';

/** For a test's `skip` option: dnsmasq missing skips (fails under CI=true). */
export function requireDnsmasq(): string | false {
  return requireTool('dnsmasq (bash infra/tools/dns.sh install, as root)', spawnSync('dnsmasq', ['--version']).status === 0);
}

export interface TestDnsRecords {
  /** Address → reverse name (PTR only). */
  ptr?: Array<[ip: string, name: string]>;
  /** Name → addresses (A/AAAA, and the PTR of each address, as dnsmasq's --host-record does). */
  host?: Array<[name: string, ...addresses: string[]]>;
  /** Name → addresses (A/AAAA only, no PTR). */
  address?: Array<[name: string, address: string]>;
}

export interface TestDns {
  /** `127.0.0.1:<port>`, for a resolver list. */
  server: string;
  stop(): Promise<void>;
}


function args(port: number, r: TestDnsRecords): string[] {
  const out = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--local=/#/',
    '--pid-file=',
    '--cache-size=0',
  ];
  for (const [ip, name] of r.ptr ?? []) out.push(`--ptr-record=${reverseDnsName(ip) ?? ip},${name}`);
  for (const [name, ...addrs] of r.host ?? []) out.push(`--host-record=${[name, ...addrs].join(',')}`);
  for (const [name, addr] of r.address ?? []) out.push(`--address=/${name}/${addr}`);
  return out;
}

/** Starts dnsmasq on 127.0.0.1 at a free port with `records`; resolves once it answers. */
export async function startTestDns(records: TestDnsRecords): Promise<TestDns> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const child: ChildProcess = spawn('dnsmasq', args(port, records), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', (err) => {
      exited = true;
      stderr += String(err);
    });
    const server = `127.0.0.1:${port}`;
    const probe = new Resolver({ timeout: 200, tries: 1 });
    probe.setServers([server]);
    const up = await until(
      `dnsmasq on ${server}`,
      async () => {
        if (exited) return 'exited';
        try {
          await probe.resolve4('probe.invalid');
          return 'up';
        } catch (err) {
          // NXDOMAIN is an answer: the server is up.
          return (err as { code?: string }).code === 'ENOTFOUND' ? 'up' : undefined;
        }
      },
      10_000,
      50,
    );
    if (up === 'up') {
      return {
        server,
        stop: () =>
          new Promise<void>((resolve) => {
            if (exited) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    }
    lastError = stderr.trim();
  }
  throw new Error(`dnsmasq did not start: ${lastError}`);
}
