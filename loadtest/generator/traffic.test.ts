// The generator's promises, checked on its output: deterministic, exactly
// `lines` lines in time order, benign clients far under every default
// threshold in every 2-minute window (an independent sliding-window count
// over the generated requests, not the generator's own bookkeeping), every
// attacker kind present on IPv4 and IPv6 and clearly over its detector's
// threshold, and labels that match the traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { normalizeIp } from '../../shared/ip.js';
import { ATTACK_KINDS, PRIMARY_DETECTORS, TrafficGenerator, emptyRequest, generateTraffic, type AttackKind, type GeneratedRequest, type GroundTruth } from './traffic.js';
import { LineFormatter } from './format.js';
import { DEFAULT_THRESHOLDS, SlidingWindowCounter, WINDOW_DETECTORS, detectorPeak, pathOf, type WindowPeaks } from './window.js';

const START = Date.UTC(2026, 10, 21, 6, 0, 0);
const T = DEFAULT_THRESHOLDS;

function digest(opts: ConstructorParameters<typeof TrafficGenerator>[0]): { sha: string; ips: Set<string> } {
  const gen = new TrafficGenerator(opts);
  const fmt = new LineFormatter('json');
  const h = createHash('sha256');
  const ips = new Set<string>();
  const r = emptyRequest();
  const buf = Buffer.allocUnsafe(1 << 16);
  while (gen.nextInto(r)) {
    const n = fmt.writeLine(r, buf, 0);
    h.update(buf.subarray(0, n));
    h.update('\n');
    ips.add(r.client_ip);
  }
  h.update(JSON.stringify(gen.truth()));
  return { sha: h.digest('hex'), ips };
}

test('same seed gives byte-identical lines and truth; another seed gives other traffic', () => {
  const opts = { seed: 42, lines: 25_000, startMs: START, attackers: { flood: 1, scanner: 1, sig_injection: 1 } };
  const a = digest(opts);
  const b = digest(opts);
  const c = digest({ ...opts, seed: 43 });
  assert.equal(a.sha, b.sha);
  assert.notEqual(a.sha, c.sha);
  const shared = [...a.ips].filter((ip) => c.ips.has(ip)).length;
  assert.ok(shared < a.ips.size / 100, `seeds 42 and 43 share ${shared} of ${a.ips.size} addresses`);
});

// One corpus of more than 100k lines at default thresholds for the rest of the file.
const LINES = 120_000;
const corpus = generateTraffic({ seed: 20261121, lines: LINES, startMs: START });
const events: GeneratedRequest[] = corpus.events;
const truth: GroundTruth = corpus.truth;

const counter = new SlidingWindowCounter(T.detection_window_ms);
const perIp = new Map<string, GeneratedRequest[]>();
for (const r of events) {
  counter.add(r.client_ip, r.ts, r.uri, r.status);
  let list = perIp.get(r.client_ip);
  if (list === undefined) perIp.set(r.client_ip, (list = []));
  list.push(r);
}
const attackers = Object.entries(truth.clients).filter(([, c]) => c.label === 'attacker');
const benign = Object.entries(truth.clients).filter(([, c]) => c.label === 'benign');

test('exactly the asked number of lines, in time order, every client accounted for in the truth', () => {
  assert.equal(events.length, LINES);
  assert.equal(truth.lines, LINES);
  for (let i = 1; i < events.length; i++) assert.ok((events[i] as GeneratedRequest).ts >= (events[i - 1] as GeneratedRequest).ts, `line ${i} goes back in time`);
  assert.equal((events[0] as GeneratedRequest).ts >= START, true);
  assert.equal(truth.end_ms, (events[events.length - 1] as GeneratedRequest).ts);
  assert.equal(perIp.size, Object.keys(truth.clients).length);
  for (const [ip, list] of perIp) assert.equal(truth.clients[ip]?.requests, list.length, `request count of ${ip}`);
  assert.equal(truth.summary.benign_requests + truth.summary.attacker_requests, LINES);
});

