// `npm run bench`: every benchmark in turn, with bounded options, then one
// report: loadtest/report.md and loadtest/report.json (machine details, per
// bench its figures beside the peer's from the same run and the ratio, which
// aims were met) and two PNG charts beside them.
//
//   node dist/loadtest/report.js [--only parse,avro] [--budget 2100] [--full] [--out loadtest] [--allow-running-broker]
//
// --budget   seconds for the whole run (default 2100, 35 minutes, of which the
//            detection evaluation takes up to 10): a bench gets
//            its own timeout or what is left, whichever is less; one that runs
//            out is stopped and reported as "timed out" with what it printed.
//            When too little is left, the remaining benches are reported as
//            skipped.
// --full     each bench with its own default sizes instead of the quick ones
//            below (takes well over the budget on 2 cores: raise it).
// --allow-running-broker
//            measure beside a Kafka broker the report did not start (by default
//            it refuses to: report-broker.ts).
//
// Benchmarks report figures through loadtest/report-figures.ts (env
// LOGWARDEN_BENCH_OUT). A bench script found here without a plan (a new one)
// runs with its defaults; one that records no figure is shown with the tail of
// its output. Nothing is installed from here: a bench whose peer package is
// missing is run as it is (it skips the peer and says so) and the report names
// the missing package.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { barChart, type ChartRow } from './report-charts.js';
import { BENCH_OUT_ENV, aimMet, parseFigures, type Figure } from './report-figures.js';
import { brokerPolicy, refusal, runningBrokers } from './report-broker.js';
import { hostChange } from './report-host.js';

interface Plan {
  /** As in `npm run bench:<name>`. */
  name: string;
  script: string;
  quick: string[];
  nodeArgs?: string[];
  timeoutS: number;
  /** Debian packages of the peers (loadtest/peers/apt-install.sh). */
  peers?: string[];
  /** Starts the broker of infra/kafka/kafka.sh itself. The others run with no broker up (report-broker.ts). */
  kafka?: true;
}

