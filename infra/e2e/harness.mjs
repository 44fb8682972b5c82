// The end-to-end run's machinery (infra/e2e/attack.mjs): logwarden processes
// with their logs, attack tools, the source addresses the clients speak from,
// and nginx's own access log read as the run goes.
//
// Source addresses: Linux routes all of 127.0.0.0/8 to loopback, so a socket
// bound to 127.0.x.y reaches nginx from that address, and nginx ($remote_addr)
// and the Lua module judge it as that client. Node clients bind it themselves
// (`localAddress`); an attack tool that cannot choose its source address talks
// to a forwarder of its own that binds its connections to nginx to the tool's
// address. One client speaks for others, as a node's trusted proxy does: the
// test nginx takes X-Forwarded-For from 127.0.0.1 only (set_real_ip_from), so
// clients at addresses loopback cannot bind (IPv6 ones) come that way.
import { spawn, spawnSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { closeSync, createWriteStream, openSync, readFileSync, readSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

// ------------------------------------------------------------------ attack tools
/**
 * Installs what is missing with the project's script (infra/tools/attack-tools.sh, which
 * .ci/run calls too); returns undefined when every tool is there, else why not.
 */
export function ensureTools(root) {
  const r = spawnSync('bash', ['infra/tools/attack-tools.sh', 'install'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'], timeout: 900_000 });
  if (r.status === 0) return undefined;
  return (r.stderr || r.error?.message || 'infra/tools/attack-tools.sh install failed').trim().split('\n').pop();
}

export const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

/** Runs an attack tool; output to a file; `exited` resolves when it exits. */
export function runTool(file, cwd, cmd, args, env = process.env) {
  const out = createWriteStream(file, { flags: 'a' });
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  const exited = new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: null, error: err.message }));
    child.on('close', (code, signal) => {
      out.end();
      resolve({ code, signal });
    });
  });
  return { child, exited };
}

export async function stopChild(child, exited) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.kill('SIGKILL'), 5_000);
  const e = await exited;
  clearTimeout(hard);
  return e;
}

// ------------------------------------------------------------------ logwarden processes
export class Processes {
  constructor(root, logsDir, readyWithinMs) {
    Object.assign(this, { root, logsDir, readyWithinMs, list: [] });
  }

  /** Starts `node args`; resolves with the match of `ready` on its stdout. */
  start(name, args, env, ready) {
    const file = join(this.logsDir, `${name}.log`);
    const log = createWriteStream(file);
    const child = spawn(process.execPath, args, { cwd: this.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = { name, file, child, exited: false };
    this.list.push(proc);
    let seen = '';
    let done = false;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready within ${this.readyWithinMs / 1000} s (log: ${file})`)), this.readyWithinMs);
      child.stdout.on('data', (chunk) => {
        log.write(chunk);
        if (done) return;
        seen = (seen + chunk.toString('utf8')).slice(-65_536);
        const m = ready.exec(seen);
        if (m) {
          done = true;
          clearTimeout(timer);
          resolve(m);
        }
      });
      child.stderr.on('data', (chunk) => log.write(chunk));
      child.on('exit', (code, signal) => {
        proc.exited = true;
        log.end();
        if (!done) {
          done = true;
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? signal}) before it was ready (log: ${file})`));
        }
      });
    });
  }

  async stopAll() {
    await Promise.all(
      this.list.map(async (p) => {
        if (p.exited) return;
        const gone = new Promise((resolve) => p.child.once('exit', resolve));
        p.child.kill('SIGTERM');
        const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
        await gone;
        clearTimeout(t);
      }),
    );
  }

  printLogTails() {
    for (const p of this.list) {
      let text;
      try {
        text = readFileSync(p.file, 'utf8');
      } catch {
        continue;
      }
      const lines = text.trimEnd().split('\n').slice(-25);
      console.error(`\n--- ${p.name} (last ${lines.length} lines of ${p.file})\n${lines.join('\n')}`);
    }
  }
}

/** Polls fn every 200 ms until it returns something other than undefined or false. */
export const until = async (what, fn, ms) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(200);
  }
};

/** A UDP port that was free a moment ago on 127.0.0.1 (the project's own helper, built). */
export async function freeUdpPort() {
  const { freeUdpPort: free } = await import(new URL('../../dist/shared/testing/ports.js', import.meta.url).href);
  return free();
}

// ------------------------------------------------------------------ source addresses
/**
 * A TCP forwarder on 127.0.0.1 whose connections to nginx leave from `source`:
 * the tool behind it is seen by nginx as `source`. Resolves to { port, close }.
 */
