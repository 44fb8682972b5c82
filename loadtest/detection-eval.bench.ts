// The detection evaluation: logwarden at FlatRun's default thresholds on the
// generator's harder corpora (`--mix hard`: benign traffic at and above the
// thresholds, attackers at several paces; loadtest/generator/benign-hard.ts,
// attacks-paced.ts), for several seeds and both log formats, with crawler
// claims verified against a real DNS server on loopback that answers the
// generator's records, beside fail2ban and CrowdSec on the same lines.
//
//   node dist/loadtest/detection-eval.bench.js [--lines 300000] [--seeds 42,7] [--duration 90m]
//        [--formats json,combined] [--peer-lines 24000] [--fail2ban-lines 0 (= all)]
//        [--crowdsec-timeout 150] [--no-peers]
//
// Per category (each benign kind, each attacker kind): clients, blocked
// (attackers: recall; benign: must be 0), and the delay from an attacker's
// first offence (its first attack request) to its block, p50/p99. The
// evaluation's configuration is the defaults plus what the corpus needs to be
// read as deployed: the CDN's range in ingest.trusted_proxies, and the test
// resolver in detection.crawlers.resolvers. Nothing is resolved anywhere but
// the dnsmasq this bench starts on 127.0.0.1.
//
// fail2ban reads the combined corpus (its first --fail2ban-lines). CrowdSec
// reads a few hundred lines a second, so it gets a slice of about --peer-lines
// lines chosen by client, not by time: whole clients, taken in turn from each
// category (every attacker kind, every benign kind) until the slice is full,
// their lines in log order, so that every category is in it with whole
// attacks; logwarden is scored on the same slice beside it. Peers ban per
// address: they see the combined corpus, where a CDN's visitors are logged as
// nginx's realip module logs them.
//
// Replay throughput with verification on is measured on the JSON corpus with
// the default configuration (plus the resolver), by `logwarden replay --report`
// in a process of its own, as an operator runs it: the issue's aim is 150k lines/s.
// Figures, not assertions; writes loadtest/out/detection-eval.json.
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../shared/config/load.js';
import { eventClient } from '../shared/records.js';
import { startTestDns } from '../shared/testing/dnsmasq.js';
import { backtest, type BacktestReport } from '../services/detector/backtest.js';
import { ATTACK_KINDS, HARD_PROFILES, PACED_ATTACK_KINDS, type DnsRecords, type GroundTruth } from './generator/traffic.js';
import { addBlock, merge, quantile, score, type Blocks, type CategoryScore, type Score } from './detection-eval-score.js';
import { runCrowdsec, type CrowdsecResult } from './peers/crowdsec.js';
import { runFail2ban, type Fail2banResult } from './peers/fail2ban.js';
import { intArg } from './args.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    seeds: { type: 'string', default: '42,7' },
    duration: { type: 'string', default: '90m' },
    formats: { type: 'string', default: 'json,combined' },
    'peer-lines': { type: 'string', default: '24000' },
    'fail2ban-lines': { type: 'string', default: '0' },
    'crowdsec-timeout': { type: 'string', default: '150' },
    'no-peers': { type: 'boolean', default: false },
  },
});
const int = intArg;
const LINES = int(values.lines, 'lines', 20_000);
const SEEDS = values.seeds.split(',').map((s) => int(s, 'seeds', 0));
const FORMATS = values.formats.split(',') as Array<'json' | 'combined'>;
if (!FORMATS.every((f) => f === 'json' || f === 'combined')) throw new Error('--formats: json and/or combined');
const PEER_LINES = Math.min(int(values['peer-lines'], 'peer-lines', 1), LINES);
const F2B_LINES = Math.min(int(values['fail2ban-lines'], 'fail2ban-lines', 0) || LINES, LINES);
const CS_TIMEOUT = int(values['crowdsec-timeout'], 'crowdsec-timeout', 10);
const PEERS = !values['no-peers'];

