// The whole pipeline at full speed, one figure: the distributed mode on this
// machine as separate processes (loadtest/pipeline-e2e/rig.ts: Kafka broker,
// ingester, detector, sink into the embedded ClickHouse, enforcer pushing to a
// real nginx with the Lua module), fed the generator's nginx lines (benign
// clients and one attacker of each kind, syslog-json on their own clock: half
// UDP as nginx sends them, half through a relay process onto the TCP input;
// one corpus generated at the highest step's rate, a lower rate keeping every
// attacker and a share of the benign clients: pipeline-e2e/corpus.ts). Each
// step runs on a fresh set of processes, topics and nginx.
// It looks for the highest rate sustained for --seconds with
//   - no line lost: lines sent = AccessRecords on the topic = rows the sink had
//     ClickHouse acknowledge in `requests` (real-time capture on), none rejected;
//   - every attacker blocked: nginx answers its next request 403 (probed by its
//     address through X-Forwarded-For from 127.0.0.1);
//   - consumer lag bounded: each group's lag over the access topic at the end of
//     the hold (from the broker's offsets) ≤ --lag-bound seconds of traffic.
// Coarse steps (--rates) until one fails, then one bisection. At the best rate:
// CPU µs per line of each stage from its own CPU time (/proc utime+stime, from
// the start of the hold to the drain), memory (RSS) per process, and log line →
// 403 at nginx (the decision's time is the $msec of the line that crossed the
// threshold, sent on its own clock; the prober's first 403 after it) p50/p99.
// Beside it, from the same run: rsyslog imudp → omkafka on the generator's
// lines at that rate (the front door's peer: its CPU per line) and CrowdSec in
// file mode on a slice (the detection peer: its CPU per line, attackers found).
//
//   node dist/loadtest/pipeline-e2e.bench.js [--rates 2000,4000,8000,16000] [--seconds 60] [--lag-bound 5]
//        [--peer-seconds 20] [--crowdsec-lines 20000] [--crowdsec-timeout 150] [--no-peers] [--no-bisect] [--budget SECONDS]
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { KafkaBus } from '../shared/bus/kafka.js';
import { freePort } from '../shared/testing/nginx.js';
import { fileLines } from './generator/sources.js';
import { intArg } from './args.js';
import { nextRate, perLine, quantile, total, verdict, type StepCounts } from './pipeline-e2e/accounting.js';
import { fields, shareFor } from './pipeline-e2e/corpus.js';
import { cpuMicros, memory, reapedChildrenCpuMicros } from './procstat.js';
import { Rig, STAGES, root, type Stage } from './pipeline-e2e/rig.js';
import { runCrowdsec } from './peers/crowdsec.js';
import { figure } from './report-figures.js';
import { ensureRsyslog, startRsyslog } from './rsyslog-peer.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '2000,4000,8000,16000' },
    seconds: { type: 'string', default: '60' },
    'lag-bound': { type: 'string', default: '5' },
    'attackers-per-kind': { type: 'string', default: '1' },
    seed: { type: 'string', default: '16' },
    workers: { type: 'string', default: '1' },
    partitions: { type: 'string', default: '4' },
    'peer-seconds': { type: 'string', default: '20' },
    'crowdsec-lines': { type: 'string', default: '20000' },
    'crowdsec-timeout': { type: 'string', default: '150' },
    'no-peers': { type: 'boolean', default: false },
    'no-bisect': { type: 'boolean', default: false },
    budget: { type: 'string', default: '0' },
  },
});
const STEPS = values.rates.split(',').map((r) => intArg(r.trim(), 'rates', 100)).sort((a, b) => a - b);
const SECONDS = intArg(values.seconds, 'seconds', 10);
const LAG_BOUND_S = Number(values['lag-bound']);
const PER_KIND = intArg(values['attackers-per-kind'], 'attackers-per-kind', 1);
const PEER_SECONDS = intArg(values['peer-seconds'], 'peer-seconds', 10);
const CS_LINES = intArg(values['crowdsec-lines'], 'crowdsec-lines', 1000);
const CS_TIMEOUT = intArg(values['crowdsec-timeout'], 'crowdsec-timeout', 10);
/** After the hold: how long the attackers may still take to be refused, and the topics to drain. */
const AFTER_HOLD_MS = 20_000;
const DRAIN_MS = 45_000;
const PROBE_EVERY_MS = 25;
const SEED = intArg(values.seed, 'seed', 0);
/** Seconds for the whole bench (0: none): no step is started that would not leave time for itself and the peers. */
const BUDGET_S = intArg(values.budget, 'budget', 0);
const STEP_COST_S = SECONDS + 60;
const PEERS_COST_S = 120;
const started = Date.now();
const RIG = { partitions: intArg(values.partitions, 'partitions', 1), workers: intArg(values.workers, 'workers', 1) };
const sender = join(root, 'dist/loadtest/pipeline-e2e/sender.js');
const bench = 'pipeline-e2e';
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