// Quick sizes: the whole list took 17 minutes on the 2-core Intel Xeon host and 25 on the AMD EPYC one
// (on the Xeon, 12 without the detection evaluation, whose corpora must stay at 300k lines).
const PLANS: Plan[] = [
  // First: the whole pipeline's figure heads the report. The corpus (~1 min), 60 s holds (~1.5 min a step with start,
  // drain and stop): coarse steps until one fails, then one bisection, so the figure is a highest rate held and not
  // only a floor (3,000 and 7,000 both held in earlier reports; 7,508 failed on a busier machine); then the peers
  // (~1.5 min): about 9 min.
  {
    name: 'pipeline-e2e',
    script: 'pipeline-e2e.bench.js',
    quick: ['--rates', '3000,7000,9000', '--seconds', '60', '--peer-seconds', '20', '--crowdsec-lines', '10000', '--crowdsec-timeout', '90', '--budget', '660'],
    timeoutS: 780,
    peers: ['rsyslog', 'rsyslog-kafka', 'crowdsec'],
    kafka: true,
  },
  // Then every bench that uses the broker, one after the other: the broker is stopped after the last of them.
  { name: 'detector-latency', script: 'detector-latency.bench.js', quick: ['--rate', '20000', '--seconds', '8'], timeoutS: 180, kafka: true },
  { name: 'ingest-udp', script: 'ingest-udp.bench.js', quick: ['--rates', '25000,50000', '--seconds', '5'], timeoutS: 300, peers: ['rsyslog', 'rsyslog-kafka'], kafka: true },
  { name: 'ingest-tcp', script: 'ingest-tcp.bench.js', quick: ['--lines', '100000'], timeoutS: 400, peers: ['rsyslog', 'rsyslog-kafka'], kafka: true },
  { name: 'ingest-stages', script: 'ingest-stages.bench.js', quick: ['--lines', '50000'], timeoutS: 180, kafka: true },
  { name: 'bus-clients', script: 'bus-clients.bench.js', quick: ['--records', '100000'], timeoutS: 300, kafka: true },
  { name: 'kafka-compression', script: 'kafka-compression.bench.js', quick: ['--records', '50000'], timeoutS: 150, kafka: true },
  { name: 'avro', script: 'avro-codec.bench.js', quick: ['200000'], timeoutS: 120 },
  { name: 'parse', script: 'parse.bench.js', quick: ['50000'], timeoutS: 150 },
  { name: 'security-filter', script: 'security-filter.bench.js', quick: ['500000'], timeoutS: 120 },
  { name: 'geo-lookup', script: 'geo-lookup.bench.js', quick: ['500000', '200000'], nodeArgs: ['--expose-gc'], timeoutS: 240 },
  { name: 'crawler-verdicts', script: 'crawler-verdicts.bench.js', quick: ['200000'], timeoutS: 60 },
  { name: 'detector-state', script: 'detector-state.bench.js', quick: [], // the aim is set at its default, 1M IPs (~20 s)
    nodeArgs: ['--expose-gc'], timeoutS: 150 },
  { name: 'enforcement-latency', script: 'enforcement-latency.bench.js', quick: ['--decisions', '100', '--interval-ms', '20'], timeoutS: 120 },
  { name: 'challenge', script: 'challenge.bench.js', quick: ['--seconds', '2', '--solves', '10'], timeoutS: 90, peers: ['wrk'] },
  { name: 'feeds', script: 'feeds.bench.js', quick: ['--entries', '100000', '--seconds', '4', '--rounds', '2'], timeoutS: 180, peers: ['wrk'] },
  // The full load (100k addresses, 1k ranges, 100 filter rules, 50 routes): about 75 s with its four servers.
  { name: 'nginx-overhead', script: 'nginx-overhead.bench.js', quick: ['--seconds', '5'], timeoutS: 180, peers: ['wrk'] },
  {
    name: 'detector-replay',
    script: 'detector-replay.bench.js',
    quick: ['--lines', '100000', '--peer-lines', '20000', '--fail2ban-lines', '50000', '--crowdsec-timeout', '150'],
    timeoutS: 360,
    peers: ['crowdsec', 'fail2ban'],
  },
  {
    name: 'detection-eval',
    script: 'detection-eval.bench.js',
    quick: ['--lines', '300000', '--seeds', '42,7', '--peer-lines', '24000', '--crowdsec-timeout', '150'],
    timeoutS: 600,
    peers: ['crowdsec', 'fail2ban'],
  },
  // Without peers: last, so that the budget goes to the comparisons first.
  { name: 'disk-buffer', script: 'disk-buffer.bench.js', quick: ['--lines', '100000'], timeoutS: 120 },
  { name: 'sink-insert', script: 'sink-insert.bench.js', quick: ['--events', '300000', '--probes', '100'], timeoutS: 240 },
  { name: 'sink-formats', script: 'sink-formats.bench.js', quick: ['--rounds', '4'], timeoutS: 150 },
  { name: 'sink-views', script: 'sink-views.bench.js', quick: ['--events', '200000', '--rounds', '3'], timeoutS: 180 },
  { name: 'query', script: 'query.bench.js', quick: ['--events', '2000000', '--runs', '20'], timeoutS: 150 },
  { name: 'node-tally', script: 'node-tally.bench.js', quick: ['500000'], timeoutS: 60 },
  { name: 'notify', script: 'notify.bench.js', quick: ['--items', '50000', '--singles', '30'], timeoutS: 90 },
  { name: 'soc-query', script: 'soc-query.bench.js', quick: ['--events', '2000000', '--runs', '10'], timeoutS: 150 },
  { name: 'siem-push', script: 'siem-push.bench.js', quick: ['--records', '50000'], timeoutS: 90 },
];
const UNPLANNED_TIMEOUT_S = 180;
/** Below this, a bench is not started at all. */
const MIN_SLOT_S = 30;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    budget: { type: 'string', default: '2100' },
    full: { type: 'boolean', default: false },
    out: { type: 'string' },
    'allow-running-broker': { type: 'boolean', default: false },
  },
});
const root = fileURLToPath(new URL('../..', import.meta.url));
const distDir = join(root, 'dist/loadtest');
const outDir = values.out ?? join(root, 'loadtest');
const budgetS = Number(values.budget);
if (!(budgetS > 0)) {
  console.error('--budget must be a positive number of seconds');
  process.exit(2);
}

