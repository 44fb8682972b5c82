// Replay throughput of the detectors (file → parse → detect → decisions, no
// Kafka) beside CrowdSec and fail2ban, on the same generated traffic in the
// same run, and who each of them caught among the labelled attackers.
//
//   node dist/loadtest/detector-replay.bench.js [--lines 200000] [--peer-lines 50000] [--seed 42]
//        [--fail2ban-lines 0 (= all)] [--crowdsec-timeout 330]
//
// The generator writes the corpus twice from one seed: the shipped JSON
// log_format (logwarden's input) and nginx's `combined` (what CrowdSec's nginx
// parser and fail2ban's filters read), checked here to hold the same requests
// line by line. logwarden runs `backtest()` in-process over the whole corpus
// with the default configuration; CrowdSec (a few hundred lines/s) gets the
// first --peer-lines lines, and logwarden is run on that slice too so the
// per-kind table compares like with like; fail2ban-regex is fast enough for
// the whole corpus. Figures, not assertions: the machine is shared, and the
// peers' rules aim at other things (see loadtest/peers/README.md).
// Writes the figures as JSON to loadtest/out/detector-replay.json.
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config/load.js';
import { backtest, type BacktestReport } from '../services/detector/backtest.js';
import { ATTACK_KINDS, type AttackKind, type GroundTruth } from './generator/traffic.js';
import { runCrowdsec, type CrowdsecResult } from './peers/crowdsec.js';
import { runFail2ban, type Fail2banResult } from './peers/fail2ban.js';
import { intArg } from './args.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '200000' },
    'peer-lines': { type: 'string', default: '50000' },
    seed: { type: 'string', default: '42' },
    'fail2ban-lines': { type: 'string', default: '0' },
    'crowdsec-timeout': { type: 'string', default: '330' },
  },
});
const posInt = intArg;
const LINES = posInt(values.lines, 'lines', 1000);
const PEER_LINES = Math.min(posInt(values['peer-lines'], 'peer-lines', 1), LINES);
const SEED = posInt(values.seed, 'seed', 0);
const F2B_LINES = Math.min(posInt(values['fail2ban-lines'], 'fail2ban-lines', 0) || LINES, LINES);
const CS_TIMEOUT = posInt(values['crowdsec-timeout'], 'crowdsec-timeout', 10);

const root = fileURLToPath(new URL('../..', import.meta.url));
const gen = join(root, 'dist/loadtest/generator/main.js');
const dir = mkdtempSync(join(tmpdir(), 'detector-replay-'));
const jsonFile = join(dir, 'access.json.log');
const combinedFile = join(dir, 'access.combined.log');
const truthFile = join(dir, 'truth.json');

const fmt = (n: number): string => Math.round(n).toLocaleString('en');
const pad = (s: string | number, n: number): string => String(s).padStart(n);
const padEnd = (s: string | number, n: number): string => String(s).padEnd(n);