const root = fileURLToPath(new URL('../..', import.meta.url));
const gen = join(root, 'dist/loadtest/generator/main.js');
const cli = join(root, 'dist/services/cli/main.js');
const ORDER: string[] = [...HARD_PROFILES, 'cdn_client', 'browser', 'app', 'crawler', 'preview', 'feed', 'staff', 'author', 'monitor', ...PACED_ATTACK_KINDS, ...ATTACK_KINDS];

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '-');
const secs = (n: number): string => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : n.toFixed(0)) : '-');

function evalConfigText(truth: GroundTruth, resolver: string, trustProxies: boolean, extra: string[] = []): string {
  return [
    'ingest:',
    `  trusted_proxies: ${JSON.stringify(trustProxies ? truth.trusted_proxies : [])}`,
    'detection:',
    '  crawlers:',
    `    resolvers: ${JSON.stringify([resolver])}`,
    ...extra.map((l) => `    ${l}`),
  ].join('\n');
}

function evalConfig(truth: GroundTruth, resolver: string, trustProxies: boolean): Config {
  return loadConfig({ text: evalConfigText(truth, resolver, trustProxies), env: {} });
}

/**
 * Lines/s of `logwarden replay FILE --report` as an operator runs it: a process
 * of its own (whose heap holds nothing of this bench's), with config `text`.
 */
function cliReplayRate(dir: string, text: string, file: string, args: string[] = []): number {
  const configFile = join(dir, 'replay-throughput.yaml');
  writeFileSync(configFile, text);
  const out = execFileSync(process.execPath, [cli, 'replay', file, '--report', '--json', '--config', configFile, ...args], { cwd: root, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out.toString('utf8')) as BacktestReport).lines_per_second;
}

function blocksOf(r: BacktestReport): Blocks {
  const b: Blocks = new Map();
  for (const d of r.decisions) if (d.action === 'block') addBlock(b, d.ip, d.created_at);
  return b;
}

/**
 * CrowdSec's slice: whole clients, one of each category in turn (the smallest
 * first, so that more categories fit), until about `budget` lines; their
 * combined lines in log order go to `out`. Returns the chosen clients' keys.
 */
async function clientSlice(truth: GroundTruth, combinedFile: string, budget: number, out: string): Promise<Set<string>> {
  const queues = new Map<string, Array<[string, number]>>();
  for (const [ip, c] of Object.entries(truth.clients)) {
    if (c.profile === 'cdn_proxy') continue; // its lines are its visitors' in the combined log
    const cat = c.label === 'attacker' ? (c.kind as string) : (c.profile as string);
    const q = queues.get(cat) ?? [];
    q.push([ip, c.requests]);
    queues.set(cat, q);
  }
  for (const q of queues.values()) q.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const chosen = new Set<string>();
  let lines = 0;
  for (let progress = true; progress && lines < budget; ) {
    progress = false;
    for (const q of queues.values()) {
      const next = q.shift();
      if (next === undefined || lines + next[1] > budget) continue;
      chosen.add(next[0]);
      lines += next[1];
      progress = true;
    }
  }
  const kept: string[] = [];
  for await (const line of createInterface({ input: createReadStream(combinedFile), crlfDelay: Infinity })) {
    const ip = line.slice(0, line.indexOf(' '));
    if (chosen.has(truth.aliases[ip] ?? ip)) kept.push(line);
  }
  writeFileSync(out, `${kept.join('\n')}\n`);
  return chosen;
}

/** The first `n` lines of both files: the combined slice for the peers, its last time, and who appears in it. */
async function slice(jsonFile: string, combinedFile: string, n: number, out: string): Promise<{ endMs: number; ips: Set<string> }> {
  const lines: string[] = [];
  const ips = new Set<string>();
  for await (const line of createInterface({ input: createReadStream(combinedFile), crlfDelay: Infinity })) {
    if (lines.length >= n) break;
    lines.push(line);
    ips.add(line.slice(0, line.indexOf(' ')));
  }
  writeFileSync(out, `${lines.join('\n')}\n`);
  let endMs = 0;
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(jsonFile), crlfDelay: Infinity })) {
    if (++i === lines.length) {
      endMs = Math.round(Number((JSON.parse(line) as { ts: string }).ts) * 1000);
      break;
    }
  }
  return { endMs, ips };
}

