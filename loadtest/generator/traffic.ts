// The deterministic traffic generator: realistic nginx traffic for a fleet of
// four deployments — thousands of benign clients plus labelled attackers of
// every detector's kind — in time order, with the ground truth of who is who.
//
//   const gen = new TrafficGenerator({ seed: 7, lines: 1_000_000, startMs });
//   for (const r of gen) write(format(r));
//   const truth = gen.truth();
//
// A client's requests are planned when it appears, packed, held until its
// last request is out, then dropped; a min-heap of live clients yields the
// requests in time order. So memory holds the live clients (a few tens of
// thousands) and the ground truth (one small entry per address, about one per
// 15 lines), whatever the number of lines. Benign clients arrive as a Poisson
// process whose rate is steered by the planned line count, and the output has
// exactly `lines` lines. The run starts "warm": clients whose sessions began
// before startMs are already browsing at startMs.
//
// Same seed and options → the same requests, byte for byte (prng.ts).
import { Rng } from './prng.js';
import { AddressPool } from './ip-space.js';
import { SPAWNED_PROFILES, planBenign, planMonitor, type BenignContext, type BenignProfile } from './benign.js';
import { ATTACK_KINDS, PRIMARY_DETECTORS, planAttack, type AttackKind } from './attacks.js';
import { PACED_ATTACK_KINDS, PACED_MAX_MS, PACED_PRIMARY_DETECTORS, isPacedKind, planPacedAttack, type PacedAttackKind } from './attacks-paced.js';
import { HARD_PROFILES, hardCounts, planHard, type HardProfile } from './benign-hard.js';
import { CDN_RANGES, crawlerDnsName } from './ip-space.js';
import { budgetFrom, type ClientSpec, type PlanReq } from './plan.js';
import { DEFAULT_THRESHOLDS, WINDOW_DETECTORS, detectorPeak, peaksOf, type Thresholds, type WindowPeaks } from './window.js';

export type { AttackKind } from './attacks.js';
export type { BenignProfile } from './benign.js';
export type { PacedAttackKind } from './attacks-paced.js';
export type { HardProfile } from './benign-hard.js';
export { ATTACK_KINDS, PRIMARY_DETECTORS } from './attacks.js';
export { PACED_ATTACK_KINDS, PACED_PRIMARY_DETECTORS } from './attacks-paced.js';
export { HARD_PROFILES } from './benign-hard.js';

/** Every attacker kind a corpus may hold: the classic ones, and the harder mix's paces. */
export type AnyAttackKind = AttackKind | PacedAttackKind;
/** Every benign kind: the classic profiles, the harder mix's, and the visitors a CDN relays. */
export type AnyBenignProfile = BenignProfile | HardProfile | 'cdn_client';
/**
 * classic: benign clients under 60% of every threshold, fast attackers (the
 * correctness corpus). hard: also benign traffic at and above the thresholds
 * and attackers at other paces (benign-hard.ts, attacks-paced.ts).
 */
export type TrafficMix = 'classic' | 'hard';

/** One request, with the fields of the shipped JSON log_format (lua/conf/logwarden-http.conf). */
export interface GeneratedRequest {
  /** Log time, epoch ms ($msec). */
  ts: number;
  /** $hostname of the edge that served it (also the syslog HOSTNAME). */
  node: string;
  deployment: string;
  /** $remote_addr. */
  client_ip: string;
  /** $http_x_forwarded_for; "" when the client sent none. */
  xff: string;
  method: string;
  host: string;
  /** $request_uri: path and query, undecoded, as the client sent them. */
  uri: string;
  /** $server_protocol ("HTTP/1.1", "HTTP/2.0"): only the combined format shows it, in $request. */
  protocol: string;
  status: number;
  /** $body_bytes_sent. */
  bytes: number;
  /** $request_time, seconds (millisecond resolution). */
  request_time: number;
  /** $upstream_response_time, seconds; null when nginx answered by itself. */
  upstream_time: number | null;
  user_agent: string;
  referer: string;
  /** $logwarden_country: "" (the shipped snippet has no geoip2; the ingester looks addresses up). */
  country: string;
  /** $remote_user. */
  auth_user: string;
  request_id: string;
  blocked_by: string;
  filter_alert: string;
}