const sh = (cmd: string, args: string[]): string | undefined => {
  try {
    const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
    return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
  } catch {
    return undefined;
  }
};

function packageVersion(pkg: string): string | null {
  const out = sh('dpkg-query', ['-W', '-f=${Status}|${Version}', pkg]);
  if (!out?.startsWith('install ok installed|')) return null;
  return out.split('|')[1] ?? null;
}

function machine(): Record<string, string | number | null> {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
  const nginxBin = ['/usr/local/openresty/nginx/sbin/nginx', '/usr/sbin/nginx'].find((p) => existsSync(p));
  const nginx = nginxBin ? (sh(nginxBin, ['-v'])?.replace(/^nginx version:\s*/, '') ?? null) : null;
  const kafka = sh('bash', ['infra/kafka/kafka.sh', 'version'])?.split('\n').pop() ?? null;
  const [l1, l5, l15] = os.loadavg();
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    ram_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${pretty ?? os.type()} (${os.type()} ${os.release()} ${os.arch()})`,
    node: process.version,
    nginx,
    kafka: kafka ? `Apache Kafka ${kafka}` : null,
    load_average_at_start: `${l1?.toFixed(2)} / ${l5?.toFixed(2)} / ${l15?.toFixed(2)}`,
  };
}

type Status = 'ok' | 'failed' | 'timed out' | 'skipped';

interface BenchResult {
  name: string;
  command: string;
  status: Status;
  exit: number | string | null;
  seconds: number;
  peers_missing: string[];
  figures: Array<Figure & { ratio?: number; advantage?: number; aim_met?: boolean }>;
  output_tail: string[];
  note?: string;
}

/** Runs one bench in its own process group; resolves when it ends or its time is up (then the group is killed). */
function runBench(plan: Plan, timeoutS: number, figuresFile: string): Promise<{ status: Status; exit: number | string | null; seconds: number; tail: string[] }> {
  const args = [...(plan.nodeArgs ?? []), join(distDir, plan.script), ...(values.full ? [] : plan.quick)];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, [BENCH_OUT_ENV]: figuresFile },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const tail: string[] = [];
    const keep = (prefix: string) => {
      let partial = '';
      return (b: Buffer): void => {
        const lines = (partial + b.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          process.stdout.write(`[${plan.name}]${prefix} ${l}\n`);
          tail.push(l);
          if (tail.length > 80) tail.shift();
        }
      };
    };
    child.stdout.on('data', keep(''));
    child.stderr.on('data', keep(' (stderr)'));
    let timedOut = false;
    const kill = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 5_000).unref();
    }, timeoutS * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ status: 'failed', exit: err.message, seconds: (Date.now() - t0) / 1000, tail });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      resolve({ status: timedOut ? 'timed out' : code === 0 ? 'ok' : 'failed', exit: code ?? signal, seconds, tail });
    });
  });
}

/** Shown value of a figure: a share as a percentage, large numbers grouped, small ones to 3 significant digits. */
function fmtValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'share') return `${(v * 100).toFixed(v === 1 || v === 0 ? 0 : 1)}%`;
  const a = Math.abs(v);
  const n = a >= 100 ? Math.round(v).toLocaleString('en') : a >= 1 ? v.toPrecision(3) : a === 0 ? '0' : v.toPrecision(2);
  return `${n} ${unit}`;
}

function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '';
  return r >= 100 ? `${Math.round(r).toLocaleString('en')}×` : r >= 0.01 ? `${r.toFixed(2)}×` : `${r.toPrecision(2)}×`;
}

function advantageText(f: BenchResult['figures'][number]): string {
  if (f.advantage === undefined || !Number.isFinite(f.advantage)) return '';
  if (Math.abs(f.advantage - 1) < 0.005) return 'even';
  return f.advantage > 1 ? `logwarden ${fmtRatio(f.advantage)} better` : `peer ${fmtRatio(1 / f.advantage)} better`;
}

const md = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

async function main(): Promise<void> {
  const started = Date.now();
  // The code measured: the commit the run started from, marked when the work tree differed from it.
  const commit = `${sh('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown'}${sh('git', ['status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : ''}`;
  const deadline = started + budgetS * 1000;
  const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : undefined;
  const found = existsSync(distDir) ? readdirSync(distDir).filter((f) => f.endsWith('.bench.js')) : [];
  if (found.length === 0) {
    console.error(`no benchmarks under ${distDir}: run npm run build first`);
    process.exit(1);
  }
  const plans = [
    ...PLANS.filter((p) => found.includes(p.script)),
    ...found.filter((f) => !PLANS.some((p) => p.script === f)).sort().map((f): Plan => ({ name: f.replace(/\.bench\.js$/, ''), script: f, quick: [], timeoutS: UNPLANNED_TIMEOUT_S })),
  ].filter((p) => !only || only.has(p.name));

  const running = runningBrokers();
  if (running.length > 0 && !values['allow-running-broker']) {
    console.error(`npm run bench: ${refusal(running)}`);
    process.exit(1);
  }
  const broker = brokerPolicy(root, running);
  const info = machine();
  const peerPackages = [...new Set(PLANS.flatMap((p) => p.peers ?? []))];
  const peerVersions = Object.fromEntries(peerPackages.map((p) => [p, packageVersion(p)]));
  console.log(`benchmark report: ${plans.length} benches, budget ${budgetS} s, ${values.full ? 'full' : 'quick'} sizes; ${info.cpu} ×${info.cores}`);

  const tmp = mkdtempSync(join(os.tmpdir(), 'bench-report-'));
  const results: BenchResult[] = [];
  try {
    for (const plan of plans) {
      const command = ['node', ...(plan.nodeArgs ?? []), `dist/loadtest/${plan.script}`, ...(values.full ? [] : plan.quick)].join(' ');
      const missing = (plan.peers ?? []).filter((p) => peerVersions[p] === null);
      const left = (deadline - Date.now()) / 1000;
      if (left < MIN_SLOT_S) {
        results.push({ name: plan.name, command, status: 'skipped', exit: null, seconds: 0, peers_missing: missing, figures: [], output_tail: [], note: `the report's time budget (${budgetS} s) was spent` });
        continue;
      }
      if (!plan.kafka) broker.quiet();
      const timeout = Math.min(plan.timeoutS, left);
      console.log(`\n▶ ${plan.name}: ${command} (timeout ${Math.round(timeout)} s)`);
      const file = join(tmp, `${plan.name}.jsonl`);
      const r = await runBench(plan, timeout, file);
      const figures = (existsSync(file) ? parseFigures(readFileSync(file, 'utf8')) : []).map((f) => {
        const ratio = f.peer && f.peer.value !== 0 ? f.value / f.peer.value : undefined;
        const advantage = ratio === undefined ? undefined : f.better === 'higher' ? ratio : 1 / ratio;
        return { ...f, ...(ratio !== undefined ? { ratio, advantage } : {}), ...(f.aim !== undefined ? { aim_met: aimMet(f) } : {}) };
      });
      console.log(`✓ ${plan.name}: ${r.status} in ${r.seconds.toFixed(0)} s, ${figures.length} figures`);
      results.push({
        name: plan.name,
        command,
        status: r.status,
        exit: r.exit,
        seconds: Math.round(r.seconds * 10) / 10,
        peers_missing: missing,
        figures,
        output_tail: r.tail.slice(-40),
        // Killed, its own clean-up did not run: temporary dirs (and a daemonised nginx) may be left behind.
        ...(r.status === 'timed out' ? { note: `stopped after ${Math.round(timeout)} s; its clean-up did not run (temporary files may be left)` } : {}),
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    broker.end();
  }
  info.kafka_broker = broker.describe();
  const [l1, l5, l15] = os.loadavg();
  info.load_average_at_end = `${l1?.toFixed(2)} / ${l5?.toFixed(2)} / ${l15?.toFixed(2)}`;
  const totalS = Math.round((Date.now() - started) / 1000);

  // The report this one replaces, read before it is overwritten: was it made on this host?
  let previous: unknown;
  try {
    previous = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8'));
  } catch {
    previous = undefined; // none yet, or unreadable: nothing to compare
  }
  const moved = hostChange(previous, info);
  if (moved) console.log(`another host than the last report's (${moved.commit}): ${moved.differs.join('; ')}`);

  // ---- charts ----
  mkdirSync(outDir, { recursive: true });
  const all = results.flatMap((r) => r.figures);
  const label = (f: Figure): string => `${f.bench}: ${f.name}`;
  const rowsOf = (fs: Figure[]): ChartRow[] =>
    fs.map((f) => ({ label: label(f), bars: [{ name: 'logwarden', value: f.value, peer: false }, ...(f.peer ? [{ name: f.peer.name, value: f.peer.value, peer: true }] : [])] }));
  const charts: Array<{ file: string; title: string }> = [];
  const throughput = barChart('logwarden vs peers: throughput, same run (higher is better)', 'per second', rowsOf(all.filter((f) => f.peer && f.unit.endsWith('/s') && f.better === 'higher')));
  if (throughput) {
    writeFileSync(join(outDir, 'report-throughput.png'), throughput);
    charts.push({ file: 'report-throughput.png', title: 'Throughput, logwarden vs peers' });
  }
  const latency = barChart('latency percentiles (lower is better)', 'ms', rowsOf(all.filter((f) => f.unit === 'ms')));
  if (latency) {
    writeFileSync(join(outDir, 'report-latency.png'), latency);
    charts.push({ file: 'report-latency.png', title: 'Latency percentiles' });
  }

  // ---- JSON ----
  const aims = all.filter((f) => f.aim !== undefined).map((f) => ({ bench: f.bench, name: f.name, value: f.value, unit: f.unit, aim: f.aim, better: f.better, met: f.aim_met ?? false }));
  const report = {
    generated_at: new Date(started).toISOString(),
    commit,
    total_seconds: totalS,
    mode: values.full ? 'full' : 'quick',
    budget_seconds: budgetS,
    machine: info,
    ...(moved ? { previous_host: moved } : {}),
    peers_installed: peerVersions,
    benches: results,
    aims,
    charts: charts.map((c) => c.file),
  };
  writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);

  // ---- Markdown ----
  const out: string[] = [];
  out.push('# logwarden benchmark report', '');
  out.push(
    `Generated ${report.generated_at} by \`npm run bench\` from commit ${report.commit} (${report.mode} sizes, ${totalS} s in all). Every figure is from this one run, ` +
      "the peer's beside it from the same run on the same machine. The machine is small and shared: figures are lower bounds, " +
      'and a ratio is worth more than an absolute figure. A peer figure marked *documented* is a published setting, not a measurement.',
    '',
  );
  if (moved) {
    out.push(
      `**Another host than the last report's** (the report at ${moved.commit}: ${md(moved.differs.join('; '))}). ` +
        'Absolute figures do not compare across hosts; the ratios to the peers, each from one run, do.',
      '',
    );
  }
  out.push('## Machine', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(info)) out.push(`| ${k.replace(/_/g, ' ')} | ${md(String(v ?? 'not found'))} |`);
  out.push(`| peers (Debian packages) | ${peerPackages.map((p) => `${p} ${peerVersions[p] ?? '**not installed**'}`).join(', ')} |`, '');

  out.push('## Summary', '');
  const statusLine = results.map((r) => `${r.name} ${r.status === 'ok' ? '✓' : `**${r.status}**`}`).join(' · ');
  out.push(`Benches: ${statusLine}.`, '');
  if (aims.length > 0) {
    out.push(`Aims met: **${aims.filter((a) => a.met).length} of ${aims.length}**.`, '', '| bench | figure | measured | aim | met |', '|---|---|---:|---:|:---:|');
    for (const a of aims) out.push(`| ${a.bench} | ${md(a.name)} | ${fmtValue(a.value, a.unit)} | ${a.better === 'higher' ? '≥' : '≤'} ${fmtValue(a.aim as number, a.unit)} | ${a.met ? '✓' : '✗'} |`);
    out.push('');
  }
  const headline = all.filter((f) => f.peer && f.advantage !== undefined);
  if (headline.length > 0) {
    out.push('Against the peers:', '');
    for (const f of headline) out.push(`- ${f.bench}, ${md(f.name)}: ${fmtValue(f.value, f.unit)} vs ${md(f.peer?.name ?? '')} ${fmtValue(f.peer?.value ?? NaN, f.unit)} — ${advantageText(f)}`);
    out.push('');
  }
  for (const c of charts) out.push(`![${c.title}](${c.file})`, '');

  out.push('## Benches', '');
  for (const r of results) {
    out.push(`### ${r.name} — ${r.status}${r.status === 'skipped' ? '' : ` (${r.seconds} s)`}`, '', `\`${r.command}\``, '');
    if (r.note) out.push(`${r.note}.`, '');
    if (r.peers_missing.length > 0) out.push(`Peer not installed: ${r.peers_missing.join(', ')} (\`loadtest/peers/apt-install.sh\`, as root); the bench ran without it.`, '');
    if (r.figures.length > 0) {
      out.push('| figure | logwarden | peer | peer figure | ratio (logwarden ÷ peer) | who is ahead | aim | note |', '|---|---:|---|---:|---:|---|---|---|');
      for (const f of r.figures) {
        const aim = f.aim === undefined ? '' : `${f.better === 'higher' ? '≥' : '≤'} ${fmtValue(f.aim, f.unit)} ${f.aim_met ? '✓' : '✗'}`;
        out.push(
          `| ${md(f.name)} | ${fmtValue(f.value, f.unit)} | ${md(f.peer?.name ?? '—')} | ${f.peer ? fmtValue(f.peer.value, f.unit) : ''} | ${fmtRatio(f.ratio)} | ${advantageText(f)} | ${aim} | ${md(f.note ?? '')} |`,
        );
      }
      out.push('');
    } else if (r.status === 'ok') {
      out.push('No figures recorded (the bench does not call `figure()` from `loadtest/report-figures.ts`). The end of its output:', '', '```', ...r.output_tail.slice(-15), '```', '');
    }
    if (r.status === 'failed' || r.status === 'timed out') out.push(`Exit: ${String(r.exit)}${r.figures.length === 0 ? ', no figures recorded' : ''}. The end of its output:`, '', '```', ...r.output_tail.slice(-15), '```', '');
  }
  out.push('---', '', `Raw figures: [report.json](report.json). Bench options and time limits: \`loadtest/report.ts\`.`, '');
  writeFileSync(join(outDir, 'report.md'), out.join('\n'));
  console.log(`\nreport written: ${relative(root, join(outDir, 'report.md'))}, report.json, ${charts.map((c) => c.file).join(', ') || 'no charts'} (${totalS} s)`);
}

await main();
