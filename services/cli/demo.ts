#!/usr/bin/env node
// `npm run demo`: a real nginx with the Lua module, logwarden, and attackers,
// on loopback, for a bounded time. The terminal shows who gets blocked and
// why as it happens, and a summary at the end.
//
// Two ways to run it:
// - Next to a running `npm start` (found on 127.0.0.1:8090, or --api URL):
//   the demo nginx sends its log to that instance's syslog port (--syslog,
//   default 127.0.0.1:5514), so detection, events, blocks and the dashboard
//   are that instance's. It needs the token `npm start` printed on its first
//   start (LOGWARDEN_TOKEN or --token). The instance has no `nodes:` entry
//   for the demo nginx, and none is added to it: the demo runs an enforcer of
//   its own (the same Enforcer class) for its nginx, fed with the instance's
//   blocks read from the API, like an enforcer per edge node.
// - Alone (nothing on 8090, or --embedded): the demo starts an embedded
//   instance of its own (temporary data, API on 8090 when free) whose
//   enforcer lists the demo nginx as its node, and prints the dashboard URL
//   and a token for the length of the demo.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBus } from '../../shared/bus/index.js';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { loadConfig } from '../../shared/config/load.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { startTestNginx, freePort, type TestNginx } from '../../shared/testing/nginx.js';
import { topicNames } from '../../shared/topics.js';
import { rootLogger } from '../../shared/log.js';
import { hashToken, newToken } from '../../shared/auth/tokens.js';
import { Enforcer } from '../enforcer/enforcer.js';
import { SERVICES, startRuntime, topicSpecs, type Runtime } from '../runtime.js';
import { startTraffic, type ClientKind, type ClientStats } from './demo-traffic.js';

export const MAX_SECONDS = 300;

export interface DemoOptions {
  seconds: number;
  benign: number;
  /** Attackers of each kind (scanner, brute-forcer, flooder). */
  attackers: number;
  /** 'attach': use the instance at `api`; 'own': start one in this process. */
  mode: 'attach' | 'own';
  api?: string;
  token?: string;
  /** attach: the instance's syslog address for the demo nginx. */
  syslog?: string;
  /** own: API port (0: any free one). */
  apiPort?: number;
  out?: (line: string) => void;
  signal?: AbortSignal;
}

interface Block {
  ip: string;
  reason: string;
  source: string;
  created_at: number;
  expires_at: number | null;
  deployment: string;
  escalation_level: number;
}

export interface AttackerSummary {
  kind: ClientKind;
  ip: string;
  requests: number;
  refused: number;
  blocked: boolean;
  reason: string | null;
  /** Decision (created_at) → first request of this client refused by nginx; null when not blocked. */
  latency_ms: number | null;
}

export interface DemoSummary {
  mode: 'attach' | 'own';
  seconds: number;
  requests: number;
  benign: { clients: number; requests: number; ok: number; refused: number; ok_ratio: number };
  attackers: AttackerSummary[];
  events_by_type: Record<string, number>;
  events_by_detector: Record<string, number>;
  blocks: number;
  latency_ms: { n: number; p50: number | null; p99: number | null; max: number | null };
}

const KIND_LABEL: Record<ClientKind, string> = { benign: 'benign', scanner: 'scanner', brute_force: 'brute-forcer', flood: 'flooder' };

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

async function apiCall<T>(base: string, token: string, method: string, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as T };
}