interface SenderDone {
  planned: number;
  sent: number;
  send_seconds: number;
  udp_errors: number;
  relayed: number;
  to_relay: number;
  lateness_ms: { p50: number; p99: number; max: number };
}

/** Runs the sender; `onPlan` gets the wall time of the corpus's start before the first line leaves. */
function runSender(args: string[], onPlan: (t0: number) => void): Promise<SenderDone> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [sender, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let done: SenderDone | undefined;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const msg = JSON.parse(out.slice(0, nl)) as { type: string; t0?: number };
        out = out.slice(nl + 1);
        if (msg.type === 'plan') onPlan(msg.t0 ?? Date.now());
        else if (msg.type === 'done') done = msg as unknown as SenderDone;
      }
    });
    child.once('exit', (code) => (done && code === 0 ? resolve(done) : reject(new Error(`sender exited with ${code}`))));
  });
}

type Cpu = Record<Stage, number>;
const cpuNow = (rig: Rig): Cpu => Object.fromEntries(STAGES.map((s) => [s, cpuMicros(rig.pid(s))])) as Cpu;

interface Step {
  /** The step's target, lines/s (the search's), and the rate the corpus offered at it. */
  target: number;
  rate: number;
  counts: StepCounts;
  pass: boolean;
  reasons: string[];
  cpuPerLine: Cpu;
  /** CPU cores each stage used during the hold. */
  cores: Cpu;
  rss: Record<Stage, { rss: number; peak: number }>;
  latencies: number[];
  lateness: SenderDone['lateness_ms'];
  load: string;
}

/** Until every line sent is on the topic (or the count stood still 3 s), no group lags and the sink stored what is there; bounded. */
async function waitDrained(rig: Rig, sentTotal: number): Promise<void> {
  const deadline = Date.now() + DRAIN_MS;
  let last = -1;
  let stillSince = Date.now();
  while (Date.now() < deadline && rig.dead().length === 0) {
    const c = await rig.counts();
    const stored = await rig.storedRows();
    const n = c.onTopic + c.rejected;
    if (n !== last) {
      last = n;
      stillSince = Date.now();
    }
    const arrived = n >= sentTotal || Date.now() - stillSince > 3000;
    if (arrived && Object.values(c.lag).every((x) => x === 0) && stored >= c.onTopic) return;
    await sleep(250);
  }
}

interface Corpus {
  file: string;
  startMs: number;
  attackers: string[];
  /** Each attacker's kind (the generator's). */
  kinds: Map<string, string>;
  /** The attackers whose lines in the window reach the block threshold (the backtest on them): the ones nginx must refuse. */
  expected: string[];
  window: { attackerLines: number; benignLines: number };
}

