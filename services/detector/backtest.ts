// Backtesting: `logwarden replay access.log --report` runs the detectors
// in-process over files, with the live path's parsing and engine, on the
// log's own clock, and reports who would have been blocked, when, why.
import { Worker } from 'node:worker_threads';
import type { Config } from '../../shared/config/load.js';
import { eventClient, type BlockDecision, type SecurityEvent } from '../../shared/records.js';
import type { Readable } from 'node:stream';
import { LineDecoder } from '../../shared/access-log/decode.js';
import { describeFormat, MAIN_FORMAT, resolveFileFormats, type FileFormat } from '../../shared/access-log/detect-format.js';
import { forEachLine, openLogStream } from '../../shared/access-log/line-reader.js';
import { partitionForKey } from '../../shared/bus/murmur2.js';
import { ClientKeys } from '../../shared/ip.js';
import { engineConfig } from './config.js';
import { DETECTOR_ERRORS } from './errors.js';
import { LogwardenError } from '../../shared/errors.js';
import { CrawlerVerifier, type CrawlerStatus } from './crawlers/verify.js';
import { DetectionEngine } from './engine.js';
import { GivenVerdict, InOrder } from './replay-order.js';

export interface BlockedIp {
  ip: string;
  /** Event time of the first block, ISO 8601. */
  blocked_at: string;
  expires_at: string | null;
  escalation_level: number;
  blocks: number;
  reason: string;
  /** Offending requests per detector over the whole run. */
  detectors: Record<string, number>;
}

export interface BacktestReport {
  files: number;
  /** The format each file was read in, and how it was chosen. */
  formats: FileFormat[];
  lines: number;
  parsed: number;
  rejected: Record<string, number>;
  /** One rejected line's detail per reason, to say why. */
  rejected_sample: Record<string, string>;
  late: number;
  seconds: number;
  lines_per_second: number;
  first_ts: string | null;
  last_ts: string | null;
  events: Record<string, { events: number; requests: number }>;
  blocked: BlockedIp[];
  /** Every decision in order (blocks, escalations, expiries). */
  decisions: BlockDecision[];
  /** Clients that claimed a known crawler, by verdict; `dns` false: the replay ran offline (every claim unverified). */
  crawlers: { dns: boolean; verified: number; failed: number; unverified: number; pending: number };
}

/** The lowest lookup budget of a replay's crawler verification (per shard). */
const REPLAY_LOOKUPS_PER_S = 1_000;

/** Ticks the engine's clock this often (in records): flushes and expiries follow the log's time. */
const TICK_EVERY = 1024;

export interface ShardSpec {
  index: number;
  count: number;
}

/** What one shard saw; shards' partials merge into the report. */
export interface BacktestPartial {
  lines: number;
  parsed: number;
  rejected: Record<string, number>;
  rejected_sample: Record<string, string>;
  late: number;
  first: number | undefined;
  last: number | undefined;
  events: Record<string, { events: number; requests: number }>;
  perIp: Array<[string, Record<string, number>]>;
  decisions: BlockDecision[];
  claims: Array<[string, CrawlerStatus]>;
}

/** Searched for as bytes: a string needle is converted on every call. */
const CLIENT_IP_KEY = Buffer.from('"client_ip":"', 'latin1');

/**
 * The shard a raw line belongs to, from its client address found without
 * parsing (JSON: the "client_ip" value; other formats: the first field), so
 * each thread parses only its own share. The hash is the live detector's
 * (Kafka's murmur2 of the address, as the record key), so a backtest's shards
 * hold the clients a live detector's do. Lines without one go to shard 0.
 */
