// The logwarden the demo runs against, and the demo's nginx, in one of two ways:
// - own: an embedded instance in this process (in-process bus, embedded
//   ClickHouse, temporary data) whose enforcer lists the demo nginx as its node;
// - attach: the instance already running at --api; it has no `nodes:` entry for
//   the demo nginx and none is added to it, so the demo runs an enforcer of its
//   own (the same Enforcer class) for its nginx, fed with the instance's blocks
//   read from the API, like an enforcer per edge node.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { createBus } from '../../shared/bus/index.js';
import { loadConfig } from '../../shared/config/load.js';
import { freePort, startLocalNginx, type LocalNginx } from '../../shared/local-nginx.js';
import type { BlockDecision } from '../../shared/records.js';
import { topicNames } from '../../shared/topics.js';
import { hashToken, newToken } from '../../shared/auth/tokens.js';
import { Enforcer } from '../enforcer/enforcer.js';
import { SERVICES, startRuntime, topicSpecs, type Runtime } from '../runtime.js';

import type { Block } from './commands/blocks.js';
import { CliError } from './errors.js';

export type { Block };

export interface DemoInstance {
  /** The instance's API, http://127.0.0.1:PORT. */
  base: string;
  token: string;
  nginx: LocalNginx;
  /** attach: hands the instance's current blocks to the demo's own enforcer. */
  feedEnforcer?: (blocks: ReadonlyMap<string, Block>) => Promise<void>;
}

export interface InstanceOptions {
  /** own: API port (0: any free one). */
  apiPort?: number;
  /** attach: the running instance's API. */
  api?: string;
  token?: string;
  /** attach: the instance's syslog address for the demo nginx. */
  syslog?: string;
  controlSecret: string;
  out: (line: string) => void;
  /** Where each thing started registers its stop, run in reverse order. */
  onStop: (stop: () => Promise<void>) => void;
}

export async function apiCall<T>(base: string, token: string, method: string, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as T };
}

async function startNginx(syslog: string, controlSecret: string): Promise<LocalNginx> {
  try {
    return await startLocalNginx({ syslog, control: true, controlSecret });
  } catch (err) {
    throw new CliError(
      'LW_CLI_DEMO_NGINX',
      `the demo needs nginx with the Lua module and could not start it.\n` +
        `  Debian/Ubuntu: run as root  bash infra/nginx/nginx.sh install   (nginx, libnginx-mod-http-lua, lua-cjson)\n` +
        `  or point LOGWARDEN_NGINX_BIN at an OpenResty binary.\n  cause: ${(err as Error).message.split('\n')[0] ?? ''}`,
    );
  }
}

/** own: the demo nginx and an embedded instance enforcing on it. */
export async function startOwnInstance(o: InstanceOptions): Promise<DemoInstance> {
  const udpPort = await freePort();
  o.out(`▶ starting nginx with the Lua module (syslog → 127.0.0.1:${udpPort}) ...`);
  const nginx = await startNginx(`127.0.0.1:${udpPort}`, o.controlSecret);
  o.onStop(() => nginx.stop());
  const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-demo-'));
  o.onStop(() => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })));
  const token = o.token ?? newToken();
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
  o.out('▶ starting logwarden, embedded (in-process bus, embedded ClickHouse, enforcer → the demo nginx) ...');
  const rt: Runtime = await startRuntime(loadConfig({ text: yaml, env: { LOGWARDEN_DEMO_NODE_SECRET: o.controlSecret } }), new Set(SERVICES));
  o.onStop(() => rt.stop());
  const base = `http://127.0.0.1:${rt.apiPort as number}`;
  o.out(`  dashboard  ${base}/dashboard/   token: ${token}   (while the demo runs)`);
  return { base, token, nginx };
}

/** attach: the running instance at o.api, the demo nginx logging to its syslog, and the demo's own enforcer. */
export async function attachInstance(o: InstanceOptions): Promise<DemoInstance> {
  const base = (o.api ?? 'http://127.0.0.1:8090').replace(/\/+$/, '');
  if (!o.token) throw new CliError('LW_CLI_DEMO_TOKEN', 'a token is needed to follow the running instance: set LOGWARDEN_TOKEN (npm start printed it on its first start) or pass --token-file');
  const token = o.token;
  const me = await apiCall<{ data?: { name: string; role: string }; error?: string }>(base, token, 'GET', '/api/whoami');
  if (me.status !== 200) throw new CliError('LW_CLI_DEMO_TOKEN', `${base} refused the token (HTTP ${me.status}: ${me.body.error ?? ''})`);
  const syslog = o.syslog ?? '127.0.0.1:5514';
  o.out(`▶ using logwarden at ${base} as ${me.body.data?.name ?? '?'} (${me.body.data?.role ?? '?'}); the demo nginx logs to its syslog ${syslog}`);
  // Blocks of the demo's own addresses from an earlier run would refuse them from the first request.
  const held = await apiCall<{ data: Block[] }>(base, token, 'GET', '/api/security/blocked-ips?limit=1000');
  const mine = (held.body.data ?? []).filter((b) => b.ip.startsWith('127.0.'));
  if (mine.length > 0 && me.body.data?.role === 'admin') {
    for (const b of mine) await apiCall(base, token, 'DELETE', `/api/security/blocked-ips/${encodeURIComponent(b.ip)}`);
    o.out(`  lifted ${mine.length} block(s) of the demo's addresses left by an earlier run`);
  }
  o.out('▶ starting nginx with the Lua module ...');
  const nginx = await startNginx(syslog, o.controlSecret);
  o.onStop(() => nginx.stop());
  const feedEnforcer = await startOwnEnforcer(nginx, o);
  o.out('  this demo enforces on its own nginx with the blocks of that instance (read every 250 ms from its API)');
  return { base, token, nginx, feedEnforcer };
}

/** The demo's enforcer for its nginx: the same Enforcer, fed with decisions made from the instance's blocks. */
async function startOwnEnforcer(nginx: LocalNginx, o: InstanceOptions): Promise<(blocks: ReadonlyMap<string, Block>) => Promise<void>> {
  const cfg = loadConfig({
    text: ['kafka: { brokers: [], topic_prefix: "demo-enforcer." }', 'security: { scan_interval: 5s }', `nodes: [{ name: demo-nginx, url: "${nginx.controlUrl as string}", secret_env: S }]`, 'log_level: warn'].join('\n'),
    env: { S: o.controlSecret },
  });
  const bus = createBus(cfg);
  const topics = topicNames(cfg.kafka.topic_prefix);
  await bus.ensureTopics(topicSpecs(cfg, topics));
  const enforcer = new Enforcer({ config: cfg, bus, topics });
  await enforcer.start();
  o.onStop(async () => {
    await enforcer.close();
    await bus.close();
  });
  const pushed = new Map<string, number>();
  return async (blocks) => {
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
}
