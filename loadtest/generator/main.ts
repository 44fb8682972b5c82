#!/usr/bin/env node
// The traffic generator's command line (see loadtest/README.md).
//
//   node dist/loadtest/generator/main.js write --lines 1000000 --seed 7 --format syslog-json --out access.log --truth truth.json
//   node dist/loadtest/generator/main.js blast --udp 127.0.0.1:5514 --rate 100000 --seconds 10 --from access.log
//   node dist/loadtest/generator/main.js count --udp 127.0.0.1:5514 --seconds 12
import { fork } from 'node:child_process';
import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createGzip, type Gzip } from 'node:zlib';
import { TrafficGenerator, ATTACK_KINDS, PACED_ATTACK_KINDS, emptyRequest, type AnyAttackKind, type GroundTruth, type TrafficOptions } from './traffic.js';
import { LineFormatter, OUTPUT_FORMATS, isOutputFormat, type OutputFormat } from './format.js';
import {
  BlastTargetError, MAX_SECONDS, blast, count, parseLoopbackTarget, type BlastStats, type Framing, type Target,
} from './blast.js';
import { fileLines, generatedLines } from './sources.js';

const USAGE = `logwarden traffic generator

usage: node dist/loadtest/generator/main.js <command> [options]

  write  --lines N --seed S --format ${OUTPUT_FORMATS.join('|')} --out FILE|- [--truth FILE]
         [--start ISO] [--duration 10m] [--ipv6-share 0.15] [--attackers N | kind=N,...] [--mix classic|hard]
         Writes N lines (FILE.gz is gzipped) and the ground truth. Default start 2026-11-21T06:00:00Z.
         --mix hard adds benign traffic at and above the thresholds (verified crawlers, a NAT'd
         office, mistyped passwords, single-page apps, health checks, a CDN with X-Forwarded-For)
         and attackers at other paces; with --truth it also writes the DNS records the crawlers
         need beside it (truth.dns.json: {host: [[name, address]], ptr: [[address, name]]}).

  blast  (--udp HOST:PORT | --tcp HOST:PORT [--framing newline|octet]) --rate R --seconds T
         [--max-lines N] (--from FILE | --seed S [--format F] [--start ISO] [--duration D]) [--procs N]
         Sends lines at R lines/s for at most T s (T <= ${MAX_SECONDS}) and N lines, to loopback only
         (127.0.0.0/8, ::1). --seed generates syslog-json lines on the fly (start: now); --procs
         splits the work over N processes (lines i, i+N, ... of --from; seeds S+i with --seed).
         Prints {"sent", "seconds", "rate", ...} as JSON.

  count  (--udp HOST:PORT | --tcp HOST:PORT [--framing newline|octet]) --seconds T
         Listens on a loopback address and counts what arrives: a null receiver for blast.

attacker kinds: ${ATTACK_KINDS.join(', ')}; with --mix hard also ${PACED_ATTACK_KINDS.join(', ')}
exit codes: 0 ok, 1 failure, 2 usage error or refused target`;

const DEFAULT_START = Date.UTC(2026, 10, 21, 6, 0, 0);

class UsageError extends Error {}

function need(v: string | undefined, name: string): string {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

function int(v: string | undefined, name: string, min = 0): number {
  const s = need(v, name).replace(/_/g, '');
  if (!/^\d+$/.test(s) || Number(s) < min || !Number.isSafeInteger(Number(s))) throw new UsageError(`--${name} must be an integer >= ${min}, got "${v}"`);
  return Number(s);
}

function num(v: string | undefined, name: string): number {
  const n = Number(need(v, name).replace(/_/g, ''));
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  return n;
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`bad duration "${text}" (examples: 90s, 10m, 2h)`);
  const unit = m[2] ?? 'ms';
  return Math.round(Number(m[1]) * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1));
}

function parseStart(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const t = Date.parse(text);
  if (!Number.isFinite(t)) throw new UsageError(`--start must be an ISO date, got "${text}"`);
  return t;
}

export function parseAttackers(text: string | undefined): Partial<Record<AnyAttackKind, number>> | undefined {
  if (text === undefined) return undefined;
  const all: readonly string[] = [...ATTACK_KINDS, ...PACED_ATTACK_KINDS];
  if (/^\d+$/.test(text)) return Object.fromEntries(all.map((k) => [k, Number(text)]));
  const out: Partial<Record<AnyAttackKind, number>> = {};
  for (const part of text.split(',')) {
    const [k, v] = part.split('=');
    if (!all.includes(k ?? '') || v === undefined || !/^\d+$/.test(v)) {
      throw new UsageError(`--attackers: "${part}" is not kind=N (kinds: ${all.join(', ')})`);
    }
    out[k as AnyAttackKind] = Number(v);
  }
  return out;
}