/** One corpus for every step: the generator's lines at the highest step's rate, and its window's counts. */
function makeCorpus(dir: string, rate: number): Corpus {
  const file = join(dir, 'corpus.log');
  const truthFile = join(dir, 'corpus.truth.json');
  // A few per cent of a corpus's lines fall after its nominal duration (sessions and attacks go on): generate more.
  const lines = Math.ceil(rate * SECONDS * 1.1);
  const t = Date.now();
  execFileSync(process.execPath, [join(root, 'dist/loadtest/generator/main.js'), 'write', '--lines', String(lines), '--seed', String(SEED), '--format', 'syslog-json', '--out', file, '--truth', truthFile, '--duration', `${SECONDS}s`, '--attackers', String(PER_KIND), '--ipv6-share', '0'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as { start_ms: number; clients: Record<string, { label: string; kind?: string }> };
  const attackers = Object.entries(truth.clients).filter(([, c]) => c.label === 'attacker').map(([ip]) => ip);
  const kinds = new Map(attackers.map((ip) => [ip, truth.clients[ip]?.kind ?? '?']));
  const set = new Set(attackers);
  const window = { attackerLines: 0, benignLines: 0 };
  const attackLines: Buffer[] = [];
  for (const line of fileLines(file)) {
    const f = fields(line);
    if (!f) continue;
    if (f.ts >= truth.start_ms + SECONDS * 1000) break;
    if (set.has(f.ip)) {
      window.attackerLines++;
      attackLines.push(Buffer.from(line), Buffer.from('\n'));
    } else window.benignLines++;
  }
  // Some attacks take longer than the hold to reach a block: the backtest on the same lines says which do within it.
  const attackFile = join(dir, 'attackers.log');
  writeFileSync(attackFile, Buffer.concat(attackLines));
  const env = { ...process.env };
  delete env.LOGWARDEN_CONFIG;
  const report = JSON.parse(execFileSync(process.execPath, [join(root, 'dist/services/cli/main.js'), 'replay', attackFile, '--report', '--json'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { blocked: Array<{ ip: string }> };
  const expected = attackers.filter((ip) => report.blocked.some((b) => b.ip === ip));
  console.log(`corpus: ${lines} lines generated in ${((Date.now() - t) / 1000).toFixed(0)} s (seed ${SEED}), ${window.attackerLines + window.benignLines} in its first ${SECONDS} s, ${attackers.length} attackers (${window.attackerLines} lines), ${expected.length} of them blocked within it by the backtest on the same lines${expected.length < attackers.length ? ` (${attackers.filter((ip) => !expected.includes(ip)).map((ip) => kinds.get(ip)).join(', ')} need longer)` : ''}`);
  return { file, startMs: truth.start_ms, attackers, kinds, expected, window };
}

async function runStep(corpus: Corpus, target: number): Promise<Step> {
  const rig = new Rig(RIG);
  try {
    await rig.start();
    const share = shareFor(target, SECONDS, corpus.window);
    const cpu0 = cpuNow(rig);
    let probing: Promise<Map<string, number>> = Promise.resolve(new Map<string, number>());
    let holdStart = 0;
    const done = await runSender(
      ['--from', corpus.file, '--corpus-start', String(corpus.startMs), '--udp', `127.0.0.1:${rig.udpPort}`, '--tcp', `127.0.0.1:${rig.tcpPort}`,
        '--seconds', String(SECONDS), '--keep', share.toFixed(6), '--attackers', corpus.attackers.join(',')],
      (t0) => {
        holdStart = t0;
        probing = rig.probe(corpus.attackers, PROBE_EVERY_MS, t0 + SECONDS * 1000 + AFTER_HOLD_MS);
      },
    );
    // The end of the hold: the lag, the CPU and the memory now.
    const atEnd = await rig.counts();
    const cpu1 = cpuNow(rig);
    const holdMs = Math.max(1, Date.now() - holdStart);
    const rss = Object.fromEntries(STAGES.map((s) => [s, memory(rig.pid(s))])) as Step['rss'];
    const first403 = await probing;
    await waitDrained(rig, done.sent);
    const cpu2 = cpuNow(rig);
    const after = await rig.counts();
    const rate = Math.round(done.planned / SECONDS);
    const counts: StepCounts = {
      rate,
      planned: done.planned,
      senderLateP99Ms: done.lateness_ms.p99,
      sent: done.sent,
      sendSeconds: done.send_seconds,
      onTopic: after.onTopic,
      rejected: after.rejected,
      stored: await rig.storedRows(),
      lagAtEnd: atEnd.lag,
      attackers: corpus.expected.length,
      blocked: corpus.expected.filter((ip) => first403.has(ip)).length,
    };
    const v = verdict(counts, LAG_BOUND_S);
    for (const d of rig.dead()) v.reasons.push(d);
    const missed = corpus.expected.filter((ip) => !first403.has(ip));
    if (missed.length > 0) v.reasons.push(`not refused: ${missed.map((ip) => `${corpus.kinds.get(ip) ?? '?'} ${ip} (${rig.blocks.has(ip) ? 'decided, not refused' : 'no decision'})`).join(', ')}`);
    const latencies = corpus.attackers.flatMap((ip) => {
      const t = first403.get(ip);
      const b = rig.blocks.get(ip);
      return t !== undefined && b !== undefined ? [t - b.createdAt] : [];
    });
    return {
      target,
      rate,
      counts,
      pass: v.reasons.length === 0,
      reasons: v.reasons,
      cpuPerLine: Object.fromEntries(STAGES.map((s) => [s, perLine(cpu2[s] - cpu0[s], done.sent)])) as Cpu,
      cores: Object.fromEntries(STAGES.map((s) => [s, (cpu1[s] - cpu0[s]) / 1000 / holdMs])) as Cpu,
      rss,
      latencies,
      lateness: done.lateness_ms,
      load: load(),
    };
  } finally {
    await rig.stop();
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const fmtStep = (s: Step): string[] => [
  `  ${s.rate.toLocaleString('en')} lines/s (target ${s.target.toLocaleString('en')}) × ${SECONDS} s: ${s.pass ? 'SUSTAINED' : 'not sustained'} (load ${s.load})`,
  `    sent ${s.counts.sent} (of ${s.counts.planned}, in ${s.counts.sendSeconds.toFixed(1)} s; sender late p99 ${s.lateness.p99} ms), on the topic ${s.counts.onTopic}, rejected ${s.counts.rejected}, stored ${s.counts.stored}`,
  `    lag at the end of the hold: ${Object.entries(s.counts.lagAtEnd).map(([g, n]) => `${g} ${n} (${(n / s.rate).toFixed(2)} s)`).join(', ')}; attackers refused by nginx ${s.counts.blocked}/${s.counts.attackers}`,
  `    CPU µs/line: ${STAGES.map((st) => `${st} ${s.cpuPerLine[st].toFixed(1)}`).join(', ')}; cores during the hold: ${STAGES.map((st) => `${st} ${s.cores[st].toFixed(2)}`).join(', ')}`,
  `    RSS: ${STAGES.map((st) => `${st} ${mib(s.rss[st].rss)}`).join(', ')}; line → 403 p50 ${quantile(s.latencies, 0.5)} ms, p99 ${quantile(s.latencies, 0.99)} ms (n=${s.latencies.length})`,
  ...s.reasons.map((r) => `    ✗ ${r}`),
];

/** rsyslog imudp → omkafka on the same corpus lines at the step's share: its CPU per line and what reached Kafka. */
async function rsyslogPeer(corpus: Corpus, target: number): Promise<{ name: string; cpuPerLine: number; sent: number; stored: number } | string> {
  const skipped = ensureRsyslog(root);
  if (skipped) return skipped;
  const dir = join(work, 'rsyslog');
  mkdirSync(dir, { recursive: true });
  const broker = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()?.split(/\s+/)[0] as string;
  const topic = `pe${Date.now().toString(36)}.rsyslog`;
  const bus = new KafkaBus({ brokers: [broker], clientId: `${topic}-bench`, acks: 'all', compression: 'none', replicationFactor: 1 });
  try {
    await bus.ensureTopics([{ topic, partitions: RIG.partitions }]);
    const port = await freePort();
    const peer = await startRsyslog({ dir, broker, topic, port, input: { kind: 'imudp', threads: 1 } });
    if (typeof peer === 'string') return peer;
    try {
      const pid = peer.child.pid as number;
      const c0 = cpuMicros(pid);
      const share = shareFor(target, SECONDS, corpus.window);
      const done = await runSender(['--from', corpus.file, '--corpus-start', String(corpus.startMs), '--udp', `127.0.0.1:${port}`, '--seconds', String(PEER_SECONDS), '--keep', share.toFixed(6), '--attackers', corpus.attackers.join(',')], () => undefined);
      let stored = 0;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        stored = total(await bus.endOffsets(topic));
        if (stored >= done.sent) break;
        await sleep(250);
      }
      return { name: `rsyslog ${peer.version} imudp → omkafka`, cpuPerLine: perLine(cpuMicros(pid) - c0, done.sent), sent: done.sent, stored };
    } finally {
      await peer.stop();
    }
  } finally {
    await bus.close();
  }
}

/** CrowdSec (file mode) on a slice of the generator's traffic (same seed, combined format): its CPU per line and the attackers it banned. */
async function crowdsecPeer(dir: string): Promise<{ version: string; cpuPerLine: number; lines: number; attackers: number; found: number; complete: boolean; seconds: number; processing: number | null } | string> {
  const file = join(dir, 'crowdsec-slice.log');
  const truthFile = join(dir, 'crowdsec-slice.truth.json');
  execFileSync(process.execPath, [join(root, 'dist/loadtest/generator/main.js'), 'write', '--lines', String(CS_LINES), '--seed', String(SEED), '--format', 'combined', '--out', file, '--truth', truthFile, '--duration', `${SECONDS}s`, '--attackers', String(PER_KIND), '--ipv6-share', '0'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as { clients: Record<string, { label: string }> };
  const attackers = Object.entries(truth.clients).filter(([, c]) => c.label === 'attacker').map(([ip]) => ip);
  const c0 = reapedChildrenCpuMicros();
  const cs = await runCrowdsec(file, CS_LINES, { dir: join(dir, 'crowdsec'), timeoutSeconds: CS_TIMEOUT });
  if (!cs.available) return cs.reason;
  const banned = new Set(cs.alerts.filter((a) => a.banned).map((a) => a.ip));
  return { version: cs.version, cpuPerLine: perLine(reapedChildrenCpuMicros() - c0, CS_LINES), lines: CS_LINES, attackers: attackers.length, found: attackers.filter((ip) => banned.has(ip)).length, complete: cs.complete, seconds: cs.seconds, processing: cs.processing_seconds };
}

/** What bounds the rate: the reasons of the first step that failed, and the busiest stage there. */
function bound(steps: readonly Step[]): string {
  const failed = steps.filter((s) => !s.pass).sort((a, b) => a.rate - b.rate)[0];
  if (!failed) return `no step failed: the rate is at least the highest tried (${Math.max(...steps.map((s) => s.rate))} lines/s)`;
  const busiest = [...STAGES].sort((a, b) => failed.cores[b] - failed.cores[a])[0] as Stage;
  return `at ${failed.rate} lines/s: ${failed.reasons.join('; ')}; busiest stage ${busiest} (${failed.cores[busiest].toFixed(2)} cores; ${STAGES.map((s) => `${s} ${failed.cores[s].toFixed(2)}`).join(', ')})`;
}

const work = mkdtempSync(join(os.tmpdir(), 'pipeline-e2e-bench-'));
const steps: Step[] = [];
let exitCode = 0;
try {
  const corpus = makeCorpus(work, STEPS[STEPS.length - 1] as number);
  for (let target = nextRate(STEPS, [], !values['no-bisect']); target !== undefined; target = nextRate(STEPS, steps.map((s) => ({ rate: s.target, pass: s.pass })), !values['no-bisect'])) {
    const left = BUDGET_S - (Date.now() - started) / 1000;
    if (BUDGET_S > 0 && left < STEP_COST_S + (values['no-peers'] ? 0 : PEERS_COST_S)) {
      console.log(`  search stopped before ${target} lines/s: ${Math.round(left)} s left of --budget ${BUDGET_S}`);
      break;
    }
    const step = await runStep(corpus, target);
    steps.push(step);
    for (const l of fmtStep(step)) console.log(l);
  }
  const best = steps.filter((s) => s.pass).sort((a, b) => b.rate - a.rate)[0];
  const at = best ?? [...steps].sort((a, b) => a.rate - b.rate)[0];
  const boundText = bound(steps);
  console.log(`\nsustained: ${best ? `${best.rate.toLocaleString('en')} lines/s for ${SECONDS} s` : 'none of the rates tried'}; bound: ${boundText}`);

  let rs: Awaited<ReturnType<typeof rsyslogPeer>> = 'peers off (--no-peers)';
  let cs: Awaited<ReturnType<typeof crowdsecPeer>> = 'peers off (--no-peers)';
  if (at && !values['no-peers']) {
    rs = await rsyslogPeer(corpus, at.target);
    console.log(typeof rs === 'string' ? `rsyslog: ${rs}` : `${rs.name} on the same lines at ${at.rate} lines/s for ${PEER_SECONDS} s: sent ${rs.sent}, on Kafka ${rs.stored}, CPU ${rs.cpuPerLine.toFixed(1)} µs/line (logwarden's ingester ${at.cpuPerLine.ingester.toFixed(1)}; load ${load()})`);
    cs = await crowdsecPeer(work);
    console.log(typeof cs === 'string' ? `CrowdSec: ${cs}` : `CrowdSec ${cs.version} on a slice of ${cs.lines} lines: CPU ${cs.cpuPerLine.toFixed(1)} µs/line (agent + its local API; logwarden's detector ${at.cpuPerLine.detector.toFixed(1)}), attackers banned ${cs.found}/${cs.attackers}${cs.complete ? '' : ' (stopped at its time limit)'}`);
  }

  if (at) {
    const sum = at.cpuPerLine.ingester + at.cpuPerLine.detector + at.cpuPerLine.sink;
    const note = `${best ? '' : 'NOT sustained; '}load ${at.load}; bound: ${boundText}`;
    figure({ bench, name: `sustained rate for ${SECONDS} s: no line lost, every attacker refused by nginx, lag ≤ ${LAG_BOUND_S} s (UDP + TCP relay, distributed mode, one process a role)`, value: best ? best.rate : 0, unit: 'lines/s', better: 'higher', note });
    figure({ bench, name: `CPU per line, ingest + detect + sink, at ${at.rate} lines/s`, value: sum, unit: 'µs', better: 'lower', note: `enforcer ${at.cpuPerLine.enforcer.toFixed(2)} µs/line besides` });
    figure({ bench, name: 'CPU per line, ingest (UDP + TCP → Kafka)', value: at.cpuPerLine.ingester, unit: 'µs', better: 'lower', ...(typeof rs === 'string' ? { note: rs } : { peer: { name: `${rs.name} (UDP only, raw line)`, value: rs.cpuPerLine }, note: `same lines and rate, ${PEER_SECONDS} s; rsyslog sent ${rs.sent}, on Kafka ${rs.stored}; logwarden parses and encodes Avro, rsyslog forwards the raw line` }) });
    figure({ bench, name: 'CPU per line, detect', value: at.cpuPerLine.detector, unit: 'µs', better: 'lower', ...(typeof cs === 'string' ? { note: cs } : { peer: { name: `CrowdSec ${cs.version} file mode, ${cs.lines}-line slice`, value: cs.cpuPerLine }, note: `CrowdSec: agent + its local API, start-up included (${cs.seconds.toFixed(0)} s in all, ${cs.processing === null ? '?' : cs.processing.toFixed(0)} s processing); logwarden: the detector process at the sustained rate, idle cost included` }) });
    figure({ bench, name: 'CPU per line, sink (into the embedded ClickHouse, requests)', value: at.cpuPerLine.sink, unit: 'µs', better: 'lower' });
    // Over every attacker in the corpus, as CrowdSec's share is over every attacker of its slice; the pass criterion counts those the backtest blocks within the hold.
    figure({ bench, name: `attackers refused by nginx within the ${SECONDS} s (of all in the corpus)`, value: at.counts.blocked / Math.max(1, corpus.attackers.length), unit: 'share', better: 'higher', ...(typeof cs === 'string' ? {} : { peer: { name: 'CrowdSec, banned on its slice', value: cs.found / Math.max(1, cs.attackers) } }), note: `${at.counts.blocked}/${corpus.attackers.length}, every one of the ${at.counts.attackers} the backtest on the same lines blocks within the ${SECONDS} s${typeof cs === 'string' ? '' : `; CrowdSec ${cs.found}/${cs.attackers}`}` });
    figure({ bench, name: 'log line → 403 at nginx, p50', value: quantile(at.latencies, 0.5), unit: 'ms', better: 'lower', note: `n=${at.latencies.length}, probes every ${PROBE_EVERY_MS} ms` });
    figure({ bench, name: 'log line → 403 at nginx, p99', value: quantile(at.latencies, 0.99), unit: 'ms', better: 'lower', note: `sender late p99 ${at.lateness.p99} ms` });
    for (const s of STAGES) figure({ bench, name: `RSS, ${s}`, value: at.rss[s].rss / 2 ** 20, unit: 'MiB', better: 'lower', note: `peak ${mib(at.rss[s].peak)}` });
  }
} catch (err) {
  console.error(`pipeline-e2e: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
