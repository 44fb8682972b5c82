// A blocklist feed of N entries (default 100k: addresses and CIDR blocks,
// overlapping) from a file to a real nginx, through the path production runs:
// the feed (parse, whitelist, merge, diff) publishes its decisions on the
// in-process bus, the sink stores them in control_blocks (embedded
// ClickHouse), the enforcer pushes them to nginx's Lua control endpoint. Then
// a second body with 1% of the entries replaced (the difference only), and
// wrk against that nginx holding the feed and against the same module
// holding nothing (rounds alternate).
//   node dist/loadtest/feeds.bench.js [--entries 100000] [--cidr-percent 40] [--seconds 5] [--rounds 2] [--connections 32]
//
// Prints: apply time (parse → published), until stored, until nginx holds
// every block (its /status counts), the 1% change's decisions and time, and
// requests/s with and without the feed. Loopback only; wrk from 127.0.0.1,
// which no generated entry covers.
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryBus } from '../shared/bus/memory.js';
import { migrate } from '../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir } from '../shared/clickhouse/testing.js';
import { loadConfig } from '../shared/config/load.js';
import { ControlState } from '../shared/control/state.js';
import { ControlStore } from '../shared/control/store.js';
import { signNodeRequest } from '../shared/node-auth.js';
import { freePort, startTestNginx, type TestNginx } from '../shared/testing/nginx.js';
import { topicNames, topicSpecs } from '../shared/topics.js';
import { Enforcer } from '../services/enforcer/enforcer.js';
import { Feed } from '../services/feeds/feed.js';
import { start as startSink } from '../services/sink/index.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    'cidr-percent': { type: 'string', default: '40' },
  },
});
const entries = Math.max(1000, Math.min(Number(values.entries), 1_000_000));
const seconds = Math.max(1, Math.min(Number(values.seconds), 30));
const rounds = Math.max(1, Math.min(Number(values.rounds), 10));
const connections = Math.max(1, Math.min(Number(values.connections), 256));
const cidrPercent = Math.max(0, Math.min(Number(values['cidr-percent']), 100));
const SECRET = 'feeds-bench-control-secret-0123';