/** Follows the event stream until `signal` aborts; resolves `ready` once the stream is open. */
function followEvents(base: string, token: string, signal: AbortSignal, onEvent: (e: SecurityEvent) => void): { ready: Promise<void>; done: Promise<void> } {
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = (async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(`${base}/api/security/events/stream`, { headers: { authorization: `Bearer ${token}` }, signal });
        if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { done: end, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
          if (end) break;
          buf += dec.decode(value, { stream: true });
          markReady();
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (data) onEvent(JSON.parse(data) as SecurityEvent);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        markReady();
        await sleep(500);
        void err;
      }
    }
  })();
  return { ready, done };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Runs the demo and returns its summary; everything it started is stopped before it returns. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The demo's own instance logs warnings only: the terminal is for the demo.
  if (o.mode === 'own' && rootLogger.level !== 'silent') rootLogger.level = 'warn';
  if (!(o.seconds > 0 && o.seconds <= MAX_SECONDS)) throw new RangeError(`seconds must be within (0, ${MAX_SECONDS}]`);
  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  const controlSecret = randomBytes(24).toString('hex');
  let base: string;
  let token: string;
  let nginx: TestNginx;
  let feedEnforcer: ((blocks: Map<string, Block>) => Promise<void>) | undefined;
  const started = Date.now();

  const startNginx = async (syslog: string): Promise<TestNginx> => {
    try {
      return await startTestNginx({ syslog, control: true, controlSecret });
    } catch (err) {
      throw new Error(
        `the demo needs nginx with the Lua module and could not start it.\n` +
          `  Debian/Ubuntu: run as root  bash infra/nginx/nginx.sh install   (nginx, libnginx-mod-http-lua, lua-cjson)\n` +
          `  or point LOGWARDEN_NGINX_BIN at an OpenResty binary.\n  cause: ${(err as Error).message.split('\n')[0] ?? ''}`,
        { cause: err },
      );
    }
  };

  try {
    if (o.mode === 'own') {
      const udpPort = await freePort();
      out(`▶ starting nginx with the Lua module (syslog → 127.0.0.1:${udpPort}) ...`);
      nginx = await startNginx(`127.0.0.1:${udpPort}`);
      cleanups.push(() => nginx.stop());
      const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-demo-'));
      cleanups.push(() => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })));
      token = o.token ?? newToken();
      const yaml = [
        // Events flush and nodes reconcile every 5 s instead of 30 s: a livelier demo.
        'security: { scan_interval: 5s }',
        `kafka: { brokers: [], topic_prefix: "demo." }`,
        `ingest: { udp: { port: ${udpPort} } }`,
        'api:',
        `  port: ${o.apiPort ?? 0}`,
        `  tokens: [{ name: demo, role: admin, hash: "${hashToken(token)}" }]`,
        `nodes: [{ name: demo-nginx, url: "${nginx.controlUrl as string}", secret_env: LOGWARDEN_DEMO_NODE_SECRET }]`,
        `data_dir: ${JSON.stringify(dataDir)}`,
        'log_level: warn',
      ].join('\n');
      out('▶ starting logwarden, embedded (in-process bus, embedded ClickHouse, enforcer → the demo nginx) ...');
      const rt: Runtime = await startRuntime(loadConfig({ text: yaml, env: { LOGWARDEN_DEMO_NODE_SECRET: controlSecret } }), new Set(SERVICES));
      cleanups.push(() => rt.stop());
      base = `http://127.0.0.1:${rt.apiPort as number}`;
      out(`  dashboard  ${base}/dashboard/   token: ${token}   (while the demo runs)`);
    } else {
      base = (o.api ?? 'http://127.0.0.1:8090').replace(/\/+$/, '');
      if (!o.token) throw new Error('a token is needed to follow the running instance: set LOGWARDEN_TOKEN (npm start printed it on its first start) or pass --token-file');
      token = o.token;
      const me = await apiCall<{ data?: { name: string; role: string }; error?: string }>(base, token, 'GET', '/api/whoami');
      if (me.status !== 200) throw new Error(`${base} refused the token (HTTP ${me.status}: ${me.body.error ?? ''})`);
      const syslog = o.syslog ?? '127.0.0.1:5514';
      out(`▶ using logwarden at ${base} as ${me.body.data?.name ?? '?'} (${me.body.data?.role ?? '?'}); the demo nginx logs to its syslog ${syslog}`);
      // Blocks of the demo's own addresses from an earlier run would refuse them from the first request.
      const held = await apiCall<{ data: Block[] }>(base, token, 'GET', '/api/security/blocked-ips?limit=1000');
      const mine = (held.body.data ?? []).filter((b) => b.ip.startsWith('127.0.'));
      if (mine.length > 0 && me.body.data?.role === 'admin') {
        for (const b of mine) await apiCall(base, token, 'DELETE', `/api/security/blocked-ips/${encodeURIComponent(b.ip)}`);
        out(`  lifted ${mine.length} block(s) of the demo's addresses left by an earlier run`);
      }
      out('▶ starting nginx with the Lua module ...');
      nginx = await startNginx(syslog);
      cleanups.push(() => nginx.stop());
      // The demo's enforcer for its nginx: the same Enforcer, fed from the instance's blocks.
      const cfg = loadConfig({
        text: ['kafka: { brokers: [], topic_prefix: "demo-enforcer." }', 'security: { scan_interval: 5s }', `nodes: [{ name: demo-nginx, url: "${nginx.controlUrl as string}", secret_env: S }]`, 'log_level: warn'].join('\n'),
        env: { S: controlSecret },
      });
      const bus = createBus(cfg);
      const topics = topicNames(cfg.kafka.topic_prefix);
      await bus.ensureTopics(topicSpecs(cfg, topics));
      const enforcer = new Enforcer({ config: cfg, bus, topics });
      await enforcer.start();
      cleanups.push(async () => {
        await enforcer.close();
        await bus.close();
      });
      const pushed = new Map<string, number>();
      feedEnforcer = async (blocks) => {
        const now = Date.now();
        const msgs: BlockDecision[] = [];
        for (const b of blocks.values()) {
          if (pushed.get(b.ip) === b.created_at) continue;
          pushed.set(b.ip, b.created_at);
          msgs.push({ ip: b.ip, action: 'block', reason: b.reason, source: b.source as BlockDecision['source'], created_at: b.created_at, expires_at: b.expires_at, deployment: b.deployment || null, escalation_level: b.escalation_level });
        }
        for (const ip of [...pushed.keys()]) {
          if (blocks.has(ip)) continue;
          pushed.delete(ip);
          msgs.push({ ip, action: 'unblock', reason: 'unblocked', source: 'manual', created_at: now, expires_at: null, deployment: null, escalation_level: 0 });
        }
        if (msgs.length > 0) await bus.publish(topics.decisions, msgs.map((d) => ({ key: d.ip, value: blockDecisionCodec.encode(d) })));
      };
      out('  this demo enforces on its own nginx with the blocks of that instance (read every 250 ms from its API)');
    }
    out(`  demo nginx ${nginx.url}   (try: curl ${nginx.url}/)`);

    // ---- watchers: the event stream and the blocks list
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    o.signal?.addEventListener('abort', onAbort);
    cleanups.push(() => {
      o.signal?.removeEventListener('abort', onAbort);
      stop.abort();
      return Promise.resolve();
    });
    const byIp = new Map<string, ClientStats>();
    const seenEvent = new Set<string>();
    const eventsByType: Record<string, number> = {};
    const eventsByDetector: Record<string, number> = {};
    const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
    const events = followEvents(base, token, stop.signal, (e) => {
      const c = byIp.get(e.ip);
      if (!c) return;
      eventsByType[e.type] = (eventsByType[e.type] ?? 0) + 1;
      eventsByDetector[e.detector] = (eventsByDetector[e.detector] ?? 0) + 1;
      const key = `${e.ip} ${e.detector}`;
      if (seenEvent.has(key) || e.detector === 'blocklist') return;
      seenEvent.add(key);
      out(`${elapsed()}  event    ${e.ip.padEnd(13)} ${KIND_LABEL[c.kind].padEnd(12)} ${e.type} by ${e.detector} (${e.count} request${e.count === 1 ? '' : 's'}${e.sample_paths[0] ? `, e.g. ${e.sample_paths[0]}` : ''})`);
    });
    await Promise.race([events.ready, sleep(5_000)]);

    const blocks = new Map<string, Block>();
    const announced = new Set<string>();
    const watch = (async () => {
      while (!stop.signal.aborted) {
        try {
          const r = await apiCall<{ data: Block[] }>(base, token, 'GET', '/api/security/blocked-ips?limit=1000');
          if (r.status === 200) {
            blocks.clear();
            for (const b of r.body.data) blocks.set(b.ip, b);
            await feedEnforcer?.(blocks);
            for (const b of blocks.values()) {
              const c = byIp.get(b.ip);
              if (!c || announced.has(b.ip)) continue;
              announced.add(b.ip);
              const until = b.expires_at === null ? 'permanently' : `for ${Math.round((b.expires_at - b.created_at) / 60_000)} min`;
              out(`${elapsed()}  BLOCKED  ${b.ip.padEnd(13)} ${KIND_LABEL[c.kind].padEnd(12)} ${until}: ${b.reason}`);
            }
          }
        } catch {
          // The next round retries; a stopped API ends the demo through its traffic anyway.
        }
        await sleep(250, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    })();

    // ---- traffic
    out(`▶ traffic for ${o.seconds} s: ${o.benign} benign visitors, ${o.attackers} scanner(s), ${o.attackers} brute-forcer(s), ${o.attackers} flooder(s), each from its own 127.0.x.y address`);
    const trafficStart = Date.now();
    const traffic = startTraffic({ url: nginx.url, seconds: o.seconds, benign: o.benign, attackers: o.attackers, signal: stop.signal });
    for (const c of traffic.clients) byIp.set(c.ip, c);
    const ticker = setInterval(() => {
      const benign = traffic.clients.filter((c) => c.kind === 'benign');
      const bReq = benign.reduce((a, c) => a + c.requests, 0);
      const bOk = benign.reduce((a, c) => a + (c.statuses['200'] ?? 0), 0);
      const atk = traffic.clients.filter((c) => c.kind !== 'benign');
      const aReq = atk.reduce((a, c) => a + c.requests, 0);
      const aRef = atk.reduce((a, c) => a + (c.statuses['403'] ?? 0), 0);
      const blocked = atk.filter((c) => blocks.has(c.ip)).length;
      out(`${elapsed()}  ·        benign ${bReq} requests, ${bReq ? ((100 * bOk) / bReq).toFixed(1) : '100.0'}% 200 | attackers ${aReq} requests, ${aRef} refused (403) | blocked ${blocked}/${atk.length}`);
    }, 3_000);
    try {
      await traffic.done;
    } finally {
      clearInterval(ticker);
    }
    const trafficSeconds = Math.round((Date.now() - trafficStart) / 100) / 10;
    // Late events (flushes every scan_interval) and the last poll, then the watchers stop.
    await sleep(1_500);
    stop.abort();
    await Promise.all([watch, events.done]);

    // ---- summary
    const clients = traffic.clients;
    const benign = clients.filter((c) => c.kind === 'benign');
    const attackers: AttackerSummary[] = clients.filter((c) => c.kind !== 'benign').map((c) => {
      const b = blocks.get(c.ip);
      const latency = b && c.firstRefusedAt !== undefined ? Math.max(0, c.firstRefusedAt - b.created_at) : null;
      return { kind: c.kind, ip: c.ip, requests: c.requests, refused: c.statuses['403'] ?? 0, blocked: b !== undefined, reason: b?.reason ?? null, latency_ms: latency };
    });
    const lat = attackers.map((a) => a.latency_ms).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const bReq = benign.reduce((a, c) => a + c.requests, 0);
    const bOk = benign.reduce((a, c) => a + (c.statuses['200'] ?? 0), 0);
    return {
      mode: o.mode,
      seconds: trafficSeconds,
      requests: clients.reduce((a, c) => a + c.requests, 0),
      benign: { clients: benign.length, requests: bReq, ok: bOk, refused: benign.reduce((a, c) => a + (c.statuses['403'] ?? 0), 0), ok_ratio: bReq === 0 ? 1 : bOk / bReq },
      attackers,
      events_by_type: eventsByType,
      events_by_detector: eventsByDetector,
      blocks: attackers.filter((a) => a.blocked).length,
      latency_ms: { n: lat.length, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] ?? null },
    };
  } finally {
    await stopAll();
  }
}