/** nginx's default escaping (`\xHH` for `"`, `\`, control bytes and bytes ≥ 0x7f) undone, bytes read as UTF-8. */
function unescapeNginx(s: string): string {
  if (!s.includes('\\x')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s.slice(i + 2, i + 4);
    if (s[i] === '\\' && s[i + 1] === 'x' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function timeLocal(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

interface JsonLine {
  ts: string;
  client_ip: string;
  method: string;
  uri: string;
  status: string;
  bytes: string;
  referer: string;
  user_agent: string;
  auth_user: string;
}
const COMBINED = /^(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$/;
const dash = (s: string): string => (s === '' ? '-' : s);

/** Which fields of one request disagree between its JSON and combined lines ([] when none). */
function differences(j: JsonLine, c: string): string[] {
  const m = COMBINED.exec(c);
  if (!m) return ['unparsable combined line'];
  const out: string[] = [];
  const ms = Math.round(Number(j.ts) * 1000);
  if (m[1] !== j.client_ip) out.push('ip');
  if (unescapeNginx(m[2] as string) !== dash(j.auth_user)) out.push('user');
  if (m[3] !== timeLocal(ms)) out.push('time');
  const req = unescapeNginx(m[4] as string);
  const head = `${j.method} ${j.uri} `;
  if (!req.startsWith(head) || req.slice(head.length).includes(' ')) out.push('request');
  if (m[5] !== j.status) out.push('status');
  if (m[6] !== j.bytes) out.push('bytes');
  if (unescapeNginx(m[7] as string) !== dash(j.referer)) out.push('referer');
  if (unescapeNginx(m[8] as string) !== dash(j.user_agent)) out.push('user_agent');
  return out;
}

interface Corpus {
  lines: number;
  agree: number;
  mismatches: Array<{ line: number; fields: string[] }>;
  /** Log time (ms) of the last line of each slice. */
  peerSliceEnd: number;
  f2bSliceEnd: number;
  /** Per IP: lines and attack lines ([first_attack_ts, last_attack_ts]) inside each slice. */
  inPeer: Map<string, { lines: number; attack: number }>;
  inF2b: Map<string, { lines: number; attack: number }>;
}

/** Reads both files in step: checks they hold the same requests, writes the peers' slices, and counts who is in them. */
type Slice = { json: string; combined: string };
async function compareAndSlice(truth: GroundTruth, peerSlice: Slice, f2bSlice: Slice | null): Promise<Corpus> {
  const a = createInterface({ input: createReadStream(jsonFile), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const b = createInterface({ input: createReadStream(combinedFile), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const peerJson: string[] = [];
  const peerCombined: string[] = [];
  const f2bJson: string[] = [];
  const f2bCombined: string[] = [];
  const c: Corpus = { lines: 0, agree: 0, mismatches: [], peerSliceEnd: 0, f2bSliceEnd: 0, inPeer: new Map(), inF2b: new Map() };
  const count = (map: Corpus['inPeer'], ip: string, ms: number): void => {
    const e = map.get(ip) ?? { lines: 0, attack: 0 };
    e.lines++;
    const t = truth.clients[ip];
    if (t?.label === 'attacker' && ms >= (t.first_attack_ts ?? Infinity) && ms <= (t.last_attack_ts ?? -Infinity)) e.attack++;
    map.set(ip, e);
  };
  for (;;) {
    const [x, y] = await Promise.all([a.next(), b.next()]);
    if (x.done || y.done) {
      if (!x.done || !y.done) c.mismatches.push({ line: c.lines + 1, fields: ['one file is longer'] });
      break;
    }
    c.lines++;
    const j = JSON.parse(x.value) as JsonLine;
    const diff = differences(j, y.value);
    if (diff.length === 0) c.agree++;
    else if (c.mismatches.length < 20) c.mismatches.push({ line: c.lines, fields: diff });
    const ms = Math.round(Number(j.ts) * 1000);
    if (c.lines <= PEER_LINES) {
      peerJson.push(x.value);
      peerCombined.push(y.value);
      c.peerSliceEnd = ms;
      count(c.inPeer, j.client_ip, ms);
    }
    if (c.lines <= F2B_LINES) {
      if (f2bSlice) {
        f2bJson.push(x.value);
        f2bCombined.push(y.value);
      }
      c.f2bSliceEnd = ms;
      count(c.inF2b, j.client_ip, ms);
    }
  }
  writeFileSync(peerSlice.json, `${peerJson.join('\n')}\n`);
  writeFileSync(peerSlice.combined, `${peerCombined.join('\n')}\n`);
  if (f2bSlice) {
    writeFileSync(f2bSlice.json, `${f2bJson.join('\n')}\n`);
    writeFileSync(f2bSlice.combined, `${f2bCombined.join('\n')}\n`);
  }
  return c;
}

/** Who counts in a traffic scope: attackers with attack requests in it, benign clients with any request in it. */
interface Scope {
  label: string;
  lines: number;
  attackers: Map<string, AttackKind>;
  /** Attackers whose whole attack lies inside the scope. */
  complete: Set<string>;
  benign: Set<string>;
}

function scopeOf(label: string, lines: number, truth: GroundTruth, seen: Map<string, { lines: number; attack: number }> | null, end: number): Scope {
  const attackers = new Map<string, AttackKind>();
  const benign = new Set<string>();
  const complete = new Set<string>();
  for (const [ip, t] of Object.entries(truth.clients)) {
    const s = seen ? seen.get(ip) : { lines: t.requests, attack: t.attack_requests ?? 0 };
    if (!s || s.lines === 0) continue;
    if (t.label === 'attacker' && t.kind && s.attack > 0) {
      attackers.set(ip, t.kind as AttackKind); // this bench reads the classic mix
      if ((t.last_attack_ts ?? Infinity) <= end) complete.add(ip);
    } else if (t.label === 'benign') benign.add(ip);
  }
  return { label, lines, attackers, complete, benign };
}

interface Score {
  scope: string;
  kinds: Record<string, { caught: number; total: number }>;
  caught: number;
  total: number;
  /** Among the attackers whose whole attack lies inside the scope. */
  complete: { caught: number; total: number };
  false_positives: string[];
  benign: number;
  /** Caught IPs that are neither attackers in scope nor benign (attackers whose attack lies outside the scope). */
  other: number;
}

function score(caught: Iterable<string>, scope: Scope, truth: GroundTruth): Score {
  const kinds: Score['kinds'] = Object.fromEntries(ATTACK_KINDS.map((k) => [k, { caught: 0, total: 0 }]));
  for (const kind of scope.attackers.values()) (kinds[kind] as { total: number }).total++;
  const fp: string[] = [];
  let hits = 0;
  let other = 0;
  let completeHits = 0;
  for (const ip of new Set(caught)) {
    const kind = scope.attackers.get(ip);
    if (kind) {
      (kinds[kind] as { caught: number }).caught++;
      hits++;
      if (scope.complete.has(ip)) completeHits++;
    } else if (truth.clients[ip]?.label === 'benign') fp.push(ip);
    else other++;
  }
  return {
    scope: scope.label,
    kinds,
    caught: hits,
    total: scope.attackers.size,
    complete: { caught: completeHits, total: scope.complete.size },
    false_positives: fp.sort(),
    benign: scope.benign.size,
    other,
  };
}

/** "scanner 2, benign 1" for a set of IPs. */
function labels(ips: Iterable<string>, truth: GroundTruth): string {
  const by = new Map<string, number>();
  for (const ip of ips) {
    const t = truth.clients[ip];
    const k = t ? (t.label === 'attacker' ? (t.kind ?? 'attacker') : 'benign') : 'unknown';
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by.entries()].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', ') || '-';
}

function durationText(s: number): string {
  return s % 86_400 === 0 ? `${s / 86_400}d` : s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

// ---------------------------------------------------------------------------

const tAll = process.hrtime.bigint();
try {
  for (const [format, out] of [['json', jsonFile], ['combined', combinedFile]] as const) {
    execFileSync(process.execPath, [gen, 'write', '--lines', String(LINES), '--seed', String(SEED), '--format', format, '--out', out, ...(format === 'json' ? ['--truth', truthFile] : [])], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as GroundTruth;
  const peerJson = join(dir, `first-${PEER_LINES}.json.log`);
  const peerCombined = join(dir, `first-${PEER_LINES}.combined.log`);
  const f2bSlice = F2B_LINES === LINES ? null : { json: join(dir, `first-${F2B_LINES}.f2b.json.log`), combined: join(dir, `first-${F2B_LINES}.f2b.combined.log`) };
  const f2bFile = f2bSlice?.combined ?? combinedFile;
  const corpus = await compareAndSlice(truth, { json: peerJson, combined: peerCombined }, f2bSlice);

  const whole = scopeOf(`all ${LINES}`, LINES, truth, null, truth.end_ms);
  const peerScope = scopeOf(`first ${PEER_LINES}`, PEER_LINES, truth, corpus.inPeer, corpus.peerSliceEnd);
  const f2bScope = F2B_LINES === LINES ? whole : scopeOf(`first ${F2B_LINES}`, F2B_LINES, truth, corpus.inF2b, corpus.f2bSliceEnd);

  console.log(
    `detector replay: ${fmt(LINES)} generated lines, seed ${SEED}, ${new Date(truth.start_ms).toISOString()} → ${new Date(truth.end_ms).toISOString()}; ` +
      `${whole.attackers.size} labelled attackers, ${fmt(whole.benign.size)} benign clients`,
  );
  console.log(
    `  JSON and combined files hold the same requests: ${fmt(corpus.agree)}/${fmt(corpus.lines)} lines agree (ip, user, time to the second, method + uri, status, bytes, referer, user agent)` +
      (corpus.mismatches.length ? `; first mismatches: ${corpus.mismatches.slice(0, 5).map((m) => `line ${m.line}: ${m.fields.join('+')}`).join('; ')}` : ''),
  );
  console.log(
    `  CrowdSec reads the first ${fmt(PEER_LINES)} lines (to ${new Date(corpus.peerSliceEnd).toISOString()}): ${peerScope.attackers.size} attackers have attack requests in them, ` +
      `${peerScope.complete.size} of them their whole attack; fail2ban reads ${F2B_LINES === LINES ? 'all of them' : `the first ${fmt(F2B_LINES)}`}`,
  );

  // logwarden: in-process, default configuration; best of three over the whole corpus (the machine is shared).
  const config = loadConfig({ text: '', env: {} });
  const runs: BacktestReport[] = [];
  for (let i = 0; i < 3; i++) runs.push(await backtest(config, [jsonFile]));
  const best = runs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
  const onSlice = await backtest(config, [peerJson]);
  const lwWhole = score(best.blocked.map((b) => b.ip), whole, truth);
  const lwSlice = score(onSlice.blocked.map((b) => b.ip), peerScope, truth);
  const lwF2b = f2bSlice ? score((await backtest(config, [f2bSlice.json])).blocked.map((b) => b.ip), f2bScope, truth) : lwWhole;

  console.error(`fail2ban: ${fmt(F2B_LINES)} lines through its access-log filters…`);
  const f2b: Fail2banResult = await runFail2ban(f2bFile, F2B_LINES);
  console.error(`CrowdSec: ${fmt(PEER_LINES)} lines in one-shot mode (limit ${CS_TIMEOUT} s)…`);
  const cs: CrowdsecResult = await runCrowdsec(peerCombined, PEER_LINES, { dir: join(dir, 'crowdsec'), timeoutSeconds: CS_TIMEOUT });

  const csBanned = cs.available ? cs.alerts.filter((a) => a.banned || cs.alerts_source === 'agent-log').map((a) => a.ip) : [];
  const csScore = cs.available ? score(csBanned, peerScope, truth) : null;
  const f2bBanned = f2b.available ? f2b.filters.flatMap((f) => [...f.banned.keys()]) : [];
  const f2bScore = f2b.available ? score(f2bBanned, f2bScope, truth) : null;

  // ---- throughput ----
  const lw = best.lines_per_second;
  const ratio = (peer: number): string => (peer > 0 ? `${(lw / peer).toFixed(lw / peer >= 100 ? 0 : 1)}×` : '-');
  console.log('\nthroughput (this 2-core machine, shared with other work: lower bounds)');
  console.log(`  ${padEnd('', 52)} ${pad('lines', 9)} ${pad('seconds', 9)} ${pad('lines/s', 11)}  ${pad('logwarden ÷ peer', 16)}`);
  const row = (name: string, lines: number, seconds: number, rate: number, r: string): void => {
    console.log(`  ${padEnd(name, 52)} ${pad(fmt(lines), 9)} ${pad(seconds.toFixed(2), 9)} ${pad(fmt(rate), 11)}  ${pad(r, 16)}`);
  };
  row('logwarden backtest (parse → detect → decisions)', best.lines, best.seconds, lw, '');
  console.log(`  ${padEnd('', 52)} runs: ${runs.map((r) => fmt(r.lines_per_second)).join(', ')} lines/s; best shown`);
  if (cs.available) {
    row(`CrowdSec ${/\d+\.\d+\.\d+/.exec(cs.version)?.[0] ?? cs.version} (-dsn file -type nginx -no-api)${cs.complete ? '' : ' STOPPED'}`, cs.lines, cs.seconds, cs.lines_per_second, ratio(cs.lines_per_second));
    if (cs.processing_seconds !== null && cs.processing_lines_per_second !== null) {
      row('  without start-up and shutdown (from its log)', cs.lines, cs.processing_seconds, cs.processing_lines_per_second, ratio(cs.processing_lines_per_second));
    }
  } else console.log(`  CrowdSec: ${cs.reason}`);
  if (f2b.available) {
    for (const f of f2b.filters) row(`fail2ban-regex ${f.filter}`, f.lines, f.seconds, f.lines_per_second, ratio(f.lines_per_second));
    const total = f2b.filters.reduce((s, f) => s + f.seconds, 0);
    if (f2b.filters.length > 1) row(`fail2ban: all ${f2b.filters.length} filters, one after the other`, F2B_LINES, total, F2B_LINES / total, ratio(F2B_LINES / total));
  } else console.log(`  fail2ban: ${f2b.reason}`);

  // ---- who was caught ----
  const cols: Array<{ head: string; sub: string; s: Score | null }> = [
    { head: 'logwarden', sub: whole.label, s: lwWhole },
    { head: 'logwarden', sub: peerScope.label, s: lwSlice },
    { head: 'CrowdSec', sub: peerScope.label, s: csScore },
  ];
  if (F2B_LINES !== LINES) cols.push({ head: 'logwarden', sub: f2bScope.label, s: lwF2b });
  cols.push({ head: 'fail2ban (any jail)', sub: f2bScope.label, s: f2bScore });
  const W = 21;
  console.log('\ncaught (blocked / banned) ÷ labelled attackers with attack requests in the lines each one read');
  console.log(`  ${padEnd('kind', 20)}${cols.map((c) => padEnd(c.head, W)).join('')}`);
  console.log(`  ${padEnd('', 20)}${cols.map((c) => padEnd(c.sub, W)).join('')}`);
  for (const k of ATTACK_KINDS) {
    console.log(`  ${padEnd(k, 20)}${cols.map((c) => padEnd(c.s ? `${c.s.kinds[k]?.caught}/${c.s.kinds[k]?.total}` : 'skipped', W)).join('')}`);
  }
  console.log(`  ${padEnd('all kinds', 20)}${cols.map((c) => padEnd(c.s ? `${c.s.caught}/${c.s.total}` : '-', W)).join('')}`);
  console.log(`  ${padEnd('  whole attack read', 20)}${cols.map((c) => padEnd(c.s ? `${c.s.complete.caught}/${c.s.complete.total}` : '-', W)).join('')}`);
  console.log(`  ${padEnd('false positives', 20)}${cols.map((c) => padEnd(c.s ? `${c.s.false_positives.length} of ${fmt(c.s.benign)} benign` : '-', W)).join('')}`);
  console.log('  (a partial attack in a slice may be below every threshold: the logwarden column on the same slice shows what was catchable)');
  for (const c of cols) {
    if (c.s && c.s.other > 0) console.log(`  ${c.head} (${c.sub}) also caught ${c.s.other} attacker IP(s) on requests outside their attack (browsing before it, or its end after the slice)`);
  }

  if (cs.available) {
    console.log(`\nCrowdSec: ${cs.alerts.length} alerts (${cs.alerts_source}), ${new Set(csBanned).size} IPs banned; scenarios from the offline hub: ${cs.enabled.scenarios.length} (collections ${cs.enabled.collections.join(', ')})`);
    const byScenario = new Map<string, Set<string>>();
    for (const a of cs.alerts) byScenario.set(a.scenario, (byScenario.get(a.scenario) ?? new Set()).add(a.ip));
    for (const [sc, ips] of [...byScenario.entries()].sort((x, y) => y[1].size - x[1].size)) console.log(`  ${padEnd(sc, 44)} ${pad(ips.size, 4)} IPs: ${labels(ips, truth)}`);
    if (cs.data_renamed.length) console.log(`  data files copied under the name the scenario reads: ${cs.data_renamed.join(', ')}`);
    if (cs.data_missing.length) console.log(`  data files missing offline: ${cs.data_missing.join(', ')}`);
    if (cs.missing_items.length) console.log(`  hub items missing offline: ${cs.missing_items.join(', ')}`);
    for (const n of cs.notes) console.log(`  note: ${n}`);
    if (cs.errors.length) console.log(`  agent errors: ${cs.errors.slice(0, 6).join(' | ')}`);
  }
  if (f2b.available) {
    console.log(`\nfail2ban ${f2b.version}: matches per filter, and what its jail (maxretry within findtime) would have banned`);
    for (const f of f2b.filters) {
      console.log(
        `  ${padEnd(f.filter, 20)} maxretry ${f.jail.maxretry} / findtime ${durationText(f.jail.findtime_s)}: ${pad(f.matches, 5)} matching lines from ${pad(f.matched.size, 4)} IPs (${labels(f.matched.keys(), truth)}); ` +
          `would ban ${f.banned.size} (${labels(f.banned.keys(), truth)})${f.error ? `; error: ${f.error}` : ''}`,
      );
    }
    console.log(`  not run: ${f2b.not_run.join(', ')} (their expressions match nginx's error log only)`);
  }
  const total = Number(process.hrtime.bigint() - tAll) / 1e9;
  console.log(`\nbenchmark wall time ${total.toFixed(0)} s`);

  const bench = 'detector-replay';
  const csVersion = cs.available ? `CrowdSec ${/\d+\.\d+\.\d+/.exec(cs.version)?.[0] ?? cs.version}` : 'CrowdSec';
  const f2bTotal = f2b.available ? f2b.filters.reduce((sum, f) => sum + f.seconds, 0) : 0;
  figure({
    bench,
    name: `replay throughput vs CrowdSec (parse → detect → decisions, ${fmt(LINES)} lines)`,
    value: lw,
    unit: 'lines/s',
    ...(cs.available ? { peer: { name: `${csVersion} -dsn file -type nginx (${fmt(cs.lines)} lines${cs.complete ? '' : ', stopped'})`, value: cs.processing_lines_per_second ?? cs.lines_per_second } } : {}),
    better: 'higher',
    note: cs.available ? (cs.processing_lines_per_second !== null ? 'CrowdSec without start-up and shutdown' : undefined) : cs.reason,
  });
  figure({
    bench,
    name: `replay throughput vs fail2ban (${fmt(LINES)} lines)`,
    value: lw,
    unit: 'lines/s',
    ...(f2b.available && f2bTotal > 0 ? { peer: { name: `fail2ban-regex, ${f2b.filters.length} nginx filters one after the other`, value: F2B_LINES / f2bTotal } } : {}),
    better: 'higher',
    note: f2b.available ? undefined : f2b.reason,
  });
  figure({
    bench,
    name: `attackers caught, first ${fmt(PEER_LINES)} lines`,
    value: lwSlice.total > 0 ? lwSlice.caught / lwSlice.total : NaN,
    unit: 'share',
    ...(csScore ? { peer: { name: csVersion, value: csScore.total > 0 ? csScore.caught / csScore.total : NaN } } : {}),
    better: 'higher',
    note: `logwarden ${lwSlice.caught}/${lwSlice.total}${csScore ? `, CrowdSec ${csScore.caught}/${csScore.total}` : ''}`,
  });
  figure({
    bench,
    name: `attackers caught, first ${fmt(F2B_LINES)} lines`,
    value: lwF2b.total > 0 ? lwF2b.caught / lwF2b.total : NaN,
    unit: 'share',
    ...(f2bScore ? { peer: { name: 'fail2ban (any jail)', value: f2bScore.total > 0 ? f2bScore.caught / f2bScore.total : NaN } } : {}),
    better: 'higher',
    note: `logwarden ${lwF2b.caught}/${lwF2b.total}${f2bScore ? `, fail2ban ${f2bScore.caught}/${f2bScore.total}` : ''}`,
  });
  figure({
    bench,
    name: `false positives (benign clients blocked), all ${fmt(LINES)} lines`,
    value: lwWhole.false_positives.length,
    unit: 'clients',
    better: 'lower',
    aim: 0,
    note: `of ${fmt(lwWhole.benign)} benign clients`,
  });

  // ---- JSON ----
  const ipDetail = (ips: Iterable<string>): Array<{ ip: string; label: string }> =>
    [...new Set(ips)].sort().map((ip) => ({ ip, label: truth.clients[ip]?.label === 'attacker' ? (truth.clients[ip]?.kind ?? 'attacker') : (truth.clients[ip]?.label ?? 'unknown') }));
  const out = {
    benchmark: 'detector-replay',
    generated_at: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    corpus: {
      seed: SEED,
      lines: LINES,
      same_requests: { agree: corpus.agree, lines: corpus.lines, mismatches: corpus.mismatches },
      attackers: whole.attackers.size,
      benign_clients: whole.benign.size,
      peer_slice: { lines: PEER_LINES, last_ts: new Date(corpus.peerSliceEnd).toISOString(), attackers: peerScope.attackers.size, complete_attacks: peerScope.complete.size, benign_clients: peerScope.benign.size },
      fail2ban_lines: F2B_LINES,
    },
    logwarden: {
      lines: best.lines,
      seconds: best.seconds,
      lines_per_second: lw,
      runs_lines_per_second: runs.map((r) => r.lines_per_second),
      parsed: best.parsed,
      rejected: best.rejected,
      score_whole: lwWhole,
      score_peer_slice: lwSlice,
      ...(F2B_LINES !== LINES ? { score_fail2ban_slice: lwF2b } : {}),
      blocked: ipDetail(best.blocked.map((b) => b.ip)),
    },
    crowdsec: cs.available
      ? {
          version: cs.version,
          package_status: cs.package_status,
          lines: cs.lines,
          complete: cs.complete,
          seconds: cs.seconds,
          lines_per_second: cs.lines_per_second,
          processing_seconds: cs.processing_seconds,
          processing_lines_per_second: cs.processing_lines_per_second,
          ratio: lw / cs.lines_per_second,
          enabled: cs.enabled,
          missing_items: cs.missing_items,
          data_renamed: cs.data_renamed,
          data_missing: cs.data_missing,
          alerts_source: cs.alerts_source,
          alerts: cs.alerts.map((a) => ({ ...a, label: ipDetail([a.ip])[0]?.label })),
          score: csScore,
          errors: cs.errors,
          notes: cs.notes,
        }
      : { skipped: cs.reason },
    fail2ban: f2b.available
      ? {
          version: f2b.version,
          lines: f2b.lines,
          not_run: f2b.not_run,
          filters: f2b.filters.map((f) => ({
            filter: f.filter,
            seconds: f.seconds,
            lines_per_second: f.lines_per_second,
            ratio: lw / f.lines_per_second,
            jail: f.jail,
            matches: f.matches,
            matched: [...f.matched.entries()].map(([ip, t]) => ({ ip, matches: t.length, label: ipDetail([ip])[0]?.label })),
            banned: [...f.banned.entries()].map(([ip, at]) => ({ ip, at: new Date(at * 1000).toISOString(), label: ipDetail([ip])[0]?.label })),
            error: f.error,
          })),
          score_any_jail: f2bScore,
        }
      : { skipped: f2b.reason },
  };
  const outDir = join(root, 'loadtest/out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'detector-replay.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`figures written to ${join(outDir, 'detector-replay.json')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