export interface ClientTruth {
  label: 'benign' | 'attacker';
  deployment: string;
  /** Requests this IP sent in the run. */
  requests: number;
  /** Benign: what kind of client. */
  profile?: AnyBenignProfile;
  /** Attacker: its kind. */
  kind?: AnyAttackKind;
  /** Attacker: detectors that must fire (the kind's primary). */
  expected_detectors?: string[];
  /** Attacker: detectors that may also fire, measured from its traffic (a superset of expected). */
  acceptable_detectors?: string[];
  /** Attacker: the first and last request that is part of the attack (it may browse a little before). */
  first_attack_ts?: number;
  last_attack_ts?: number;
  attack_requests?: number;
  /** Attacker: the highest count of each window signal in any one detection window. */
  peaks?: WindowPeaks;
  description?: string;
  /** A CDN's visitor: the CDN address that relayed it (its X-Forwarded-For names this client). */
  via?: string;
  /** A crawler whose DNS the evaluation serves: its forward-confirmed reverse name. */
  dns_name?: string;
  /** An attacker rotating inside its /64: every address it used (this entry's key first). */
  addresses?: string[];
}

/** What the evaluation's DNS server must answer (shared/testing/dnsmasq.ts TestDnsRecords). */
export interface DnsRecords {
  /** Name → address: A/AAAA and the address's PTR (a forward-confirmed crawler). */
  host: Array<[name: string, address: string]>;
  /** Address → name, PTR only (a forged reverse name with no forward record). */
  ptr: Array<[address: string, name: string]>;
}

export interface GroundTruth {
  generator: string;
  seed: number;
  lines: number;
  start_ms: number;
  /** Time of the last request. */
  end_ms: number;
  thresholds_assumed: Thresholds;
  /** Benign clients stay at or under this fraction of every threshold in any window. */
  benign_margin: number;
  mix: TrafficMix;
  /** Proxies whose X-Forwarded-For the evaluation must trust (ingest.trusted_proxies): the CDN's range. */
  trusted_proxies: string[];
  /** Addresses that are another client's (a /64 rotator's further addresses) → that client's key. */
  aliases: Record<string, string>;
  summary: {
    benign_clients: number;
    attackers: Partial<Record<AnyAttackKind, number>>;
    ipv6_clients: number;
    benign_requests: number;
    attacker_requests: number;
  };
  clients: Record<string, ClientTruth>;
}

export interface TrafficOptions {
  seed: number;
  /** Exactly this many requests. */
  lines: number;
  /** Time of the run's start, epoch ms. */
  startMs: number;
  /** Default: 1 000 requests/s on average, at least 10 minutes. */
  durationMs?: number;
  /** Attackers per kind. Default for each kind: lines/40 000, at least 2 (IPv4 and IPv6) and at most 100; none under 20 000 lines. */
  attackers?: Partial<Record<AnyAttackKind, number>>;
  /** Default classic; hard adds the harder benign kinds and the paced attackers (see TrafficMix). */
  mix?: TrafficMix;
  /** Share of benign clients on IPv6 (default 0.15). Attackers: the second of each kind is IPv6, then about a quarter. */
  ipv6Share?: number;
  /** Thresholds the labels and the benign budget assume (default: the config defaults). */
  thresholds?: Partial<Thresholds>;
  /** Fraction of every threshold benign clients stay under (default 0.6). */
  benignMargin?: number;
}

export const GENERATOR_ID = 'logwarden-traffic/1';
const MIN = 60_000;
/**
 * Clients start arriving this long before startMs, so the run begins with
 * (nearly) the steady population: 95% of a client's requests come within 30
 * minutes of its first.
 */
const WARMUP_MS = 30 * MIN;

export function defaultAttackersPerKind(lines: number): number {
  return lines < 20_000 ? 0 : Math.min(100, Math.max(2, Math.round(lines / 40_000)));
}

export function defaultDurationMs(lines: number): number {
  return Math.max(10 * MIN, Math.round(lines / 1000) * 1000);
}

/**
 * A client between its first and last request. Its plan is packed into two
 * flat arrays (numbers and strings, a fixed stride per request): emitting
 * reads one client's requests from contiguous memory, and the garbage
 * collector sees two objects per client instead of one per request.
 */