export function formatSummary(s: DemoSummary): string {
  const lines = [
    '',
    `summary (${s.seconds} s of traffic, ${s.mode === 'own' ? 'the demo\'s embedded instance' : 'the running instance'})`,
    `  requests          ${s.requests}`,
    `  benign            ${s.benign.requests} requests from ${s.benign.clients} visitors: ${(100 * s.benign.ok_ratio).toFixed(1)}% answered 200, ${s.benign.refused} refused`,
    `  events by type    ${Object.entries(s.events_by_type).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  by detector       ${Object.entries(s.events_by_detector).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  attackers blocked ${s.blocks}/${s.attackers.length}`,
  ];
  for (const a of s.attackers) {
    lines.push(`    ${a.ip.padEnd(13)} ${KIND_LABEL[a.kind].padEnd(12)} ${String(a.requests).padStart(5)} requests, ${String(a.refused).padStart(5)} refused  ${a.blocked ? `blocked, ${a.latency_ms ?? '?'} ms after the decision: ${a.reason ?? ''}` : 'NOT blocked'}`);
  }
  const l = s.latency_ms;
  lines.push(`  detection → block (decision → first request refused by nginx, per attacker; within one request interval${s.mode === 'attach' ? ', plus the demo\'s 250 ms poll of the API' : ''}): ${l.n === 0 ? 'n/a' : `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (n=${l.n})`}`);
  return `${lines.join('\n')}\n`;
}