interface SeedRun {
  seed: number;
  clients: number;
  attackers: number;
  dns_records: { host: number; ptr: number };
  formats: Record<string, { lines_per_second: number; parsed: number; crawlers: BacktestReport['crawlers']; score: Score; near: NearMisses }>;
  findings: string[];
  /** Replay lines/s with verification on (the defaults, and with lookups_per_second raised to see what the budget costs), and offline. */
  throughput: { verified_dns: number; verified_dns_unthrottled: number; offline: number };
  fail2ban?: { lines: number; score: Score; logwarden: Score } | { skipped: string };
  crowdsec?: { lines: number; complete: boolean; seconds: number; alerts: number; score: Score; logwarden: Score } | { skipped: string };
}

/** Per benign category: how many of its clients had events, by detector (none of them blocked: how close they came). */
type NearMisses = Record<string, Record<string, number>>;

function nearMisses(truth: GroundTruth, events: Map<string, Record<string, number>>): NearMisses {
  const out: NearMisses = {};
  for (const [ip, c] of Object.entries(truth.clients)) {
    if (c.label !== 'benign') continue;
    const ev = events.get(ip) ?? (ip.includes(':') ? events.get(`${ip.split(':').slice(0, 4).join(':')}::/64`) : undefined);
    if (!ev) continue;
    const cat = (out[c.profile ?? 'benign'] ??= {});
    for (const d of Object.keys(ev)) cat[d] = (cat[d] ?? 0) + 1;
  }
  return out;
}

/** What the engine said about one client: its events per detector, and its block's reason. */
function explain(ip: string, truth: GroundTruth, events: Map<string, Record<string, number>>, report: BacktestReport): string {
  const c = truth.clients[ip];
  const keys = [ip, ...(ip.includes(':') ? [`${ip.split(':').slice(0, 4).join(':')}::/64`] : [])];
  const ev = keys.map((k) => events.get(k)).find((e) => e !== undefined) ?? {};
  const blocked = report.blocked.find((b) => keys.includes(b.ip));
  const evText = Object.entries(ev).map(([d, n]) => `${d} ${n}`).join(', ') || 'no events';
  return `${ip} (${c?.label} ${c?.kind ?? c?.profile}, ${c?.requests} requests; ${c?.description ?? ''}): ${blocked ? `blocked at ${blocked.blocked_at}, "${blocked.reason}"` : 'not blocked'}; events: ${evText}`;
}