function format(v: string | undefined, fallback: OutputFormat): OutputFormat {
  const f = v ?? fallback;
  if (!isOutputFormat(f)) throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got "${f}"`);
  return f;
}

/** Where the DNS records of a hard corpus go: beside its truth file (truth.json → truth.dns.json). */
export function dnsFileOf(truthFile: string): string {
  return truthFile.endsWith('.json') ? `${truthFile.slice(0, -5)}.dns.json` : `${truthFile}.dns.json`;
}

/** The ground truth with one client per line: diffable and greppable at a million clients. */
export function truthToJson(t: GroundTruth): string {
  const { clients, ...head } = t;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(head)) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  const rows = Object.entries(clients).map(([ip, c]) => `${JSON.stringify(ip)}:${JSON.stringify(c)}`);
  return `{\n${parts.join(',\n')},\n"clients":{\n${rows.join(',\n')}\n}}\n`;
}

async function writeAll(sink: WriteStream | Gzip | NodeJS.WriteStream, chunk: Buffer): Promise<void> {
  if (!sink.write(chunk)) await once(sink, 'drain');
}

async function cmdWrite(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      lines: { type: 'string' }, seed: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' },
      truth: { type: 'string' }, start: { type: 'string' }, duration: { type: 'string' }, 'ipv6-share': { type: 'string' },
      attackers: { type: 'string' }, mix: { type: 'string' },
    },
    strict: true,
  });
  const mix = values.mix ?? 'classic';
  if (mix !== 'classic' && mix !== 'hard') throw new UsageError(`--mix must be classic or hard, got "${mix}"`);
  const opts: TrafficOptions = {
    mix,
    lines: int(values.lines, 'lines', 1),
    seed: int(values.seed, 'seed'),
    startMs: parseStart(values.start, DEFAULT_START),
  };
  if (values.duration !== undefined) opts.durationMs = parseDuration(values.duration);
  if (values['ipv6-share'] !== undefined) opts.ipv6Share = num(values['ipv6-share'], 'ipv6-share');
  const attackers = parseAttackers(values.attackers);
  if (attackers !== undefined) opts.attackers = attackers;
  const fmt = format(values.format, 'json');
  const out = need(values.out, 'out');

  const t0 = performance.now();
  const gen = new TrafficGenerator(opts);
  const formatter = new LineFormatter(fmt);
  const toStdout = out === '-';
  const file = toStdout ? undefined : createWriteStream(out, { highWaterMark: 4 << 20 });
  const gz = out.endsWith('.gz') ? createGzip({ level: 4 }) : undefined;
  if (gz !== undefined && file !== undefined) gz.pipe(file);
  const sink = gz ?? file ?? process.stdout;
  if (toStdout) {
    // A reader that stops early (| head) closes the pipe: that ends the run, quietly.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
  const fileDone = file === undefined ? undefined : once(file, 'finish');

  // Lines go straight into large buffers (one copy), which go to the stream whole.
  const CHUNK = 1 << 20;
  let buf = Buffer.allocUnsafe(CHUNK);
  let off = 0;
  const r = emptyRequest();
  while (gen.nextInto(r)) {
    const need = formatter.maxLineBytes(r) + 1;
    if (off + need > buf.length) {
      await writeAll(sink, buf.subarray(0, off));
      buf = Buffer.allocUnsafe(Math.max(CHUNK, need));
      off = 0;
    }
    off = formatter.writeLine(r, buf, off);
    buf[off++] = 10;
  }
  if (off > 0) await writeAll(sink, buf.subarray(0, off));
  if (sink !== process.stdout) sink.end();
  if (fileDone !== undefined) await fileDone;
  const seconds = (performance.now() - t0) / 1000;

  const truth = gen.truth();
  if (values.truth !== undefined) {
    const tf = createWriteStream(values.truth);
    tf.end(truthToJson(truth));
    await once(tf, 'finish');
    if (mix === 'hard') writeFileSync(dnsFileOf(values.truth), `${JSON.stringify(gen.dnsRecords())}\n`);
  }
  const summary = {
    lines: gen.produced,
    seconds: Math.round(seconds * 1000) / 1000,
    lines_per_s: Math.round(gen.produced / seconds),
    format: fmt,
    out,
    truth: values.truth ?? null,
    start: new Date(truth.start_ms).toISOString(),
    end: new Date(truth.end_ms).toISOString(),
    clients: Object.keys(truth.clients).length,
    attackers: truth.summary.attackers,
  };
  (toStdout ? process.stderr : process.stdout).write(`${JSON.stringify(summary)}\n`);
}

function targetOf(values: { udp?: string | undefined; tcp?: string | undefined }): { protocol: 'udp' | 'tcp'; target: Target } {
  if ((values.udp === undefined) === (values.tcp === undefined)) throw new UsageError('give exactly one of --udp HOST:PORT or --tcp HOST:PORT');
  const protocol = values.udp !== undefined ? 'udp' : 'tcp';
  return { protocol, target: parseLoopbackTarget((values.udp ?? values.tcp) as string) };
}

function framingOf(v: string | undefined): Framing {
  const f = v ?? 'newline';
  if (f !== 'newline' && f !== 'octet') throw new UsageError(`--framing must be newline or octet, got "${f}"`);
  return f;
}

async function cmdBlast(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      udp: { type: 'string' }, tcp: { type: 'string' }, framing: { type: 'string' }, rate: { type: 'string' },
      seconds: { type: 'string' }, 'max-lines': { type: 'string' }, from: { type: 'string' }, seed: { type: 'string' },
      format: { type: 'string' }, start: { type: 'string' }, duration: { type: 'string' }, procs: { type: 'string' }, shard: { type: 'string' },
    },
    strict: true,
  });
  // The target is checked first: a refused address never gets a socket, a child process, or a generated line.
  const { protocol, target } = targetOf(values);
  const framing = framingOf(values.framing);
  const rate = num(values.rate, 'rate');
  const seconds = num(values.seconds ?? '10', 'seconds');
  if (!(seconds > 0 && seconds <= MAX_SECONDS)) throw new UsageError(`--seconds must be within (0, ${MAX_SECONDS}]`);
  if (!(rate > 0)) throw new UsageError('--rate must be positive');
  const maxLines = values['max-lines'] === undefined ? Math.ceil(rate * seconds) : int(values['max-lines'], 'max-lines', 1);
  if ((values.from === undefined) === (values.seed === undefined)) throw new UsageError('give exactly one of --from FILE or --seed S');
  const procs = values.procs === undefined ? 1 : int(values.procs, 'procs', 1);
  if (procs > 16) throw new UsageError('--procs: at most 16');

  if (procs > 1 && values.shard === undefined) {
    const stats = await forkShards(procs);
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    return;
  }

  let shard = 0;
  let shards = 1;
  if (values.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(values.shard);
    if (m === null || Number(m[1]) >= Number(m[2])) throw new UsageError('--shard must be I/N with I < N');
    shard = Number(m[1]);
    shards = Number(m[2]);
  }
  const shareOf = (total: number): number => Math.floor(total / shards) + (shard < total % shards ? 1 : 0);
  const myMax = shareOf(maxLines);
  let lines: Iterator<Buffer>;
  if (values.from !== undefined) {
    lines = fileLines(values.from, shard, shards);
  } else {
    const opts: TrafficOptions = {
      seed: int(values.seed, 'seed') + shard,
      lines: Math.max(1, myMax),
      startMs: parseStart(values.start, Math.floor(Date.now() / 1000) * 1000),
    };
    if (values.duration !== undefined) opts.durationMs = parseDuration(values.duration);
    lines = generatedLines(opts, format(values.format, 'syslog-json'));
  }
  const stats = await blast({ protocol, target, framing, rate: rate / shards, seconds, maxLines: myMax }, lines);
  if (process.send !== undefined && values.shard !== undefined) process.send(stats);
  else process.stdout.write(`${JSON.stringify(stats)}\n`);
}

/** Runs this same command in `procs` children, each with its share (--shard i/procs), and adds their figures up. */
async function forkShards(procs: number): Promise<Record<string, unknown>> {
  const self = fileURLToPath(import.meta.url);
  const args = process.argv.slice(3);
  const results = await Promise.all(
    Array.from({ length: procs }, async (_, i) => {
      const child = fork(self, ['blast', ...args, '--shard', `${i}/${procs}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let got: BlastStats | undefined;
      child.on('message', (m) => {
        got = m as BlastStats;
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      if (code !== 0 || got === undefined) throw new Error(`blast process ${i} failed (exit ${code})`);
      return got;
    }),
  );
  const sent = results.reduce((a, r) => a + r.sent, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return {
    sent,
    seconds,
    rate: Math.round(sent / seconds),
    target_rate: results.reduce((a, r) => a + r.target_rate, 0),
    bytes: results.reduce((a, r) => a + r.bytes, 0),
    errors: results.reduce((a, r) => a + r.errors, 0),
    procs,
    per_process: results,
  };
}

async function cmdCount(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { udp: { type: 'string' }, tcp: { type: 'string' }, framing: { type: 'string' }, seconds: { type: 'string' } },
    strict: true,
  });
  const { protocol, target } = targetOf(values);
  const stats = await count(protocol, target, num(values.seconds ?? '10', 'seconds'), framingOf(values.framing));
  process.stdout.write(`${JSON.stringify(stats)}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'write':
        await cmdWrite(rest);
        return 0;
      case 'blast':
        await cmdBlast(rest);
        return 0;
      case 'count':
        await cmdCount(rest);
        return 0;
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof BlastTargetError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    process.stderr.write(`generator: ${(err as Error).message}\n`);
    return usage || err instanceof RangeError ? 2 : 1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