export function lineShard(line: Buffer, count: number, clients?: ClientKeys): number {
  if (count <= 1) return 0;
  let start = line.indexOf(CLIENT_IP_KEY);
  let end: number;
  if (start >= 0) {
    start += CLIENT_IP_KEY.length;
    end = line.indexOf(34, start);
  } else {
    start = line[0] === 60 /* < */ ? line.indexOf(': ') + 2 : 0;
    if (start < 0) return 0;
    end = line.indexOf(32, start);
  }
  if (end <= start) return 0;
  const address = line.subarray(start, end);
  // An IPv6 client is its network (the live path's record key): parse those, hash the rest as they are.
  if (clients && address.includes(58 /* : */)) return partitionForKey(clients.of(address.toString('latin1')), count);
  return partitionForKey(address, count);
}

/** Where a shard reads: the files with their formats, and standard input's stream when one file is "-". */
export interface ShardInput {
  formats: FileFormat[];
  stdin?: Readable | undefined;
  /** Verify crawler claims with DNS (detection.crawlers); false: offline, every claim unverified. */
  dns?: boolean;
}

export async function backtestShard(config: Config, input: ShardInput, shard: ShardSpec = { index: 0, count: 1 }, onEvent?: (e: SecurityEvent) => void): Promise<BacktestPartial> {
  const crawlers = config.detection.crawlers;
  // A replay asks about its claims as fast as the resolver answers: the live budget (lookups a
  // second per shard) protects a resolver from a flood of new addresses, not from a backtest's few.
  const verifier = crawlers.enabled ? new CrawlerVerifier({ ...crawlers, lookups_per_second: Math.max(crawlers.lookups_per_second, REPLAY_LOOKUPS_PER_S), offline: input.dns !== true }) : undefined;
  // The engine judges each record by the verdict the replay obtained for it (one claim check a record).
  const given = new GivenVerdict();
  const engine = new DetectionEngine(engineConfig(config), verifier ? given : undefined);
  /** Each client that claimed a crawler, and the verdict it got. */
  const claims = new Map<string, CrawlerStatus>();
  const rejected: Record<string, number> = {};
  const rejectedSample: Record<string, string> = {};
  const events: Record<string, { events: number; requests: number }> = {};
  const perIp = new Map<string, Record<string, number>>();
  const decisions: BlockDecision[] = [];
  let parsed = 0;
  let detected = 0;
  let lines = 0;
  let first: number | undefined;
  let last: number | undefined;
  const collect = (): void => {
    const out = engine.drain();
    for (const e of out.events) {
      const agg = (events[e.detector] ??= { events: 0, requests: 0 });
      agg.events++;
      agg.requests += e.count;
      const client = eventClient(e);
      const ipAgg = perIp.get(client) ?? {};
      ipAgg[e.detector] = (ipAgg[e.detector] ?? 0) + e.count;
      perIp.set(client, ipAgg);
      onEvent?.(e);
    }
    decisions.push(...out.decisions);
  };
  const order = new InOrder(verifier, (rec, verdict) => {
    if (verdict.status !== 'not-claimed') claims.set(rec.client_ip, verdict.status);
    given.verdict = verdict;
    engine.process(rec);
    if (++detected % TICK_EVERY === 0) {
      engine.tick(engine.now());
      collect();
    }
  });
  const clients = new ClientKeys(config.detection.ipv6_client_prefix);
  for (const { file, format, fileWrapper } of input.formats) {
    const decoder = new LineDecoder(config, { format, fileWrapper });
    const stream = file === '-' && input.stdin ? input.stdin : await openLogStream(file);
    lines += await forEachLine(
      stream,
      config.ingest.max_line_bytes,
      (line) => {
        if (shard.count > 1 && lineShard(line, shard.count, clients) !== shard.index) return;
        const r = decoder.decode(line, 'file', 0);
        if (!r.ok) {
          rejected[r.reason] = (rejected[r.reason] ?? 0) + 1;
          rejectedSample[r.reason] ??= r.detail;
          return;
        }
        parsed++;
        first ??= r.record.ts;
        last = Math.max(last ?? r.record.ts, r.record.ts);
        // A claiming client's first request waits for its verdict, so a replay's verdicts
        // do not depend on how fast DNS answered (the live path goes on meanwhile).
        return order.offer(r.record);
      },
      () => {
        if (shard.index === 0) rejected.too_long = (rejected.too_long ?? 0) + 1;
      },
    );
  }
  await order.done();
  engine.tick(engine.now());
  engine.flushAll();
  collect();
  verifier?.close();
  return { lines, parsed, rejected, rejected_sample: rejectedSample, late: engine.stats.late, first, last, events, perIp: [...perIp], decisions, claims: [...claims] };
}

