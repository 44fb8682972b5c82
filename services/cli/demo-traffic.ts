// The demo's clients: real HTTP requests to the demo nginx, each client from
// an address of its own in 127.0.0.0/8 (Linux routes the whole range to the
// loopback interface, so binding a socket to 127.0.66.1 works without setup).
// nginx then logs and checks each client by its own $remote_addr, exactly as
// it would distinct remote clients. Nothing here leaves loopback.
//
// Benign visitors browse a handful of pages slowly (well under every
// detector's threshold); a scanner walks a wordlist and probes sensitive
// files, a brute-forcer posts to /login (401s), a flooder hammers one page.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { isLoopback } from '../../shared/loopback.js';
import { BROWSER_UAS, DEMO_PRODUCTS } from './demo-site.js';
import { CliError } from './errors.js';

export type ClientKind = 'benign' | 'scanner' | 'brute_force' | 'flood';

export interface ClientStats {
  kind: ClientKind;
  ip: string;
  requests: number;
  /** Responses by status ("0": no response, e.g. a reset). */
  statuses: Record<string, number>;
  /** Wall time of the first 403 (refused by logwarden's access check), if any. */
  firstRefusedAt: number | undefined;
  /** Wall time of the request before the first 403 (the last one let through). */
  lastServedAt: number | undefined;
}

/** Requests per second per client of each kind (benign: per visitor). */
export const RATES: Record<ClientKind, number> = { benign: 0.5, scanner: 10, brute_force: 10, flood: 60 };

/** The first address of each kind's range; client i of a kind gets the i-th address after it. */
const RANGES: Record<ClientKind, string> = { benign: '127.0.10.', scanner: '127.0.66.', brute_force: '127.0.67.', flood: '127.0.68.' };

export function clientIp(kind: ClientKind, i: number): string {
  return `${RANGES[kind]}${i + 1}`;
}

const SCAN_WORDS = [
  'admin', 'administrator', 'backup', 'backups', 'bin', 'cgi-bin', 'config', 'console', 'dashboard', 'db', 'debug', 'dev',
  'old', 'panel', 'phpmyadmin', 'private', 'server-status', 'setup', 'shell', 'sql', 'staging', 'test', 'tmp', 'upload',
  'uploads', 'user', 'users', 'vendor', 'webadmin', 'wp-admin', 'wp-content', 'wp-includes', 'xmlrpc.php', 'install', 'api',
  'manager', 'portal', 'system', 'logs', 'data', 'files', 'includes', 'lib', 'scripts', 'secret', 'site', 'sites', 'storage',
];
// Probed once the wordlist ran for a while, as scanners do after fingerprinting.
const SENSITIVE = ['/.env', '/.git/config', '/wp-config.php.bak', '/backup.sql', '/.aws/credentials', '/phpinfo.php'];

const BENIGN_PAGES = ['/', '/products', '/search?q=shoes', '/cart', '/about', '/contact', ...DEMO_PRODUCTS.map((p) => `/products/${p}`)];
const BENIGN_ASSETS = ['/static/app.css', '/static/app.js', '/static/logo.png'];

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
}

function nextRequest(kind: ClientKind, n: number, ip: string): Req {
  switch (kind) {
    case 'benign': {
      // A page, now and then its assets (not counted as new paths by unique_paths); each visitor keeps to a few pages.
      const seed = Number(ip.split('.').pop());
      if (n % 4 === 3) return { method: 'GET', path: BENIGN_ASSETS[(n + seed) % BENIGN_ASSETS.length] as string };
      return { method: 'GET', path: BENIGN_PAGES[(seed + (n % 6)) % BENIGN_PAGES.length] as string };
    }
    case 'scanner': {
      const word = SCAN_WORDS[n % SCAN_WORDS.length] as string;
      if (n >= 40 && n % 5 === 0) return { method: 'GET', path: SENSITIVE[(n / 5) % SENSITIVE.length] as string };
      return { method: 'GET', path: n % 2 === 0 ? `/${word}/` : `/${word}.php` };
    }
    case 'brute_force': {
      const user = ['admin', 'root', 'test', 'shop'][n % 4] as string;
      return { method: 'POST', path: '/login', headers: { authorization: `Basic ${Buffer.from(`${user}:Passw0rd${n}`).toString('base64')}`, 'content-length': '0' } };
    }
    case 'flood':
      // A few pages in turn: the rate detector catches it before repeated hits on one path do.
      return { method: 'GET', path: BENIGN_PAGES[n % 4] as string };
  }
}