async function runSeed(seed: number, dir: string): Promise<SeedRun> {
  const jsonFile = join(dir, `s${seed}.json.log`);
  const combinedFile = join(dir, `s${seed}.combined.log`);
  const truthFile = join(dir, `s${seed}.truth.json`);
  for (const [format, out] of [['json', jsonFile], ['combined', combinedFile]] as const) {
    const args = [gen, 'write', '--mix', 'hard', '--lines', String(LINES), '--seed', String(seed), '--duration', values.duration, '--format', format, '--out', out];
    execFileSync(process.execPath, format === 'json' ? [...args, '--truth', truthFile] : args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as GroundTruth;
  const dns = JSON.parse(readFileSync(join(dir, `s${seed}.truth.dns.json`), 'utf8')) as DnsRecords;
  const server = await startTestDns({ host: dns.host, ptr: dns.ptr });
  const run: SeedRun = {
    seed,
    clients: Object.keys(truth.clients).length,
    attackers: Object.values(truth.clients).filter((c) => c.label === 'attacker').length,
    dns_records: { host: dns.host.length, ptr: dns.ptr.length },
    formats: {},
    findings: [],
    throughput: { verified_dns: 0, verified_dns_unthrottled: 0, offline: 0 },
  };
  try {
    const config = evalConfig(truth, server.server, true);
    const blocksBy = new Map<string, Blocks>();
    for (const format of FORMATS) {
      const events = new Map<string, Record<string, number>>();
      const report = await backtest(config, [format === 'json' ? jsonFile : combinedFile], {
        dns: true,
        format,
        onEvent: (e) => {
          const k = eventClient(e);
          const m = events.get(k) ?? {};
          m[e.detector] = (m[e.detector] ?? 0) + e.count;
          events.set(k, m);
        },
      });
      blocksBy.set(format, blocksOf(report));
      const s = score(truth, blocksBy.get(format) as Blocks, ORDER);
      run.formats[format] = { lines_per_second: report.lines_per_second, parsed: report.parsed, crawlers: report.crawlers, score: s, near: nearMisses(truth, events) };
      for (const c of s.categories) for (const ip of c.named) run.findings.push(`[seed ${seed}, ${format}] ${c.label === 'benign' ? 'BENIGN BLOCKED' : 'ATTACKER MISSED'}: ${explain(ip, truth, events, report)}`);
      for (const ip of s.strangers) run.findings.push(`[seed ${seed}, ${format}] blocked ${ip}, which no labelled client owns`);
    }
    // Throughput with verification on, as deployed by default (no trusted proxies: the detector's shards in threads); best of two.
    const plain = evalConfigText(truth, server.server, false);
    run.throughput.verified_dns = Math.max(cliReplayRate(dir, plain, jsonFile), cliReplayRate(dir, plain, jsonFile));
    run.throughput.offline = cliReplayRate(dir, plain, jsonFile, ['--no-dns']);
    run.throughput.verified_dns_unthrottled = cliReplayRate(dir, evalConfigText(truth, server.server, false, ['lookups_per_second: 100000']), jsonFile);

    if (PEERS) {
      const f2bFile = F2B_LINES === LINES ? combinedFile : join(dir, `s${seed}.f2b.log`);
      const f2bSlice = F2B_LINES === LINES ? undefined : await slice(jsonFile, combinedFile, F2B_LINES, f2bFile);
      console.error(`seed ${seed}: fail2ban over ${fmt(F2B_LINES)} lines…`);
      const f2b: Fail2banResult = await runFail2ban(f2bFile, F2B_LINES);
      if (f2b.available) {
        const scope = f2bSlice ? inSlice(f2bSlice) : undefined;
        const b: Blocks = new Map();
        for (const f of f2b.filters) for (const [ip, at] of f.banned) addBlock(b, ip, at * 1000);
        const lw = !f2bSlice && blocksBy.has('combined') ? (blocksBy.get('combined') as Blocks) : blocksOf(await backtest(config, [f2bFile], { dns: true, format: 'combined' }));
        run.fail2ban = { lines: F2B_LINES, score: score(truth, b, ORDER, scope), logwarden: score(truth, lw, ORDER, scope) };
      } else run.fail2ban = { skipped: f2b.reason };
      const csFile = join(dir, `s${seed}.cs.log`);
      const chosen = await clientSlice(truth, combinedFile, PEER_LINES, csFile);
      const csLines = readFileSync(csFile, 'utf8').split('\n').length - 1;
      console.error(`seed ${seed}: CrowdSec over ${fmt(csLines)} lines of ${chosen.size} whole clients (limit ${CS_TIMEOUT} s)…`);
      const cs: CrowdsecResult = await runCrowdsec(csFile, csLines, { dir: join(dir, `crowdsec-${seed}`), timeoutSeconds: CS_TIMEOUT });
      if (cs.available) {
        const b: Blocks = new Map();
        for (const a of cs.alerts) if (a.banned || cs.alerts_source === 'agent-log') addBlock(b, a.ip, Date.parse(a.at));
        const lw = blocksOf(await backtest(config, [csFile], { dns: true, format: 'combined' }));
        const scope = (ip: string): boolean => chosen.has(ip);
        run.crowdsec = { lines: cs.lines, complete: cs.complete, seconds: cs.seconds, alerts: cs.alerts.length, score: score(truth, b, ORDER, scope), logwarden: score(truth, lw, ORDER, scope) };
      } else run.crowdsec = { skipped: cs.reason };
    }
  } finally {
    await server.stop();
  }
  return run;
}

/** In a slice: a benign client that appears in it, an attacker whose whole attack does. */
function inSlice(s: { endMs: number; ips: Set<string> }) {
  return (ip: string, c: GroundTruth['clients'][string]): boolean =>
    c.label === 'attacker' ? (c.last_attack_ts ?? Infinity) <= s.endMs && (c.first_attack_ts ?? 0) > 0 : s.ips.has(ip);
}

function cell(c: CategoryScore | undefined): string {
  if (!c || c.clients === 0) return '-';
  if (c.label === 'benign') return `${c.blocked} of ${c.clients}`;
  const p = `${c.blocked}/${c.clients} ${((100 * c.blocked) / c.clients).toFixed(0)}%`;
  return c.delays.length ? `${p} ${secs(quantile(c.delays, 0.5))}/${secs(quantile(c.delays, 0.99))}s` : p;
}

function table(title: string, cols: Array<{ head: string; s: Score | undefined }>): string[] {
  const out = [title, `  ${'category'.padEnd(18)}${'label'.padEnd(9)}${cols.map((c) => c.head.padEnd(26)).join('')}`];
  const cats = new Map<string, 'benign' | 'attacker'>();
  for (const c of cols) for (const k of c.s?.categories ?? []) cats.set(k.category, k.label);
  const sorted = [...cats.keys()].sort((a, b) => (ORDER.indexOf(a) + 1 || 999) - (ORDER.indexOf(b) + 1 || 999));
  for (const cat of sorted) {
    out.push(`  ${cat.padEnd(18)}${(cats.get(cat) as string).padEnd(9)}${cols.map((c) => cell(c.s?.categories.find((k) => k.category === cat)).padEnd(26)).join('')}`);
  }
  const totals = (s: Score | undefined, label: string): string => {
    if (!s) return '-';
    const cs = s.categories.filter((c) => c.label === label);
    const n = cs.reduce((a, c) => a + c.clients, 0);
    const b = cs.reduce((a, c) => a + c.blocked, 0);
    return label === 'benign' ? `${b} of ${fmt(n)}` : `${b}/${n} ${n ? ((100 * b) / n).toFixed(1) : '-'}%`;
  };
  out.push(`  ${'all attackers'.padEnd(27)}${cols.map((c) => totals(c.s, 'attacker').padEnd(26)).join('')}`);
  out.push(`  ${'all benign'.padEnd(27)}${cols.map((c) => totals(c.s, 'benign').padEnd(26)).join('')}`);
  return out;
}

// ---------------------------------------------------------------------------

const t0 = process.hrtime.bigint();
const dir = mkdtempSync(join(tmpdir(), 'detection-eval-'));
try {
  const runs: SeedRun[] = [];
  for (const seed of SEEDS) {
    console.error(`seed ${seed}: ${fmt(LINES)} lines, --mix hard, ${values.duration}…`);
    runs.push(await runSeed(seed, dir));
  }
  const lw = Object.fromEntries(FORMATS.map((f) => [f, merge(runs.map((r) => r.formats[f]?.score as Score))]));
  const f2bRuns = runs.map((r) => r.fail2ban).filter((x): x is { lines: number; score: Score; logwarden: Score } => x !== undefined && 'score' in x);
  const csRuns = runs.map((r) => r.crowdsec).filter((x): x is Extract<SeedRun['crowdsec'], { score: Score }> => x !== undefined && 'score' in x);
  const f2b = f2bRuns.length ? merge(f2bRuns.map((r) => r.score)) : undefined;
  const cs = csRuns.length ? merge(csRuns.map((r) => r.score)) : undefined;
  const csLw = csRuns.length ? merge(csRuns.map((r) => r.logwarden)) : undefined;

  console.log(`detection evaluation: seeds ${SEEDS.join(', ')}, ${fmt(LINES)} lines each (--mix hard, ${values.duration}), FlatRun's default thresholds, crawler claims verified by DNS (dnsmasq on 127.0.0.1)`);
  for (const r of runs) {
    const fr = Object.entries(r.formats).map(([f, x]) => `${f}: ${fmt(x.lines_per_second)} lines/s, crawler claims ${x.crawlers.verified} verified / ${x.crawlers.failed} refuted / ${x.crawlers.unverified + x.crawlers.pending} open`).join('; ');
    console.log(`  seed ${r.seed}: ${fmt(r.clients)} clients, ${r.attackers} attackers, DNS ${r.dns_records.host} forward-confirmed + ${r.dns_records.ptr} PTR-only records; ${fr}`);
  }
  console.log('');
  const cols: Array<{ head: string; s: Score | undefined }> = FORMATS.map((f) => ({ head: `logwarden ${f}`, s: lw[f] }));
  if (PEERS) cols.push({ head: `fail2ban (${F2B_LINES === LINES ? 'all' : `first ${fmt(F2B_LINES)}`})`, s: f2b });
  for (const line of table('per category, all seeds: benign "blocked of clients"; attackers "blocked/clients recall first-offence→block p50/p99"', cols)) console.log(line);
  if (PEERS) {
    console.log('');
    const csCols = [{ head: 'CrowdSec (slice)', s: cs }, { head: 'logwarden (same slice)', s: csLw }];
    const csText = csRuns.map((r) => `${fmt(r.lines)} lines in ${r.seconds.toFixed(0)} s${r.complete ? '' : ' (stopped)'}`).join(', ');
    for (const line of table(`CrowdSec's slice: whole clients of every category, ~${fmt(PEER_LINES)} lines a seed (${csText}), combined`, csCols)) console.log(line);
    for (const r of runs) if (r.crowdsec && 'skipped' in r.crowdsec) console.log(`  CrowdSec, seed ${r.seed}: ${r.crowdsec.skipped}`);
    for (const r of runs) if (r.fail2ban && 'skipped' in r.fail2ban) console.log(`  fail2ban, seed ${r.seed}: ${r.fail2ban.skipped}`);
  }
  console.log('\nbenign clients with events (none blocked unless listed below), by detector: clients');
  for (const f of FORMATS.slice(0, 1)) {
    const near: NearMisses = {};
    for (const r of runs) for (const [cat, ds] of Object.entries(r.formats[f]?.near ?? {})) for (const [d, n] of Object.entries(ds)) (near[cat] ??= {})[d] = (near[cat]?.[d] ?? 0) + n;
    for (const cat of Object.keys(near).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b))) {
      console.log(`  ${f} ${cat.padEnd(18)} ${Object.entries(near[cat] ?? {}).map(([d, n]) => `${d} ${n}`).join(', ')}`);
    }
  }
  const tput = runs.map((r) => r.throughput.verified_dns);
  const offline = runs.map((r) => r.throughput.offline);
  const unthrottled = runs.map((r) => r.throughput.verified_dns_unthrottled);
  console.log(
    `\nreplay throughput, JSON, default configuration, verification on (test resolver): ${tput.map(fmt).join(', ')} lines/s; ` +
      `with crawlers.lookups_per_second raised to 100000: ${unthrottled.map(fmt).join(', ')}; offline (--no-dns): ${offline.map(fmt).join(', ')} lines/s`,
  );
  const findings = runs.flatMap((r) => r.findings);
  console.log(`\nfindings (${findings.length}):`);
  for (const f of findings.slice(0, 60)) console.log(`  ${f}`);
  if (findings.length > 60) console.log(`  … ${findings.length - 60} more in loadtest/out/detection-eval.json`);
  console.log(`\nbenchmark wall time ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(0)} s`);

  // ---- figures ----
  const bench = 'detection-eval';
  const sum = (s: Score, label: string, k: 'clients' | 'blocked'): number => s.categories.filter((c) => c.label === label).reduce((a, c) => a + c[k], 0);
  const recall = (s: Score): number => sum(s, 'attacker', 'blocked') / Math.max(1, sum(s, 'attacker', 'clients'));
  const delays = (s: Score): number[] => s.categories.flatMap((c) => c.delays);
  const seedsText = `seeds ${SEEDS.join(',')} × ${fmt(LINES)} lines`;
  for (const f of FORMATS) {
    const s = lw[f] as Score;
    figure({
      bench, name: `attackers blocked, ${f} (${seedsText})`, value: recall(s), unit: 'share', better: 'higher', aim: 1,
      ...(f === 'combined' && f2b ? { peer: { name: `fail2ban (any jail), ${F2B_LINES === LINES ? 'same lines' : `first ${fmt(F2B_LINES)} lines`}`, value: recall(f2b) } } : {}),
      note: `${sum(s, 'attacker', 'blocked')}/${sum(s, 'attacker', 'clients')}`,
    });
    figure({ bench, name: `benign clients blocked, ${f} (${seedsText})`, value: sum(s, 'benign', 'blocked'), unit: 'clients', better: 'lower', aim: 0, note: `of ${fmt(sum(s, 'benign', 'clients'))}` });
    figure({
      bench, name: `first offence → block p50, ${f}`, value: quantile(delays(s), 0.5), unit: 's', better: 'lower',
      ...(f === 'combined' && f2b ? { peer: { name: 'fail2ban (its bans)', value: quantile(delays(f2b), 0.5) } } : {}),
    });
    figure({
      bench, name: `first offence → block p99, ${f}`, value: quantile(delays(s), 0.99), unit: 's', better: 'lower',
      ...(f === 'combined' && f2b ? { peer: { name: 'fail2ban (its bans)', value: quantile(delays(f2b), 0.99) } } : {}),
    });
  }
  // Per category, both formats together (the table above has them apart).
  const both = merge(FORMATS.map((f) => lw[f] as Score));
  for (const c of both.categories) {
    const peer = f2b?.categories.find((k) => k.category === c.category);
    if (c.label === 'attacker') {
      figure({
        bench, name: `recall: ${c.category}`, value: c.blocked / c.clients, unit: 'share', better: 'higher', aim: 1,
        ...(peer && peer.clients > 0 ? { peer: { name: 'fail2ban (combined)', value: peer.blocked / peer.clients } } : {}),
        note: `${c.blocked}/${c.clients}, delay p50 ${secs(quantile(c.delays, 0.5))} s, p99 ${secs(quantile(c.delays, 0.99))} s`,
      });
    } else figure({ bench, name: `benign blocked: ${c.category}`, value: c.blocked, unit: 'clients', better: 'lower', aim: 0, note: `of ${c.clients}` });
  }
  if (cs && csLw) {
    figure({ bench, name: `attackers blocked, CrowdSec's slice (~${fmt(PEER_LINES)} lines of whole clients a seed)`, value: recall(csLw), unit: 'share', better: 'higher', peer: { name: 'CrowdSec', value: recall(cs) }, note: `logwarden ${sum(csLw, 'attacker', 'blocked')}/${sum(csLw, 'attacker', 'clients')}, CrowdSec ${sum(cs, 'attacker', 'blocked')}/${sum(cs, 'attacker', 'clients')}` });
    figure({ bench, name: `benign blocked, CrowdSec's slice`, value: sum(csLw, 'benign', 'blocked'), unit: 'clients', better: 'lower', aim: 0, peer: { name: 'CrowdSec', value: sum(cs, 'benign', 'blocked') } });
  }
  figure({ bench, name: 'replay throughput, verification on (test resolver)', value: Math.min(...tput), unit: 'lines/s', better: 'higher', aim: 150_000, note: `JSON, default configuration; per seed ${tput.map(fmt).join(', ')}; lookups_per_second raised: ${unthrottled.map(fmt).join(', ')}; offline ${offline.map(fmt).join(', ')}` });

  const outDir = join(root, 'loadtest/out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'detection-eval.json'), `${JSON.stringify({ benchmark: bench, generated_at: new Date().toISOString(), lines: LINES, seeds: SEEDS, duration: values.duration, runs }, null, 2)}\n`);
  console.log(`figures written to ${join(outDir, 'detection-eval.json')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