/**
 * Threads used when none are asked for: one per detector shard where lineShard finds the
 * client cheaply (the shipped JSON; a format led by the address in a file nginx wrote), else one.
 */
function defaultThreads(config: Config, formats: readonly FileFormat[]): number {
  if (config.ingest.trusted_proxies.length > 0) return 1; // the client may come from X-Forwarded-For: only a parse knows
  const cheap = (f: FileFormat): boolean => f.format === 'json' || (f.fileWrapper === 'none' && (f.format === 'combined' || f.format === MAIN_FORMAT));
  return formats.every(cheap) ? config.detection.shards : 1;
}

export interface BacktestOptions {
  threads?: number;
  /** A format for every file (`--format`), instead of detecting each file's. */
  format?: string;
  /** Verify crawler claims with DNS (the CLI's default; `--no-dns` turns it off). Off unless asked. */
  dns?: boolean;
  onEvent?: (e: SecurityEvent) => void;
}

export async function backtest(config: Config, files: string[], opts: BacktestOptions = {}): Promise<BacktestReport> {
  const t0 = process.hrtime.bigint();
  const { formats, stdin } = await resolveFileFormats(config, files, opts.format);
  const threads = Math.max(1, opts.threads ?? defaultThreads(config, formats));
  let partials: BacktestPartial[];
  if (threads === 1 || stdin) {
    partials = [await backtestShard(config, { formats, stdin, dns: opts.dns === true }, { index: 0, count: 1 }, opts.onEvent)];
  } else {
    const filename = new URL('./backtest-worker.js', import.meta.url);
    partials = await Promise.all(
      Array.from({ length: threads }, (_, index) =>
        new Promise<BacktestPartial>((resolve, reject) => {
          const w = new Worker(filename, { workerData: { config, formats, dns: opts.dns === true, shard: { index, count: threads } } });
          w.once('message', (m: BacktestPartial) => resolve(m));
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new LogwardenError(DETECTOR_ERRORS.LW_DETECTOR_BACKTEST_WORKER_FAILED, `backtest worker exited with ${code}`)));
        }),
      ),
    );
  }
  return report(partials, formats, Number(process.hrtime.bigint() - t0) / 1e9, opts.dns === true);
}