test('a realistic population: thousands of clients, IPv6 among them, several deployments, nodes and hosts', () => {
  assert.ok(benign.length > 3_000, `${benign.length} benign clients`);
  const v6 = benign.filter(([ip]) => ip.includes(':')).length;
  assert.ok(v6 > benign.length * 0.08 && v6 < benign.length * 0.25, `${v6} IPv6 of ${benign.length}`);
  const field = (k: keyof GeneratedRequest): Set<unknown> => new Set(events.map((r) => r[k]));
  assert.ok(field('deployment').size >= 4);
  assert.ok(field('node').size >= 4);
  assert.ok(field('host').size >= 5);
  assert.ok(field('user_agent').size > 50);
  const statuses = new Set(events.map((r) => r.status));
  for (const s of [200, 301, 302, 304, 401, 403, 404]) assert.ok(statuses.has(s), `status ${s} occurs`);
  const profiles = new Set(benign.map(([, c]) => c.profile));
  for (const p of ['browser', 'app', 'crawler', 'monitor', 'staff', 'author']) assert.ok(profiles.has(p as never), `profile ${p}`);
  // Every address is already in the one spelling the ingester normalises to.
  for (const ip of perIp.keys()) assert.equal(normalizeIp(ip), ip);
});

test('sessions: a page, then its assets within a second, with the page as referer', () => {
  let withAssets = 0;
  for (const [ip, c] of benign) {
    if (c.profile !== 'browser') continue;
    const list = perIp.get(ip) ?? [];
    const first = list[0];
    const next = list[1];
    if (first === undefined || next === undefined) continue;
    if (next.ts - first.ts <= 1000 && next.referer === `https://${first.host}${first.uri}`) withAssets++;
  }
  assert.ok(withAssets > 1000, `${withAssets} browser sessions open with a page and its assets`);
});

test('benign clients stay at or under 60% of every default threshold in every 2-minute window', () => {
  const limit = (t: number): number => Math.floor(t * 0.6);
  const worst: WindowPeaks = { requests: 0, not_found: 0, auth_failures: 0, distinct_paths: 0, hits_one_path: 0 };
  let with404 = 0;
  let withAuthFailure = 0;
  for (const [ip] of benign) {
    const p = counter.peaks(ip);
    assert.ok(p !== undefined);
    for (const k of Object.keys(worst) as Array<keyof WindowPeaks>) worst[k] = Math.max(worst[k], p[k]);
    if (p.not_found > 0) with404++;
    if (p.auth_failures > 0) withAuthFailure++;
    assert.ok(p.requests <= limit(T.rate_threshold), `${ip}: ${p.requests} requests in a window`);
    assert.ok(p.not_found <= limit(T.not_found_threshold), `${ip}: ${p.not_found} 404s in a window`);
    assert.ok(p.auth_failures <= limit(T.auth_failure_threshold), `${ip}: ${p.auth_failures} 401/403 in a window`);
    assert.ok(p.distinct_paths <= limit(T.unique_paths_threshold), `${ip}: ${p.distinct_paths} distinct paths in a window`);
    assert.ok(p.hits_one_path <= limit(T.repeated_hits_threshold), `${ip}: ${p.hits_one_path} hits on one path in a window`);
  }
  // Benign traffic is not sterile: some of it does 404 and fails a login.
  assert.ok(with404 > 50, `${with404} benign clients with a 404`);
  assert.ok(withAuthFailure > 10, `${withAuthFailure} benign clients with a 401/403`);
  assert.ok(worst.distinct_paths >= 8, 'the budget is exercised, not trivially met');
});

// What the signature detectors look for, written independently of the generator's lists.
const TOOL_UA = /sqlmap|nikto|nmap scripting engine|masscan|zgrab|wpscan|gobuster|dirbuster|hydra|nuclei|acunetix|w3af/i;
const SENSITIVE = /\/\.(env|git|svn|htpasswd|aws|ds_store|ssh)|wp-config\.php|\.(bak|old|sql|sql\.gz|tar\.gz|zip)$|~$|phpinfo\.php|\/etc\/passwd|win\.ini/i;
function decoded(uri: string): string {
  try {
    return decodeURIComponent(uri.replace(/\+/g, ' '));
  } catch {
    return uri;
  }
}
const INJECTION = /\.\.\/|\.\.\\|union\s+(all\s+)?select|<script|'\s*or\s*'?1'?\s*=\s*'?1/i;