interface Live {
  id: number;
  spec: ClientSpec;
  /** Per request: ts, status, bytes, flags (NUM_STRIDE). */
  num: Float64Array;
  /** Per request: method, uri, referer, auth user, user agent, address and X-Forwarded-For overrides (STR_STRIDE). */
  str: string[];
  n: number;
  idx: number;
  next: number;
}

const NUM_STRIDE = 4;
const STR_STRIDE = 7;
const FLAG_UPSTREAM = 1;

function live(id: number, spec: ClientSpec, plan: readonly PlanReq[]): Live {
  const n = plan.length;
  const num = new Float64Array(n * NUM_STRIDE);
  const str = new Array<string>(n * STR_STRIDE);
  for (let i = 0; i < n; i++) {
    const p = plan[i] as PlanReq;
    const a = i * NUM_STRIDE;
    num[a] = p.ts;
    num[a + 1] = p.status;
    num[a + 2] = p.bytes;
    num[a + 3] = p.upstream ? FLAG_UPSTREAM : 0;
    const b = i * STR_STRIDE;
    str[b] = p.method;
    str[b + 1] = p.uri;
    str[b + 2] = p.referer;
    str[b + 3] = p.authUser;
    str[b + 4] = p.ua;
    str[b + 5] = p.ip;
    str[b + 6] = p.xff;
  }
  return { id, spec, num, str, n, idx: 0, next: n > 0 ? (num[0] as number) : Infinity };
}

/**
 * Min-heap of live clients by (time of next request, id); the id makes ties
 * deterministic. The keys live in typed arrays so that sifting compares
 * numbers in one block of memory instead of visiting client objects.
 */
class ClientHeap {
  private items: Live[] = [];
  private ts = new Float64Array(1024);
  private ids = new Float64Array(1024);
  private n = 0;

  get size(): number {
    return this.n;
  }

  peek(): Live | undefined {
    return this.n === 0 ? undefined : this.items[0];
  }

  push(x: Live): void {
    if (this.n === this.ts.length) {
      const ts = new Float64Array(this.n * 2);
      ts.set(this.ts);
      this.ts = ts;
      const ids = new Float64Array(this.n * 2);
      ids.set(this.ids);
      this.ids = ids;
    }
    const items = this.items;
    const T = this.ts;
    const I = this.ids;
    const t = x.next;
    const id = x.id;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = T[p] as number;
      if (pt < t || (pt === t && (I[p] as number) < id)) break;
      items[i] = items[p] as Live;
      T[i] = pt;
      I[i] = I[p] as number;
      i = p;
    }
    items[i] = x;
    T[i] = t;
    I[i] = id;
  }

  /** The head's key grew (x.next changed): move it down to its place. */
  headGrew(): void {
    if (this.n > 0) this.siftDown(this.items[0] as Live);
  }

  popHead(): void {
    const last = this.items[--this.n] as Live;
    this.items.length = this.n;
    if (this.n > 0) this.siftDown(last);
  }

  private siftDown(x: Live): void {
    const items = this.items;
    const T = this.ts;
    const I = this.ids;
    const n = this.n;
    const t = x.next;
    const id = x.id;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let ct = T[l] as number;
      if (r < n) {
        const rt = T[r] as number;
        if (rt < ct || (rt === ct && (I[r] as number) < (I[l] as number))) {
          c = r;
          ct = rt;
        }
      }
      if (t < ct || (t === ct && id < (I[c] as number))) break;
      items[i] = items[c] as Live;
      T[i] = ct;
      I[i] = I[c] as number;
      i = c;
    }
    items[i] = x;
    T[i] = t;
    I[i] = id;
  }
}

interface PendingAttacker {
  kind: AnyAttackKind;
  ip: string;
  stream: number;
  attackStart: number;
  activation: number;
  count: number;
}

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const idScratch = Buffer.alloc(32);

/** 32 lower-case hex digits, as nginx's $request_id; built flat (one string, no concatenation). */
function requestId(rng: Rng): string {
  for (let w = 0; w < 4; w++) {
    const x = rng.u32();
    for (let k = 0; k < 8; k++) idScratch[w * 8 + k] = HEX_DIGITS[(x >>> (28 - 4 * k)) & 15] as number;
  }
  return idScratch.toString('latin1');
}