export function forwarder(source, target) {
  const sockets = new Set();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: target.host, port: target.port, localAddress: source });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  return listenLocal(server, () => {
    for (const s of sockets) s.destroy();
  });
}

/** Listens on a free 127.0.0.1 port; `close` runs `drop` (which ends what is open), then closes the server. */
function listenLocal(server, drop) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((done) => {
            drop();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * A forward proxy (HYDRA_PROXY_HTTP) that rewrites the User-Agent and sends
 * to nginx from `source`: a brute forcer in disguise at its own address.
 */
export function disguisingProxy(source, target, userAgent) {
  const agent = new http.Agent({ keepAlive: true, localAddress: source });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${target.host}:${target.port}`);
    const headers = { ...req.headers, host: `${target.host}:${target.port}`, 'user-agent': userAgent };
    delete headers['proxy-connection'];
    const up = http.request({ host: target.host, port: target.port, method: req.method, path: url.pathname + url.search, headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return listenLocal(server, () => {
    agent.destroy();
    server.closeAllConnections();
  });
}

/** GET from `source`; the status, or 0 when no answer came. */
export const get = async (url, source, headers = {}) => (await request(url, source, headers)).status;

/** GET from `source`: the status (0 when no answer came) and the response's headers. */
export function request(url, source, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get(url, { localAddress: source, headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.on('error', () => resolve({ status: 0, headers: {} }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, headers: {} }));
  });
}

/** Prints rows (the first is the header) as a table under a title. */
export function printTable(title, rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i] ?? '').length)));
  console.log(`\n${title}`);
  for (const [i, row] of rows.entries()) {
    console.log(`  ${row.map((cell, j) => String(cell ?? '').padEnd(widths[j])).join('  ')}`.trimEnd());
    if (i === 0) console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  }
}

// ------------------------------------------------------------------ nginx's access log
/**
 * nginx's own account of every request, per client address, from the test
 * nginx's local access log (JSON lines, logwarden_json): read as it grows.
 * A request is refused when nginx answered it for a block (blocked_by
 * "blocklist"); a protected route's 401 ("route:<id>") is not a refusal.
 */
export class AccessLog {
  constructor(file) {
    Object.assign(this, { file, offset: 0, rest: '', clients: new Map(), bad: 0 });
    /** Clients whose every request is kept (see `between`): set `keep` to a predicate on the address. */
    this.keep = () => false;
    this.records = [];
  }

  /**
   * nginx's account of the requests of the clients `which` picks (a predicate on
   * the address) logged from `fromMs` up to `toMs`: one address's requests per
   * tool, when several tools take turns at it.
   */
  between(which, fromMs, toMs = Infinity) {
    const s = { requests: 0, refused: 0, statuses: {}, firstMs: undefined, firstRefusedMs: undefined, addresses: new Set() };
    for (const r of this.records) {
      if (r.ms < fromMs || r.ms >= toMs || !which(r.ip)) continue;
      s.requests++;
      s.statuses[r.status] = (s.statuses[r.status] ?? 0) + 1;
      s.addresses.add(r.ip);
      s.firstMs ??= r.ms;
      if (r.refused) {
        s.refused++;
        s.firstRefusedMs ??= r.ms;
      }
    }
    return s;
  }

  client(ip) {
    let c = this.clients.get(ip);
    if (!c) {
      c = { requests: 0, ok: 0, refused: 0, statuses: {}, firstMs: undefined, firstRefusedMs: undefined, agents: new Set() };
      this.clients.set(ip, c);
    }
    return c;
  }

  /** Reads what nginx appended since the last call. */
  poll() {
    let fd;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.rest += buf.toString('utf8', 0, n);
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.rest.split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      let r;
      try {
        r = JSON.parse(line);
      } catch {
        this.bad++;
        continue;
      }
      const c = this.client(r.client_ip);
      const ms = Math.round(Number(r.ts) * 1000);
      c.requests++;
      c.statuses[r.status] = (c.statuses[r.status] ?? 0) + 1;
      if (c.agents.size < 4) c.agents.add(r.user_agent);
      c.firstMs ??= ms;
      if (r.status === '200') c.ok++;
      const refused = r.blocked_by === 'blocklist';
      if (refused) {
        c.refused++;
        c.firstRefusedMs ??= ms;
      }
      if (this.keep(r.client_ip)) this.records.push({ ip: r.client_ip, ms, status: r.status, refused });
    }
  }
}