// Deterministic entries: first octets 1-223 without 10, 127 and 172 (loopback and
// private space stay reachable); blocks of /20 to /30 (--cidr-percent of the entries, default 40), the rest addresses.
let seed = 0x5eed;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};
function entry(): string {
  let a = 1 + rnd(223);
  while (a === 10 || a === 127 || a === 172) a = 1 + rnd(223);
  const ip = `${a}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
  return rnd(100) >= cidrPercent ? ip : `${ip}/${20 + rnd(11)}`;
}

async function nodeStatus(nginx: TestNginx): Promise<{ blocks: number; ranges: number; forcible: number }> {
  const res = await fetch(new URL('/status', nginx.controlUrl), { headers: { authorization: signNodeRequest(SECRET, 'GET', '/status', '') } });
  return (await res.json()) as { blocks: number; ranges: number; forcible: number };
}

function wrk(url: string): number {
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Polls every `every` ms: a node's /status counts every key of its dicts, which a tight poll would slow. */
async function until(what: string, fn: () => Promise<boolean>, every = 20, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'logwarden-feeds-bench-'));
const sinkSocket = createSocket('udp4');
await new Promise<void>((resolve) => sinkSocket.bind(0, '127.0.0.1', resolve));
const syslog = `127.0.0.1:${sinkSocket.address().port}`;
const stops: Array<() => Promise<unknown>> = [];
try {
  const list = Array.from({ length: entries }, entry);
  const path = join(dir, 'feed.netset');
  writeFileSync(path, `# bench feed, ${entries} entries\n${list.join('\n')}\n`);

  const loaded = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET, syslog });
  stops.push(() => loaded.stop());
  const empty = await startTestNginx({ controlPort: await freePort(), controlSecret: SECRET, syslog });
  stops.push(() => empty.stop());
  const config = loadConfig({
    text: JSON.stringify({ log_level: 'silent', nodes: [{ name: 'bench', url: loaded.controlUrl, secret_env: 'BENCH_SECRET' }], feeds: [{ name: 'bench', source: path, refresh: '1h', block_duration: '1d' }] }),
    env: { BENCH_SECRET: SECRET },
  });
  const t = await openTestClickHouse('feeds_bench');
  stops.push(async () => {
    await t.dispose();
    removeTestDataDir();
  });
  await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
  const bus = new MemoryBus();
  const topics = topicNames('feedsbench.');
  await bus.ensureTopics(topicSpecs({ kafka: { partitions: 1 } }, topics));
  stops.unshift(() => bus.close());
  const control = new ControlState();
  const store = new ControlStore(t.ch, bus, topics, control);
  const sink = await startSink({ config, bus, topics, control, ch: t.ch, store });
  stops.unshift(() => sink.stop(10_000));
  const enforcer = new Enforcer({ config, bus, topics, reconcileMs: 3_600_000 });
  await enforcer.start();
  stops.unshift(() => enforcer.close());
  await until('the enforcer synced the empty node', async () => (await nodeStatus(loaded)).blocks === 0, 250);

  const feedConfig = config.feeds[0] as (typeof config.feeds)[number];
  const feed = new Feed(feedConfig, { store, control, configWhitelist: config.detection.whitelist });
  const t0 = performance.now();
  await feed.refresh();
  const applyMs = performance.now() - t0;
  const s = feed.status();
  if (s.state !== 'ok') throw new Error(`feed failed: ${JSON.stringify(s.last_error)}`);
  await until('stored in control_blocks', async () => (await store.feedBlocks('bench')).size === s.size);
  const storedMs = performance.now() - t0;
  let node = await nodeStatus(loaded);
  await until('nginx holds the feed', async () => {
    node = await nodeStatus(loaded);
    return node.blocks + node.ranges >= s.size;
  }, 250);
  const nginxMs = performance.now() - t0;
  console.log(`feed of ${entries} entries → ${s.size} blocks after merging (${node.blocks} addresses, ${node.ranges} ranges at nginx${node.forcible ? `, ${node.forcible} evicted: dict full` : ''})`);
  console.log(`  apply (parse, whitelist, merge, diff, publish)  ${applyMs.toFixed(0)} ms`);
  console.log(`  until stored in control_blocks                   ${storedMs.toFixed(0)} ms`);
  console.log(`  until nginx holds every block                    ${nginxMs.toFixed(0)} ms`);

  // 1% of the entries replaced: only the difference travels.
  const changed = Math.floor(entries / 100);
  for (let i = 0; i < changed; i++) list[i * 100] = entry();
  writeFileSync(path, `${list.join('\n')}\n`);
  utimesSync(path, new Date(), new Date(Date.now() + 10_000));
  const before = feed.status().size;
  const t1 = performance.now();
  await feed.refresh();
  const diffMs = performance.now() - t1;
  console.log(`  1% of the entries replaced: applied in ${diffMs.toFixed(0)} ms (${before} → ${feed.status().size} blocks)`);
  // wrk only once nginx holds the new set: while ranges arrive, each batch makes every worker rebuild its range set.
  await until('nginx holds the changed feed', async () => {
    const n = await nodeStatus(loaded);
    return n.blocks + n.ranges === feed.status().size;
  }, 250);

  const withFeed: number[] = [];
  const without: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [true, false] : [false, true];
    for (const loadedFirst of order) (loadedFirst ? withFeed : without).push(wrk(`${(loadedFirst ? loaded : empty).url}/`));
  }
  const rpsWith = median(withFeed);
  const rpsWithout = median(without);
  console.log(`  nginx req/s with the feed loaded ${rpsWith.toFixed(0)}, module without it ${rpsWithout.toFixed(0)} (${(rpsWith / rpsWithout).toFixed(2)}×; wrk -t1 -c${connections} ${seconds}s, median of ${rounds})`);

  figure({ bench: 'feeds', name: `${entries}-entry feed: parse, whitelist, merge, diff, publish`, value: Math.round(applyMs), unit: 'ms', better: 'lower', aim: 5000 });
  figure({ bench: 'feeds', name: `${entries}-entry feed: file → every block held by nginx`, value: Math.round(nginxMs), unit: 'ms', better: 'lower', aim: 10_000, note: `${s.size} blocks after merging: ${node.blocks} addresses, ${node.ranges} ranges` });
  figure({ bench: 'feeds', name: `${entries}-entry feed: 1% changed, difference applied`, value: Math.round(diffMs), unit: 'ms', better: 'lower' });
  figure({
    bench: 'feeds', name: 'nginx req/s holding the feed', value: Math.round(rpsWith), unit: 'req/s', better: 'higher',
    peer: { name: 'the same module holding nothing', value: Math.round(rpsWithout) }, aim: Math.round(0.9 * rpsWithout),
  });
} finally {
  for (const stop of stops) await stop().catch((err: unknown) => console.error(String(err)));
  sinkSocket.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