// Sub-generator streams: one per client, so a client's requests depend only on the seed and its index.
const STREAM_EMIT = 1;
const STREAM_ESTIMATE = 2;
const STREAM_MONITOR = 0x0100_0000;
const STREAM_ATTACKER = 0x0200_0000;
const STREAM_HARD = 0x0300_0000;
const STREAM_BENIGN = 0x1000_0000;

export class TrafficGenerator implements IterableIterator<GeneratedRequest> {
  readonly seed: number;
  readonly lines: number;
  readonly startMs: number;
  readonly durationMs: number;
  readonly thresholds: Thresholds;
  readonly benignMargin: number;

  private readonly master: Rng;
  private readonly emitRng: Rng;
  private readonly pool = new AddressPool();
  private readonly heap = new ClientHeap();
  private readonly clients = new Map<string, ClientTruth>();
  private readonly ctx: BenignContext;
  private readonly ipv6Share: number;
  private readonly attackers: PendingAttacker[] = [];
  private readonly attackerCounts: Partial<Record<AnyAttackKind, number>>;
  readonly mix: TrafficMix;
  private readonly dns: DnsRecords = { host: [], ptr: [] };
  private readonly aliases: Record<string, string> = {};
  private attIdx = 0;
  private nextId = 0;

  private readonly targetBenign: number;
  private plannedBenign = 0;
  private benignSpawned = 0;
  private nextSpawn: number;
  private readonly meanPlan: number;
  private readonly linesArea: number[];
  /** Arrivals per ms that would meet the target in the steady state. */
  private readonly baseRate: number;

  private emitted = 0;
  private lastTs = -Infinity;
  private attackerRequests = 0;

  constructor(opts: TrafficOptions) {
    if (!Number.isInteger(opts.lines) || opts.lines < 1) throw new RangeError(`lines must be a positive integer, got ${opts.lines}`);
    if (!Number.isInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
    if (!Number.isFinite(opts.startMs)) throw new RangeError('startMs must be a time in epoch ms');
    this.seed = opts.seed >>> 0;
    this.lines = opts.lines;
    this.startMs = Math.round(opts.startMs);
    this.durationMs = opts.durationMs ?? defaultDurationMs(opts.lines);
    if (!(this.durationMs >= 10_000)) throw new RangeError(`durationMs must be at least 10 s, got ${this.durationMs}`);
    this.ipv6Share = opts.ipv6Share ?? 0.15;
    if (!(this.ipv6Share >= 0 && this.ipv6Share <= 1)) throw new RangeError(`ipv6Share must be within [0, 1], got ${this.ipv6Share}`);
    this.thresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
    this.benignMargin = opts.benignMargin ?? 0.6;
    if (!(this.benignMargin > 0 && this.benignMargin < 1)) throw new RangeError(`benignMargin must be within (0, 1), got ${this.benignMargin}`);

    this.master = new Rng(this.seed, 0);
    this.emitRng = new Rng(this.seed, STREAM_EMIT);
    const endMs = this.startMs + this.durationMs;
    this.ctx = {
      limits: budgetFrom(this.thresholds, this.benignMargin),
      // Wider than the detectors' window: a bucketed window slightly longer than it still sees less than the budget.
      budgetWindowMs: Math.round(this.thresholds.detection_window_ms * 1.25),
      endMs,
    };

    this.mix = opts.mix ?? 'classic';
    // Attackers first: their addresses and line counts are fixed before any benign client appears.
    const perKind = defaultAttackersPerKind(opts.lines);
    const kinds: readonly AnyAttackKind[] = this.mix === 'hard' ? [...ATTACK_KINDS, ...PACED_ATTACK_KINDS] : ATTACK_KINDS;
    this.attackerCounts = Object.fromEntries(kinds.map((k) => [k, opts.attackers?.[k] ?? perKind]));
    let attackLines = 0;
    for (const kind of kinds) {
      const n = this.attackerCounts[kind] as number;
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`attackers.${kind} must be a non-negative integer, got ${n}`);
      for (let i = 0; i < n; i++) attackLines += this.addAttacker(kind, i);
    }
    this.attackers.sort((a, b) => a.activation - b.activation || a.stream - b.stream);
    if (attackLines > opts.lines * 0.5) {
      throw new RangeError(`the attackers alone send ${attackLines} of ${opts.lines} lines: ask for more lines or fewer attackers`);
    }

    this.targetBenign = opts.lines - attackLines;
    if (opts.lines >= 10_000) {
      for (let i = 0; i < 4; i++) {
        const m = planMonitor(new Rng(this.seed, STREAM_MONITOR + i), i, this.startMs, this.ctx);
        this.addBenign(m.spec, this.fit(m.plan, this.startMs), 'monitor', this.master.chance(this.ipv6Share));
      }
    }
    if (this.mix === 'hard') this.addHard(opts.lines);

    // Arrivals: a Poisson process started half an hour early so the
    // population at startMs is (nearly) the steady one. Its base rate comes
    // from the mean size of a sample of plans (Little's law); from startMs on,
    // each arrival re-aims the rate at the line target, knowing from the same
    // sample how many lines a client arriving with y ms left adds before the end.
    const est = new Rng(this.seed, STREAM_ESTIMATE);
    const samples = 2000;
    const perSecond: number[] = [];
    let sum = 0;
    for (let i = 0; i < samples; i++) {
      const plan = planBenign(est, SPAWNED_PROFILES.pick(est), 0, this.ctx).plan;
      sum += plan.length;
      for (const r of plan) {
        const sec = Math.floor(r.ts / 1000);
        while (perSecond.length <= sec) perSecond.push(0);
        perSecond[sec] = (perSecond[sec] as number) + 1 / samples;
      }
    }
    this.meanPlan = sum / samples;
    // linesBefore[y]: expected lines a client sends within y seconds of arriving (y = 0..);
    // linesArea[y]: its integral over arrival times, lines x ms.
    let cum = 0;
    let area = 0;
    this.linesArea = [0];
    for (const c of perSecond) {
      area += (cum + c / 2) * 1000;
      cum += c;
      this.linesArea.push(area);
    }
    this.baseRate = Math.max(1e-12, (this.targetBenign - this.plannedBenign) / this.meanPlan / this.durationMs);
    this.nextSpawn = this.plannedBenign < this.targetBenign ? this.startMs - WARMUP_MS : Infinity;
  }

