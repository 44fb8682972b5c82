// Debian's stock nginx, as a new user has it after `apt-get install nginx
// libnginx-mod-http-lua lua-cjson`, run from a temporary directory: a copy of
// /etc/nginx (never the machine's own, which stays untouched) and the
// system's nginx binary with its own prefix. The tests that follow the
// README's setup steps (infra/nginx/readme-setup.test.ts) and the ones that
// put a node in a broken state for `logwarden check-node` start from it.
//
// What differs from /etc/nginx, and only so that it runs beside anything else
// on this machine without root-owned paths: /etc/nginx is <root>/etc/nginx
// everywhere; logs, pid and temporary files live under <root>; the default
// site listens on 127.0.0.1:<port> (not port 80 on every interface, nor IPv6);
// the prefix is <root>/prefix, whose modules/ points at Debian's module
// directory as /usr/share/nginx/modules does (modules-enabled names modules
// relative to the prefix). Everything the README's steps edit is left as the
// package ships it.
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../local-nginx.js';

// dist/shared/testing/ → the repository.
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NGINX_BIN = '/usr/sbin/nginx';
const MODULES = '/usr/lib/nginx/modules';
const PACKAGES = ['nginx', 'libnginx-mod-http-lua', 'lua-cjson'];

/** What is missing for a stock Debian nginx with the Lua module, or '' when nothing is. */
export function debianNginxMissing(): string {
  if (!existsSync(NGINX_BIN) || !existsSync('/etc/nginx/nginx.conf')) return `Debian's nginx (${NGINX_BIN}, /etc/nginx): apt-get install ${PACKAGES.join(' ')}`;
  if (!existsSync(join(MODULES, 'ngx_http_lua_module.so'))) return `the Lua module (${MODULES}/ngx_http_lua_module.so): apt-get install libnginx-mod-http-lua`;
  if (!existsSync('/etc/nginx/modules-enabled/50-mod-http-lua.conf')) return 'the Lua module is not enabled in /etc/nginx/modules-enabled (reinstall libnginx-mod-http-lua)';
  return '';
}

export interface DebianNginx {
  /** The temporary directory holding everything (mode 755: the workers, www-data when root, read the Lua files under it). */
  root: string;
  /** The copy of /etc/nginx: the README's $NGINX. */
  etc: string;
  /** 127.0.0.1 port of the default site. */
  port: number;
  url: string;
  start(): Promise<void>;
  /** nginx -t with this tree's configuration; resolves with its output. */
  test(): Promise<string>;
  stop(): Promise<void>;
  /** Stops nginx and removes the directory. */
  remove(): Promise<void>;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = REPO_ROOT): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** Runs a shell script (a README block) with bash -euo pipefail in the repository's root, with `env` added. */
export function runScript(script: string, env: Record<string, string>): Promise<string> {
  return run('bash', ['-euo', 'pipefail', '-c', script], { ...process.env, ...env });
}

/** A copy of /etc/nginx in a new temporary directory, ready to start (see the header for what differs). */
export async function debianNginx(): Promise<DebianNginx> {
  const root = mkdtempSync(join(tmpdir(), 'logwarden-debian-nginx-'));
  chmodSync(root, 0o755);
  const etc = join(root, 'etc', 'nginx');
  const prefix = join(root, 'prefix');
  const logs = join(root, 'log');
  mkdirSync(join(root, 'etc'), { recursive: true });
  cpSync('/etc/nginx', etc, { recursive: true, verbatimSymlinks: true });
  mkdirSync(prefix);
  mkdirSync(logs);
  mkdirSync(join(root, 'tmp'));
  symlinkSync(MODULES, join(prefix, 'modules'));
  // sites-enabled holds absolute links into /etc/nginx/sites-available: into the copy instead.
  const enabled = join(etc, 'sites-enabled');
  for (const name of readdirSync(enabled)) {
    const link = join(enabled, name);
    let target: string;
    try {
      target = readlinkSync(link);
    } catch {
      continue;
    }
    unlinkSync(link);
    symlinkSync(target.replace(/^\/etc\/nginx\//, `${etc}/`), link);
  }
  const port = await freePort();
  const conf = join(etc, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `\t${t}_temp_path ${root}/tmp/${t};`).join('\n');
  writeFileSync(
    conf,
    readFileSync(conf, 'utf8')
      .replaceAll('/etc/nginx', etc)
      .replaceAll('/var/log/nginx', logs)
      .replace('pid /run/nginx.pid;', `pid ${root}/nginx.pid;`)
      .replace(/^http \{$/m, `http {\n${temp}`),
  );
  const site = join(etc, 'sites-available', 'default');
  writeFileSync(
    site,
    readFileSync(site, 'utf8')
      .replace(/^(\s*)listen 80 default_server;$/m, `$1listen 127.0.0.1:${port} default_server;`)
      .replace(/^\s*listen \[::\]:80 default_server;\n/m, ''),
  );
  const args = ['-p', `${prefix}/`, '-c', conf, '-e', join(logs, 'error.log')];
  let running = false;
  const pid = (): number | undefined => {
    try {
      return Number(readFileSync(join(root, 'nginx.pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    running = false;
    const p = pid();
    if (p === undefined) return;
    await run(NGINX_BIN, [...args, '-s', 'quit']).catch(() => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(p, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(p, 'SIGTERM');
  };
  return {
    root,
    etc,
    port,
    url: `http://127.0.0.1:${port}`,
    test: () => run(NGINX_BIN, ['-t', ...args]),
    async start() {
      await run(NGINX_BIN, args);
      running = true;
      // nginx -t passed and the master forked: wait for the listener.
      for (let i = 0; i < 100; i++) {
        const up = await fetch(`http://127.0.0.1:${port}/`).then(
          () => true,
          () => false,
        );
        if (up) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the Debian nginx in ${root} did not answer on 127.0.0.1:${port} (log: ${join(logs, 'error.log')})`);
    },
    stop,
    async remove() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The fenced code block after `<!-- setup:NAME -->` in the README (its text, without the fences). */
export function readmeBlock(name: string, readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')): string {
  const marker = `<!-- setup:${name} -->`;
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no ${marker}`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(at + marker.length));
  if (!m || m[1] === undefined) throw new Error(`README.md has no code block after ${marker}`);
  return m[1];
}