test('no benign request carries a signature marker', () => {
  for (const [ip] of benign) {
    for (const r of perIp.get(ip) ?? []) {
      assert.doesNotMatch(r.user_agent, TOOL_UA, `${ip} ${r.user_agent}`);
      assert.doesNotMatch(pathOf(decoded(r.uri)), SENSITIVE, `${ip} ${r.uri}`);
      assert.doesNotMatch(decoded(r.uri), INJECTION, `${ip} ${r.uri}`);
    }
  }
});

test('every attacker kind is present, on IPv4 and on IPv6, starting at different times', () => {
  for (const kind of ATTACK_KINDS) {
    const mine = attackers.filter(([, c]) => c.kind === kind);
    assert.ok(mine.some(([ip]) => !ip.includes(':')), `${kind} on IPv4`);
    assert.ok(mine.some(([ip]) => ip.includes(':')), `${kind} on IPv6`);
  }
  const starts = attackers.map(([, c]) => c.first_attack_ts ?? 0).sort((a, b) => a - b);
  const spread = (starts[starts.length - 1] as number) - (starts[0] as number);
  assert.ok(spread > 2 * 60_000, `attack starts spread over ${spread} ms`);
  assert.ok(attackers.some(([, c]) => (c.attack_requests ?? 0) < c.requests), 'some attackers also send benign-looking requests');
});

const SIGNATURE_TEST: Record<string, (r: GeneratedRequest) => boolean> = {
  'signature:scanner_ua': (r) => TOOL_UA.test(r.user_agent),
  'signature:sensitive_file': (r) => SENSITIVE.test(pathOf(decoded(r.uri))) || SENSITIVE.test(decoded(r.uri)),
  'signature:injection': (r) => INJECTION.test(decoded(r.uri)),
};

test('each attacker is clearly over its primary detector: twice its threshold in some 2-minute window, or a signature hit', () => {
  for (const [ip, c] of attackers) {
    const kind = c.kind as AttackKind;
    assert.deepEqual(c.expected_detectors, [...PRIMARY_DETECTORS[kind]]);
    const p = counter.peaks(ip) as WindowPeaks;
    for (const d of c.expected_detectors ?? []) {
      if (d.startsWith('signature:')) {
        const hits = (perIp.get(ip) ?? []).filter((r) => SIGNATURE_TEST[d]?.(r) === true);
        assert.ok(hits.length > 0, `${kind} ${ip}: no request matches ${d}`);
        continue;
      }
      const { peak, threshold } = detectorPeak(d as (typeof WINDOW_DETECTORS)[number], p, T);
      assert.ok(peak >= 2 * threshold, `${kind} ${ip}: ${d} peaks at ${peak}, threshold ${threshold}`);
    }
  }
});

test('attackers are sustained: past the threshold, their offending requests in one window reach auto_block_threshold', () => {
  // A detector may count only the requests after its threshold: those alone must still reach the block threshold.
  for (const [ip, c] of attackers) {
    const d = c.expected_detectors?.[0] ?? '';
    if (d.startsWith('signature:')) continue;
    const { peak, threshold } = detectorPeak(d as (typeof WINDOW_DETECTORS)[number], counter.peaks(ip) as WindowPeaks, T);
    assert.ok(peak - threshold >= T.auto_block_threshold, `${c.kind} ${ip}: ${peak - threshold} past the threshold`);
  }
});

test('labels are honest: every window detector the traffic can fire is listed as acceptable, and the truth peaks are the measured ones', () => {
  for (const [ip, c] of attackers) {
    const p = counter.peaks(ip) as WindowPeaks;
    assert.deepEqual(c.peaks, p, `${ip}: truth peaks differ from the measured ones`);
    const acceptable = new Set(c.acceptable_detectors);
    for (const d of c.expected_detectors ?? []) assert.ok(acceptable.has(d));
    for (const d of WINDOW_DETECTORS) {
      if (detectorPeak(d, p, T).fires) assert.ok(acceptable.has(d), `${c.kind} ${ip} fires ${d} but does not list it`);
    }
    // The first attack request is one of its requests, and part of the attack window.
    const list = perIp.get(ip) ?? [];
    assert.ok(list.some((r) => r.ts === c.first_attack_ts));
    assert.ok((c.first_attack_ts ?? 0) <= (c.last_attack_ts ?? 0));
  }
});