const USAGE = `npm run demo [-- options]

Starts a test nginx with logwarden's Lua module, sends benign visitors and
attackers (scanner, brute-forcer, flooder) through it on loopback for a bounded
time, and shows live which addresses logwarden blocks and why.

  --seconds N     how long the traffic runs (default 60, at most ${MAX_SECONDS})
  --benign N      benign visitors (default 12)
  --attackers N   attackers of each kind (default 2)
  --api URL       the running logwarden to use (default http://127.0.0.1:8090 when it answers)
  --token-file F  a file holding its API token (default: $LOGWARDEN_TOKEN; never a
                  token on the command line, which every user sees in ps)
  --syslog H:P    its syslog address, where the demo nginx logs (default 127.0.0.1:5514)
  --embedded      start an instance of the demo's own even when one runs on 8090
  --json          print the summary as JSON`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' }, benign: { type: 'string' }, attackers: { type: 'string' }, api: { type: 'string' },
      'token-file': { type: 'string' }, syslog: { type: 'string' }, embedded: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const int = (v: string | undefined, d: number, min: number, max: number, name: string): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      process.stderr.write(`demo: --${name} takes a whole number from ${min} to ${max}\n`);
      process.exit(2);
    }
    return n;
  };
  const seconds = int(values.seconds, 60, 1, MAX_SECONDS, 'seconds');
  const benign = int(values.benign, 12, 0, 200, 'benign');
  const attackers = int(values.attackers, 2, 0, 50, 'attackers');
  const api = values.api ?? 'http://127.0.0.1:8090';
  const token = values['token-file'] !== undefined ? readFileSync(values['token-file'], 'utf8').trim() : process.env.LOGWARDEN_TOKEN;
  let mode: 'attach' | 'own' = 'own';
  if (!values.embedded) {
    const up = await fetch(`${api.replace(/\/+$/, '')}/healthz`, { signal: AbortSignal.timeout(1_500) }).then((r) => r.ok, () => false);
    if (up) mode = 'attach';
    else if (values.api) {
      process.stderr.write(`demo: nothing answers at ${api}/healthz\n`);
      process.exit(1);
    }
  }
  if (mode === 'attach' && !token) {
    process.stderr.write(
      `demo: logwarden runs at ${api}; to follow it the demo needs its API token.\n` +
        '  npm start printed it on its first start ("admin token: lw_..."): LOGWARDEN_TOKEN=lw_... npm run demo\n' +
        '  lost it? stop npm start, delete data/api-tokens.json, start it again: it prints a new one.\n' +
        '  or run the demo with an instance of its own: npm run demo -- --embedded\n',
    );
    process.exit(2);
  }
  const ac = new AbortController();
  process.once('SIGINT', () => {
    process.stdout.write('\n(stopping: Ctrl-C again to quit at once)\n');
    ac.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  const apiPort = mode === 'own' && (await portFree(8090)) ? 8090 : 0;
  const summary = await runDemo({
    seconds, benign, attackers, mode, api, apiPort, signal: ac.signal,
    ...(token ? { token } : {}),
    ...(values.syslog ? { syslog: values.syslog } : {}),
  });
  process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  // Wait-free exit: every service was stopped; stray keep-alive timers must not hold the terminal.
  process.exit(summary.attackers.every((a) => a.blocked) ? 0 : 1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