function userAgent(kind: ClientKind, i: number): string {
  // dirb's default user agent, which no signature flags: the scanner is caught by its behaviour.
  // A scanner that hides behind a browser's user agent: the behaviour detectors must catch it.
  if (kind === 'scanner') return 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
  if (kind === 'brute_force') return 'python-requests/2.32.3';
  if (kind === 'flood') return 'Go-http-client/1.1';
  return BROWSER_UAS[i % BROWSER_UAS.length] as string;
}

function send(agent: http.Agent, target: URL, r: Req, ua: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: target.hostname, port: target.port, method: r.method, path: r.path, agent, headers: { 'user-agent': ua, ...r.headers }, timeout: 5_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

export interface TrafficOptions {
  /** http://127.0.0.1:PORT of the demo nginx. */
  url: string;
  seconds: number;
  benign: number;
  /** Attackers of each kind. */
  attackers: number;
  /** Stops early when aborted. */
  signal?: AbortSignal;
}

export interface Traffic {
  clients: ClientStats[];
  done: Promise<void>;
}

/** Starts every client; `done` resolves when the time is up (or the signal aborts) and every client stopped. */
export function startTraffic(o: TrafficOptions): Traffic {
  const target = new URL(o.url);
  if (!isLoopback(target.hostname)) throw new CliError('LW_CLI_DEMO_NOT_LOOPBACK', `the demo sends traffic to loopback only, not ${target.hostname}`);
  const deadline = Date.now() + o.seconds * 1000;
  const clients: ClientStats[] = [];
  const runs: Array<Promise<void>> = [];
  const plan: Array<[ClientKind, number]> = [['benign', o.benign], ['scanner', o.attackers], ['brute_force', o.attackers], ['flood', o.attackers]];
  for (const [kind, count] of plan) {
    for (let i = 0; i < count; i++) {
      const ip = clientIp(kind, i);
      const c: ClientStats = { kind, ip, requests: 0, statuses: {}, firstRefusedAt: undefined, lastServedAt: undefined };
      clients.push(c);
      runs.push(runClient(c, target, userAgent(kind, i), deadline, o.signal, kind === 'benign' ? Math.random() * 2000 : 500 + i * 300));
    }
  }
  return { clients, done: Promise.all(runs).then(() => undefined) };
}

async function runClient(c: ClientStats, target: URL, ua: string, deadline: number, signal: AbortSignal | undefined, startDelayMs: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: c.ip });
  const interval = 1000 / RATES[c.kind];
  try {
    await sleep(startDelayMs);
    let next = Date.now();
    while (Date.now() < deadline && !signal?.aborted) {
      const sentAt = Date.now();
      const status = await send(agent, target, nextRequest(c.kind, c.requests, c.ip), ua);
      c.requests++;
      c.statuses[String(status)] = (c.statuses[String(status)] ?? 0) + 1;
      if (status === 403 && c.firstRefusedAt === undefined) c.firstRefusedAt = sentAt;
      if (status !== 403 && c.firstRefusedAt === undefined) c.lastServedAt = sentAt;
      // Benign visitors wait a jittered think time; attackers keep their pace.
      next += c.kind === 'benign' ? interval * (0.5 + Math.random()) : interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
      else next = Date.now();
    }
  } finally {
    agent.destroy();
  }
}