  /** Expected lines (x ms) from arrivals spread over the y ms before the end. */
  private expectedArea(yMs: number): number {
    const table = this.linesArea;
    const y = yMs / 1000;
    const last = table.length - 1;
    if (y >= last) return (table[last] as number) + (y - last) * 1000 * this.meanPlan;
    const i = Math.floor(y);
    return (table[i] as number) + ((table[i + 1] as number) - (table[i] as number)) * (y - i);
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<GeneratedRequest, undefined> {
    const c = this.advance();
    if (c === undefined) return { done: true, value: undefined };
    return { done: false, value: this.emit(c, emptyRequest()) };
  }

  /** Fills `into` with the next request instead of allocating one (for streaming millions of lines); false at the end. */
  nextInto(into: GeneratedRequest): boolean {
    const c = this.advance();
    if (c === undefined) return false;
    this.emit(c, into);
    return true;
  }

  /** The client whose request is next, after letting in every client that appears before it. */
  private advance(): Live | undefined {
    for (;;) {
      const head = this.heap.peek();
      const headTs = head === undefined ? Infinity : head.next;
      const att = this.attackers[this.attIdx];
      if (att !== undefined && att.activation <= headTs && att.activation <= this.nextSpawn) {
        this.activate(att);
        this.attIdx++;
        continue;
      }
      if (this.nextSpawn <= headTs && this.nextSpawn !== Infinity) {
        this.spawn();
        continue;
      }
      return head;
    }
  }

  /** Lines produced so far. */
  get produced(): number {
    return this.emitted;
  }

  /** The ground truth. Attackers are complete from the start; benign clients as they appear (complete once the iterator is done). */
  truth(): GroundTruth {
    let benign = 0;
    let v6 = 0;
    const clients: Record<string, ClientTruth> = {};
    for (const [ip, c] of this.clients) {
      clients[ip] = c;
      if (c.label === 'benign') benign++;
      if (ip.includes(':')) v6++;
    }
    return {
      generator: GENERATOR_ID,
      seed: this.seed,
      lines: this.lines,
      start_ms: this.startMs,
      end_ms: this.lastTs === -Infinity ? this.startMs : this.lastTs,
      thresholds_assumed: { ...this.thresholds },
      benign_margin: this.benignMargin,
      mix: this.mix,
      trusted_proxies: this.mix === 'hard' ? [...CDN_RANGES] : [],
      aliases: { ...this.aliases },
      summary: {
        benign_clients: benign,
        attackers: { ...this.attackerCounts },
        ipv6_clients: v6,
        benign_requests: this.lines - this.attackerRequests,
        attacker_requests: this.attackerRequests,
      },
      clients,
    };
  }

  private addAttacker(kind: AnyAttackKind, i: number): number {
    const ipv6 = kind === 'ipv6_rotating' || i === 1 || (i > 1 && this.master.chance(Math.max(0.25, this.ipv6Share)));
    const ip = this.pool.take(this.master, ipv6);
    const stream = STREAM_ATTACKER + this.attackers.length;
    // Spread over the run, ending early enough that the longest attack of the kind (classic: 5 min) is over before the run is.
    const longest = isPacedKind(kind) ? PACED_MAX_MS[kind] : 5 * MIN;
    const lo = this.durationMs * 0.05;
    const hi = Math.max(lo, Math.min(this.durationMs * 0.75, this.durationMs - longest - MIN));
    const attackStart = this.startMs + Math.round(this.master.range(lo, hi));
    const a = this.planAttacker(kind, stream, attackStart, ip);
    const plan = a.plan;
    if (a.forgedPtr !== undefined) this.dns.ptr.push([ip, a.forgedPtr]);
    const addresses = kind === 'ipv6_rotating' ? [ip, ...new Set(plan.map((p) => p.ip).filter((x) => x !== '' && x !== ip))] : undefined;
    for (const other of addresses?.slice(1) ?? []) this.aliases[other] = ip;
    const attack = plan.filter((p) => p.attack);
    const peaks = peaksOf(plan, this.thresholds.detection_window_ms);
    // "May fire": measured over the benign budget's wider window, so a detector whose window is a little longer is covered.
    const wide = peaksOf(plan, this.ctx.budgetWindowMs);
    const expected = [...(isPacedKind(kind) ? PACED_PRIMARY_DETECTORS[kind] : PRIMARY_DETECTORS[kind])];
    const acceptable = new Set<string>(expected);
    for (const d of WINDOW_DETECTORS) if (detectorPeak(d, wide, this.thresholds).fires) acceptable.add(d);
    for (const s of a.alsoSignatures) acceptable.add(s);
    this.clients.set(ip, {
      label: 'attacker',
      deployment: a.spec.deployment,
      requests: plan.length,
      kind,
      expected_detectors: expected,
      acceptable_detectors: [...acceptable],
      first_attack_ts: attack[0]?.ts ?? (plan[0] as PlanReq).ts,
      last_attack_ts: attack[attack.length - 1]?.ts ?? (plan[plan.length - 1] as PlanReq).ts,
      attack_requests: attack.length,
      peaks,
      description: a.description,
      ...(addresses ? { addresses } : {}),
    });
    this.attackerRequests += plan.length;
    this.attackers.push({ kind, ip, stream, attackStart, activation: (plan[0] as PlanReq).ts, count: plan.length });
    return plan.length;
  }

  private planAttacker(
    kind: AnyAttackKind,
    stream: number,
    attackStart: number,
    ip: string,
  ): { plan: PlanReq[]; spec: Omit<ClientSpec, 'ip'>; alsoSignatures: string[]; description: string; forgedPtr?: string } {
    const rng = new Rng(this.seed, stream);
    const a = isPacedKind(kind) ? planPacedAttack(kind, rng, attackStart, ip) : planAttack(kind, rng, attackStart, this.startMs);
    a.plan.sort((x, y) => x.ts - y.ts);
    return a;
  }

  /** The plan is rebuilt from its stream when the attack begins, so millions of lines never hold every attacker's plan at once. */
  private activate(p: PendingAttacker): void {
    const a = this.planAttacker(p.kind, p.stream, p.attackStart, p.ip);
    if (a.plan.length !== p.count) throw new Error(`attacker ${p.ip}: plan not reproducible (${a.plan.length} != ${p.count})`);
    this.heap.push(live(this.nextId++, { ip: p.ip, ...a.spec }, a.plan));
  }

  /**
   * Drops what falls before the start (warm-up clients) or after the end of
   * the run (the log ends there), and what exceeds the line target. A client
   * arriving after the end (the target not met yet) is logged for a minute.
   */
  private fit(plan: PlanReq[], spawnedAt: number): PlanReq[] {
    let kept = plan;
    if (kept.length > 0 && (kept[0] as PlanReq).ts < this.startMs) kept = kept.filter((p) => p.ts >= this.startMs);
    const horizon = Math.max(this.ctx.endMs, spawnedAt + MIN);
    if (kept.length > 0 && (kept[kept.length - 1] as PlanReq).ts >= horizon) kept = kept.filter((p) => p.ts < horizon);
    const room = this.targetBenign - this.plannedBenign;
    if (kept.length > room) kept = kept.slice(0, Math.max(0, room));
    return kept;
  }

  private addBenign(spec: Omit<ClientSpec, 'ip'>, plan: PlanReq[], profile: BenignProfile, ipv6: boolean): void {
    const ip = this.pool.take(this.master, ipv6);
    if (plan.length === 0) return;
    this.plannedBenign += plan.length;
    const truth: ClientTruth = { label: 'benign', deployment: spec.deployment, requests: plan.length, profile };
    // A benign crawler is the real one: its owner's DNS names it (what a replay with DNS verifies).
    const dnsName = profile === 'crawler' ? crawlerDnsName(spec.ua, ip) : undefined;
    if (dnsName !== undefined) {
      this.dns.host.push([dnsName, ip]);
      truth.dns_name = dnsName;
    }
    this.clients.set(ip, truth);
    this.heap.push(live(this.nextId++, { ip, ...spec }, plan));
  }

  /** The harder mix's benign clients (benign-hard.ts): a fixed few of each kind, started across the run. */
  private addHard(lines: number): void {
    const counts = hardCounts(lines);
    let stream = STREAM_HARD;
    const ctx = {
      endMs: this.ctx.endMs,
      fixedIp: (draw: (r: Rng) => string) => this.pool.takeFrom(this.master, draw),
      visitorIp: () => this.pool.take(this.master, this.master.chance(this.ipv6Share)),
    };
    for (const profile of HARD_PROFILES) {
      for (let i = 0; i < counts[profile]; i++) {
        const rng = new Rng(this.seed, stream++);
        // Long-lived kinds (a crawler's hour, an office's day) start early; the rest anywhere before the last ten minutes.
        const early = profile === 'office_nat' || profile === 'health_check' || profile === 'cdn_proxy' || profile === 'verified_crawler';
        const t0 = this.startMs + Math.round(rng.range(0, early ? 60_000 : Math.max(60_000, this.durationMs - 10 * MIN)));
        const h = planHard(profile, rng, t0, ctx);
        const plan = this.fit(h.plan, t0);
        if (plan.length === 0) continue;
        const ip = h.ip ?? this.pool.take(this.master, profile !== 'office_nat' && this.master.chance(this.ipv6Share));
        this.plannedBenign += plan.length;
        const truth: ClientTruth = { label: 'benign', deployment: h.spec.deployment, requests: plan.length, profile, description: h.description };
        if (h.dnsName !== undefined) {
          this.dns.host.push([h.dnsName, ip]);
          truth.dns_name = h.dnsName;
        }
        this.clients.set(ip, truth);
        if (h.relayed) {
          // Requests the fit dropped are not in the log: count what is.
          const kept = new Map<string, number>();
          for (const r of plan) kept.set(r.xff, (kept.get(r.xff) ?? 0) + 1);
          for (const [visitor, n] of kept) this.clients.set(visitor, { label: 'benign', deployment: h.spec.deployment, requests: n, profile: 'cdn_client', via: ip });
        }
        this.heap.push(live(this.nextId++, { ip, ...h.spec }, plan));
      }
    }
  }

  /** The DNS records the evaluation's resolver must serve: real crawlers forward-confirmed, forged PTRs without forward records. */
  dnsRecords(): DnsRecords {
    return { host: this.dns.host.map(([n, a]) => [n, a]), ptr: this.dns.ptr.map(([a, n]) => [a, n]) };
  }

  private spawn(): void {
    const t = this.nextSpawn;
    const profile = SPAWNED_PROFILES.pick(this.master);
    const ipv6 = this.master.chance(this.ipv6Share);
    const planned = planBenign(new Rng(this.seed, STREAM_BENIGN + this.benignSpawned++), profile, t, this.ctx);
    const plan = this.fit(planned.plan, t);
    this.addBenign(planned.spec, plan, profile, ipv6);
    const remaining = this.targetBenign - this.plannedBenign;
    if (remaining <= 0) {
      this.nextSpawn = Infinity;
      return;
    }
    let rate = this.baseRate;
    const left = this.ctx.endMs - t;
    if (t >= this.startMs && left > 0) {
      // Bounded, so a late correction stays a gentle change of pace.
      rate = Math.min(4 * this.baseRate, Math.max(0.25 * this.baseRate, remaining / Math.max(1, this.expectedArea(left))));
    }
    this.nextSpawn = t + Math.max(1, Math.round(this.master.exp(1 / rate)));
  }

  private emit(c: Live, r: GeneratedRequest): GeneratedRequest {
    const i = c.idx;
    const num = c.num;
    const str = c.str;
    const a = i * NUM_STRIDE;
    const b = i * STR_STRIDE;
    const ts = num[a] as number;
    const status = num[a + 1] as number;
    const bytes = num[a + 2] as number;
    const rng = this.emitRng;
    let upstreamMs = -1;
    let rtMs: number;
    if (((num[a + 3] as number) & FLAG_UPSTREAM) !== 0) {
      upstreamMs = Math.min(8000, Math.max(1, Math.round(rng.logNormal(status >= 500 ? 900 : 28, 0.9))));
      rtMs = upstreamMs + rng.int(0, 2);
    } else {
      rtMs = bytes < 20_000 ? rng.int(0, 1) : Math.min(4000, Math.round(bytes / rng.range(2_000, 40_000)));
    }
    const s = c.spec;
    const ua = str[b + 4] as string;
    const ip = str[b + 5] as string;
    const xff = str[b + 6] as string;
    r.ts = ts;
    r.node = s.node;
    r.deployment = s.deployment;
    r.client_ip = ip === '' ? s.ip : ip;
    r.xff = xff === '' ? s.xff : xff;
    r.method = str[b] as string;
    r.host = s.host;
    r.uri = str[b + 1] as string;
    r.protocol = s.protocol;
    r.status = status;
    r.bytes = bytes;
    r.request_time = rtMs / 1000;
    r.upstream_time = upstreamMs < 0 ? null : upstreamMs / 1000;
    r.user_agent = ua === '' ? s.ua : ua;
    r.referer = str[b + 2] as string;
    r.country = '';
    r.auth_user = str[b + 3] as string;
    r.request_id = requestId(rng);
    r.blocked_by = '';
    r.filter_alert = '';
    if (ts < this.lastTs) throw new Error(`internal: request at ${ts} after ${this.lastTs}`);
    this.lastTs = ts;
    this.emitted++;
    c.idx = i + 1;
    if (i + 1 < c.n) {
      c.next = num[a + NUM_STRIDE] as number;
      this.heap.headGrew();
    } else {
      this.heap.popHead();
    }
    return r;
  }
}

/** A request with every field set, to be filled by TrafficGenerator.nextInto. */
export function emptyRequest(): GeneratedRequest {
  return {
    ts: 0, node: '', deployment: '', client_ip: '', xff: '', method: '', host: '', uri: '', protocol: '', status: 0, bytes: 0,
    request_time: 0, upstream_time: null, user_agent: '', referer: '', country: '', auth_user: '', request_id: '', blocked_by: '', filter_alert: '',
  };
}

/** All of it in memory: for tests and small corpora (use the iterator for millions of lines). */
export function generateTraffic(opts: TrafficOptions): { events: GeneratedRequest[]; truth: GroundTruth } {
  const gen = new TrafficGenerator(opts);
  const events: GeneratedRequest[] = [];
  for (const r of gen) events.push(r);
  return { events, truth: gen.truth() };
}