function report(partials: BacktestPartial[], formats: FileFormat[], seconds: number, dns: boolean): BacktestReport {
  const crawlers = { dns, verified: 0, failed: 0, unverified: 0, pending: 0 };
  // Shards own disjoint clients: a claim is counted once.
  for (const p of partials) for (const [, status] of p.claims) if (status !== 'not-claimed') crawlers[status]++;
  const rejected: Record<string, number> = {};
  const rejectedSample: Record<string, string> = {};
  const events: Record<string, { events: number; requests: number }> = {};
  const perIp = new Map<string, Record<string, number>>();
  const decisions: BlockDecision[] = [];
  let parsed = 0;
  let late = 0;
  let first: number | undefined;
  let last: number | undefined;
  for (const p of partials) {
    parsed += p.parsed;
    late += p.late;
    for (const [k, v] of Object.entries(p.rejected)) rejected[k] = (rejected[k] ?? 0) + v;
    for (const [k, v] of Object.entries(p.rejected_sample)) rejectedSample[k] ??= v;
    for (const [k, v] of Object.entries(p.events)) {
      const agg = (events[k] ??= { events: 0, requests: 0 });
      agg.events += v.events;
      agg.requests += v.requests;
    }
    // Shards own disjoint IPs: their per-IP tallies do not overlap.
    for (const [ip, v] of p.perIp) perIp.set(ip, v);
    decisions.push(...p.decisions);
    if (p.first !== undefined) first = Math.min(first ?? p.first, p.first);
    if (p.last !== undefined) last = Math.max(last ?? p.last, p.last);
  }
  decisions.sort((a, b) => a.created_at - b.created_at || a.ip.localeCompare(b.ip));
  const lines = Math.max(0, ...partials.map((p) => p.lines));

  const byIp = new Map<string, BlockedIp>();
  for (const d of decisions) {
    if (d.action !== 'block') continue;
    const seen = byIp.get(d.ip);
    if (seen) {
      seen.blocks++;
      seen.escalation_level = d.escalation_level;
      seen.expires_at = d.expires_at === null ? null : new Date(d.expires_at).toISOString();
      continue;
    }
    byIp.set(d.ip, {
      ip: d.ip,
      blocked_at: new Date(d.created_at).toISOString(),
      expires_at: d.expires_at === null ? null : new Date(d.expires_at).toISOString(),
      escalation_level: d.escalation_level,
      blocks: 1,
      reason: d.reason,
      detectors: perIp.get(d.ip) ?? {},
    });
  }
  return {
    files: formats.length,
    formats,
    lines,
    parsed,
    rejected,
    rejected_sample: rejectedSample,
    late,
    seconds,
    lines_per_second: Math.round(lines / Math.max(seconds, 1e-9)),
    first_ts: first === undefined ? null : new Date(first).toISOString(),
    last_ts: last === undefined ? null : new Date(last).toISOString(),
    events,
    blocked: [...byIp.values()].sort((a, b) => a.blocked_at.localeCompare(b.blocked_at) || a.ip.localeCompare(b.ip)),
    decisions,
    crawlers,
  };
}

export function formatBacktest(r: BacktestReport): string {
  const out: string[] = [];
  out.push(`backtest: ${r.lines} lines from ${r.files} file(s), ${r.first_ts ?? '-'} → ${r.last_ts ?? '-'}, in ${r.seconds.toFixed(2)} s (${r.lines_per_second} lines/s)`);
  const rej = Object.entries(r.rejected).map(([k, v]) => `${k} ${v}`).join(', ');
  for (const f of r.formats) out.push(`  ${f.file}: ${describeFormat(f)}`);
  out.push(`  parsed ${r.parsed}${rej ? `, rejected: ${rej}` : ''}${r.late ? `, late ${r.late}` : ''}`);
  const c = r.crawlers;
  if (c.verified + c.failed + c.unverified + c.pending > 0 || !c.dns) {
    out.push(
      c.dns
        ? `  crawler claims: ${c.verified} verified, ${c.failed} refuted by DNS, ${c.unverified + c.pending} without a verdict`
        : `  crawler claims: ${c.unverified} clients, not verified (--no-dns: offline, judged by behaviour like any client)`,
    );
  }
  out.push('', 'events by detector:');
  for (const [det, v] of Object.entries(r.events).sort((a, b) => b[1].requests - a[1].requests)) {
    out.push(`  ${det.padEnd(28)} ${String(v.events).padStart(7)} events ${String(v.requests).padStart(9)} requests`);
  }
  out.push('', `would have blocked ${r.blocked.length} IP(s):`);
  out.push(`  ${'blocked at (event time)'.padEnd(25)} ${'ip'.padEnd(40)} ${'level'.padStart(5)}  detectors (offending requests)`);
  for (const b of r.blocked) {
    const dets = Object.entries(b.detectors).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    out.push(`  ${b.blocked_at.padEnd(25)} ${b.ip.padEnd(40)} ${String(b.escalation_level).padStart(5)}  ${dets}`);
  }
  return `${out.join('\n')}\n`;
}
