// A real nginx with the Lua module and logwarden's operator snippets, on
// 127.0.0.1, for the demo (`npm run demo`) and the tests (shared/testing/nginx.ts
// builds on this): infra/nginx/nginx.sh installs the distribution packages when
// they are missing and runs nginx in its own prefix directory. Each call gets
// its own directory and port unless told otherwise, so several can run side by
// side and never share (or stop) each other's nginx.
//
// Its clients are told apart by their own source address ($remote_addr): Linux
// routes all of 127.0.0.0/8 to loopback, so a client socket bound to 127.x.y.z
// is seen by nginx, and judged by the Lua module, as that address.
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { def, defineErrors, LogwardenError } from './errors.js';

/** The local nginx's errors (the demo's, and the tests' through shared/testing/nginx.ts). */
export const LOCAL_NGINX_ERRORS = defineErrors('nginx', {
  LW_NGINX_NO_PORT: def('LW_NGINX_NO_PORT', 'no free 127.0.0.1 port below the ephemeral range for a local server'),
  LW_NGINX_START: def('LW_NGINX_START', 'infra/nginx/nginx.sh could not start the local nginx (see its output)'),
});

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface LocalNginxOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Where the access log goes: host:port, syslog over UDP (default 127.0.0.1:5514). */
  syslog?: string;
  /** Prefix directory (conf, logs, pid); a fresh temporary one, removed on stop, when omitted. */
  dir?: string;
  /** Starts the control listener (lua/conf/logwarden-control.conf); implied by controlPort or controlSecret. */
  control?: boolean;
  /** Port on 127.0.0.1 of the control listener; a free one when omitted. */
  controlPort?: number;
  /** Its shared secret (16+ characters of [A-Za-z0-9._~+/=-]); a random one when omitted. */
  controlSecret?: string;
  /**
   * An absolute path: init_by_lua loads the reload fallback's file from it
   * (lua/logwarden/fallback.lua) at start and on every reload.
   */
  rulesFile?: string;
}

export interface LocalNginx {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** The unix socket the server also listens on: its clients' $remote_addr is "unix:". */
  socketPath: string;
  dir: string;
  /** The nginx binary and its arguments for this instance, e.g. to add `-s reload`. */
  nginxCommand: string[];
  /** http://127.0.0.1:CONTROL_PORT when the control listener runs. */
  controlUrl?: string;
  controlPort?: number;
  controlSecret?: string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
// Ports for servers a test or the demo starts and stops (a broker, nginx) come from below the kernel's
// ephemeral range. Within it, a port left free while its server is down can be taken as the
// local end of some outgoing connection — or of a client's own retries connecting to itself
// (TCP simultaneous open) — and the restart then fails with EADDRINUSE.
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}
const PORT_FLOOR = 20_000;
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free 127.0.0.1 TCP port outside the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
  const ceiling = ephemeralLow();
  const span = ceiling - PORT_FLOOR;
  if (span < 1_000) throw new LogwardenError(LOCAL_NGINX_ERRORS.LW_NGINX_NO_PORT, `no room below the ephemeral port range (starts at ${ceiling}) for local servers`);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_FLOOR + randomInt(span);
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new LogwardenError(LOCAL_NGINX_ERRORS.LW_NGINX_NO_PORT, `no free port found in ${PORT_FLOOR}-${ceiling - 1}`);
}

function nginxSh(command: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['infra/nginx/nginx.sh', command],
      // install may run apt-get on a fresh machine.
      { cwd: root, env, encoding: 'utf8', timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`infra/nginx/nginx.sh ${command} failed: ${err.message}\n${stderr}`));
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/** Starts a local nginx (see infra/nginx/test.conf.template for its locations). */
export async function startLocalNginx(opts: LocalNginxOptions = {}): Promise<LocalNginx> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'logwarden-nginx-')));
  const port = opts.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOGWARDEN_NGINX_DIR: dir,
    LOGWARDEN_NGINX_PORT: String(port),
    LOGWARDEN_SYSLOG: opts.syslog ?? '127.0.0.1:5514',
  };
  const control = opts.control === true || opts.controlPort !== undefined || opts.controlSecret !== undefined;
  let controlPort: number | undefined;
  let controlSecret: string | undefined;
  if (control) {
    controlPort = opts.controlPort;
    // Two free ports asked one after the other may be the same one.
    while (controlPort === undefined || controlPort === port) controlPort = await freePort();
    controlSecret = opts.controlSecret ?? randomBytes(24).toString('hex');
    env.LOGWARDEN_NGINX_CONTROL_PORT = String(controlPort);
    env.LOGWARDEN_NGINX_CONTROL_SECRET = controlSecret;
  } else {
    // An inherited value would start a listener nobody asked for.
    delete env.LOGWARDEN_NGINX_CONTROL_PORT;
    delete env.LOGWARDEN_NGINX_CONTROL_SECRET;
  }
  if (opts.rulesFile !== undefined) env.LOGWARDEN_NGINX_RULES_FILE = opts.rulesFile;
  else delete env.LOGWARDEN_NGINX_RULES_FILE;
  try {
    await nginxSh('install', env);
    const out = await nginxSh('start', env);
    const bin = await nginxSh('bin', env);
    const url = out.split('\n').pop() ?? '';
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) {
      throw new LogwardenError(LOCAL_NGINX_ERRORS.LW_NGINX_START, `infra/nginx/nginx.sh start printed no URL: ${JSON.stringify(out)}`);
    }
    let stopped = false;
    return {
      url,
      port,
      socketPath: join(dir, 'http.sock'),
      dir,
      nginxCommand: [bin, '-p', `${dir}/`, '-c', join(dir, 'conf', 'nginx.conf'), '-e', join(dir, 'logs', 'error.log')],
      ...(control ? { controlUrl: `http://127.0.0.1:${controlPort}`, controlPort, controlSecret } : {}),
      async stop() {
        if (stopped) return;
        stopped = true;
        await nginxSh('stop', env);
        if (ownDir) await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    // A half-started nginx must not outlive the failed start.
    await nginxSh('stop', env).catch(() => undefined);
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
