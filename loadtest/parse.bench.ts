// Parse + encode throughput of the ingester's hot path, per core: a received
// datagram (bytes, syslog header included) → AccessRecord → Confluent-framed
// Avro, for the shipped JSON format, nginx's `combined`, and a custom format.
// Printed beside it, from the same run and the same requests: a plain peer
// pipeline (JSON.parse + JSON.stringify for JSON lines; one regular
// expression + JSON.stringify for combined lines) and the ratio. Figures, not
// assertions: the machine is shared.
//
//   node dist/loadtest/parse.bench.js [N]     (N lines per case and round, default 100000;
//                                              2 to 5 rounds, as many as fit in about 7 s a format)
//
// Two floors from the same lines bound what a JavaScript parser can reach: a
// loop that only reads each byte once, and the native search that only finds
// the quotes (printed and recorded, no aim).
//
// Each format runs in a child process of its own, as in production (one
// ingester, one format): in one process the three formats would share call
// sites and leave them polymorphic, which no real ingester sees. Timing is CPU
// time of the process ("per core"), so a busy machine stretches the wall
// clock but not the figures; wall-clock rates are printed beside them.
//
// Lines are made here from a fixed seed (a pool of distinct realistic
// requests, benign with a share of scanners, UTF-8 and TLS noise), so runs
// compare; the traffic generator in loadtest/generator/ is for the end-to-end
// benchmark.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { accessRecordCodec } from '../shared/avro/codec.js';
import type { AccessRecord } from '../shared/records.js';
import { compileTrustedProxies, type LineResult, type RecordContext } from '../shared/access-log/record.js';
import { createRawLineParser } from '../shared/access-log/formats/index.js';
import { createLineEncoder } from '../shared/access-log/line-encoder.js';
import { Rng } from './generator/prng.js';
import { figure } from './report-figures.js';

const N = Number.parseInt(process.argv[2] ?? '100000', 10);
if (!Number.isInteger(N) || N <= 0) {
  console.error('usage: node dist/loadtest/parse.bench.js [N]   (N > 0)');
  process.exit(2);
}
type Format = 'json' | 'combined' | 'custom';
const child = process.argv[3] as Format | undefined;
const POOL = 4096; // power of two: index with a mask
const MASK = POOL - 1;

// The traffic generator's seeded PRNG: figures are reproducible run to run.
const rng = new Rng(0x6c6f6777);
const rand = (): number => rng.float();
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const int = (n: number): number => Math.floor(rand() * n);

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'curl/8.5.0',
  'python-requests/2.31.0',
  'Mozilla/5.0 zgrab/0.x',
  'Bücherwurm/1.0 (+https://bücher.example/bot)',
  'sqlmap/1.8 (https://sqlmap.org) "probe"',
  '',
];
const BENIGN = ['/', '/login', '/api/v1/orders/{id}', '/api/v1/users/{id}/cart', '/static/app.{hex}.js', '/static/css/site.css', '/product/{id}?ref=home', '/search?q=red+shoes&page={n}', '/images/{id}.webp', '/checkout'];
const SCANS = ['/.env', '/wp-login.php', '/.git/config', '/cgi-bin/%2e%2e/%2e%2e/bin/sh', '/static/../../etc/passwd', '/index.php?id=1%27%20OR%201=1--', '/admin//config.php', '/%252e%252e/%252e%252e/etc/shadow'];
const HOSTS = ['shop.example.com', 'api.example.com', 'www.example.org'];
const REFS = ['', '', 'https://shop.example.com/', 'https://www.google.com/'];
const TLS_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

interface Req {
  tsMs: number;
  ip: string;
  xff: string;
  method: string;
  host: string;
  uri: string;
  status: number;
  bytes: number;
  rt: string;
  ut: string;
  ua: string;
  referer: string;
  country: string;
  user: string;
  rid: string;
  garbage: boolean;
}

function request(i: number): Req {
  const scanner = rand() < 0.08;
  const garbage = rand() < 0.005;
  const ip = rand() < 0.2 ? `2001:db8:${int(0xffff).toString(16)}::${int(0xffff).toString(16)}` : `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
  const uri = (scanner ? pick(SCANS) : pick(BENIGN))
    .replace('{id}', String(int(100_000)))
    .replace('{hex}', int(0xffffff).toString(16))
    .replace('{n}', String(1 + int(9)));
  const up = uri.startsWith('/static') || garbage ? '' : (int(300) / 1000).toFixed(3);
  return {
    // ~1000 requests a second, in order: lines share their second as real traffic does.
    tsMs: 1_795_240_844_000 + i,
    ip,
    xff: rand() < 0.1 ? `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}` : '',
    method: garbage ? '' : rand() < 0.85 ? 'GET' : 'POST',
    host: pick(HOSTS),
    uri: garbage ? '' : uri,
    status: garbage ? 400 : scanner ? pick([404, 404, 403, 400]) : pick([200, 200, 200, 200, 304, 301, 404, 500]),
    bytes: int(200_000),
    rt: up === '' ? '0.000' : (Number(up) + 0.001).toFixed(3),
    ut: up,
    ua: scanner ? pick(UAS.slice(5)) : pick(UAS),
    referer: pick(REFS),
    country: pick(['DE', 'US', 'FR', 'NL', 'CN', 'BR', '']),
    user: rand() < 0.03 ? 'alice' : '',
    rid: int(2 ** 52).toString(16).padStart(32, '0'),
    garbage,
  };
}

/** nginx escape=default: `"`, `\` and bytes outside 0x20..0x7E as \xHH. */
function escBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b === 0x22 || b === 0x5c || b < 0x20 || b >= 0x7f ? `\\x${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}
const escDefault = (s: string): string => escBytes(Buffer.from(s, 'utf8'));
const dash = (s: string): string => (s === '' ? '-' : s);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function timeLocal(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const syslog = (msg: string): Buffer => Buffer.from(`<190>Nov 21 06:00:44 edge-1 nginx: ${msg}`, 'utf8');

function jsonLine(r: Req): string {
  return JSON.stringify({
    ts: (r.tsMs / 1000).toFixed(3), node: 'edge-1', deployment: '', client_ip: r.ip, xff: r.xff, method: r.method, host: r.host, uri: r.uri,
    status: String(r.status), bytes: String(r.bytes), request_time: r.rt, upstream_time: r.ut, user_agent: r.ua, referer: r.referer,
    country: r.country, auth_user: r.user, request_id: r.rid, blocked_by: '', filter_alert: '', logwarden_challenge: '',
  });
}
function requestLine(r: Req): string {
  return r.garbage ? escBytes(TLS_HELLO) : escDefault(`${r.method} ${r.uri} HTTP/1.1`);
}
function combinedLine(r: Req): string {
  return `${r.ip} - ${dash(r.user)} [${timeLocal(r.tsMs)}] "${requestLine(r)}" ${r.status} ${r.bytes} "${dash(escDefault(r.referer))}" "${dash(escDefault(r.ua))}"`;
}
/** A widespread "timed" variant of combined (nginx docs / Debian examples). */
const CUSTOM_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" ' +
  '"$http_x_forwarded_for" rt=$request_time uct="$upstream_connect_time" urt="$upstream_response_time" host=$host rid=$request_id';
function customLine(r: Req): string {
  const uct = r.ut === '' ? '-' : '0.001';
  return `${combinedLine(r)} "${dash(r.xff)}" rt=${r.rt} uct="${uct}" urt="${dash(r.ut)}" host=${r.host} rid=${r.rid}`;
}

const LINE_OF: Record<Format, (r: Req) => string> = { json: jsonLine, combined: combinedLine, custom: customLine };
const FORMAT_OF: Record<Format, string> = { json: 'json', combined: 'combined', custom: CUSTOM_FORMAT };

// The peers: what a plain JavaScript pipeline would do with the same bytes.
const COMBINED_RE = /^(\S+) - (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/;
function peerJson(buf: Buffer): Buffer {
  const s = buf.toString('utf8');
  return Buffer.from(JSON.stringify(JSON.parse(s.slice(s.indexOf(': ') + 2)) as unknown));
}
function peerRegex(buf: Buffer): Buffer {
  const s = buf.toString('utf8');
  const m = COMBINED_RE.exec(s.slice(s.indexOf(': ') + 2));
  if (m === null) throw new Error('peer regex did not match');
  return Buffer.from(JSON.stringify({ ip: m[1], user: m[2], time: m[3], request: m[4], status: Number(m[5]), bytes: Number(m[6]), referer: m[7], ua: m[8] }));
}
const PEER_OF: Partial<Record<Format, [string, (b: Buffer) => Buffer]>> = {
  json: ['peer JSON.parse+stringify', peerJson],
  combined: ['peer regex+stringify', peerRegex],
};

interface Timing {
  /** Wall-clock ns per line. */
  wall: number;
  /** CPU ns per line, every thread of the process (GC helpers included). */
  cpu: number;
}

/** One format, in this process: prints its timings as one JSON line. */
function runChild(format: Format): void {
  const reqs = Array.from({ length: POOL }, (_, i) => request(i));
  const lines = reqs.map((r) => syslog(LINE_OF[format](r)));
  const ctx: RecordContext = {
    deployments: { 'shop.example.com': 'shop', 'api.example.com': 'api' },
    trustedProxies: compileTrustedProxies([]),
    defaultNode: 'edge-0',
  };
  const parse = createRawLineParser({ format: FORMAT_OF[format], ctx, maxLineBytes: 65_536, oversize: 'reject', syslog: true });
  // The shipped path (services/ingester/pipeline.ts): the one-pass encoder, and the parser + codec for lines it leaves.
  const encoder = createLineEncoder({ format: FORMAT_OF[format], ctx, maxLineBytes: 65_536, schemaId: accessRecordCodec.schemaId, syslog: true });
  const RECEIVED_AT = 1_795_240_900_000;
  // Every pool line must make a record: a benchmark of rejections would flatter.
  const records: AccessRecord[] = [];
  for (const buf of lines) {
    const r: LineResult = parse(buf, RECEIVED_AT);
    if (!r.ok) {
      console.error(`${format}: a generated line was rejected (${r.reason}: ${r.detail}): ${buf.toString()}`);
      process.exit(1);
    }
    records.push(r.record);
  }
  // Printed so that no loop is optimised away. Kept in int32 (`| 0`): grown past a
  // small integer it would be boxed, and every case that adds to it would slow.
  let sink = 0;
  const cases: Array<[string, (n: number) => void]> = [
    ['parse', (n) => {
      for (let i = 0; i < n; i++) {
        const r = parse(lines[i & MASK] as Buffer, RECEIVED_AT);
        if (r.ok) sink = (sink + r.record.status) | 0;
      }
    }],
    ['parse + encode', (n) => {
      for (let i = 0; i < n; i++) {
        const line = lines[i & MASK] as Buffer;
        const e = encoder?.(line, RECEIVED_AT);
        if (e !== undefined) sink = (sink + e.value.length) | 0;
        else {
          const r = parse(line, RECEIVED_AT);
          if (r.ok) sink = (sink + accessRecordCodec.encode(r.record).length) | 0;
        }
      }
    }],
    // The path before the one-pass encoder: parse to an AccessRecord, then the codec.
    ['parse + encode, record path', (n) => {
      for (let i = 0; i < n; i++) {
        const r = parse(lines[i & MASK] as Buffer, RECEIVED_AT);
        if (r.ok) sink = (sink + accessRecordCodec.encode(r.record).length) | 0;
      }
    }],
    ['encode alone', (n) => {
      for (let i = 0; i < n; i++) sink = (sink + accessRecordCodec.encode(records[i & MASK] as AccessRecord).length) | 0;
    }],
    // What encode cost before the hand-written writer (shared/avro/access-record-writer.ts): avsc's generic one.
    ['encode alone, avsc generic', (n) => {
      for (let i = 0; i < n; i++) sink = (sink + accessRecordCodec.type.toBuffer(records[i & MASK]).length) | 0;
    }],
  ];
  // Floors of the same lines, for what bounds the cases above (no parse, no record):
  // a JavaScript loop that reads each byte once, and the native search
  // (Buffer#indexOf, memchr) that finds every quote of a line.
  cases.push(['floor: read each byte (JS)', (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const line = lines[i & MASK] as Buffer;
      for (let j = 0; j < line.length; j++) sum = (sum + (line[j] as number)) | 0;
    }
    sink = (sink + (sum & 1)) | 0;
  }]);
  cases.push(['floor: find each quote (native)', (n) => {
    let quotes = 0;
    for (let i = 0; i < n; i++) {
      const line = lines[i & MASK] as Buffer;
      for (let q = line.indexOf(34); q >= 0; q = line.indexOf(34, q + 1)) quotes = (quotes + 1) | 0;
    }
    sink = (sink + (quotes & 1)) | 0;
  }]);
  const peer = PEER_OF[format];
  if (peer) {
    const fn = peer[1];
    cases.push([peer[0], (n) => {
      for (let i = 0; i < n; i++) sink = (sink + fn(lines[i & MASK] as Buffer).length) | 0;
    }]);
  }
  const time = (fn: (n: number) => void, n: number): Timing => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn(n);
    const wall = Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    return { wall: wall / n, cpu: ((c.user + c.system) * 1000) / n };
  };
  const started = Date.now();
  // Warm every case before timing any, so the JIT has settled for all.
  for (const [, fn] of cases) time(fn, Math.min(N, 50_000));
  // Rounds go through every case in turn and each case keeps its best round: a
  // busy neighbour slows one round of every case, not every round of one case.
  const best: Record<string, Timing> = {};
  let rounds = 0;
  while (rounds < 5 && (rounds < 2 || Date.now() - started < 7_000)) {
    for (const [name, fn] of cases) {
      const t = time(fn, N);
      const b = best[name];
      best[name] = { wall: Math.min(b?.wall ?? Infinity, t.wall), cpu: Math.min(b?.cpu ?? Infinity, t.cpu) };
    }
    rounds++;
  }
  const bytes = lines.reduce((s, b) => s + b.length, 0) / lines.length;
  console.log(JSON.stringify({ format, rounds, bytes, best, sink }));
}

function main(): void {
  const self = fileURLToPath(import.meta.url);
  const started = Date.now();
  const results: Array<{ format: Format; rounds: number; bytes: number; best: Record<string, Timing> }> = [];
  for (const format of ['json', 'combined', 'custom'] as const) {
    const r = spawnSync(process.execPath, [...process.execArgv, self, String(N), format], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) {
      console.error(`${format}: benchmark child failed (exit ${r.status ?? r.signal})`);
      process.exit(1);
    }
    results.push(JSON.parse(r.stdout.trim().split('\n').pop() as string) as (typeof results)[number]);
  }
  const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const [l1, l5] = os.loadavg();
  console.log(
    `ingester parse+encode, one core: ${fmt(N)} lines per case and round, pool of ${POOL} distinct lines with their syslog header, ` +
      `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown CPU'}), load average ${fmt(l1 ?? 0, 1)}/${fmt(l5 ?? 0, 1)}`,
  );
  // "Per core" is per CPU-second of the process: a busy machine stretches the wall clock, not the CPU time a line costs.
  console.log(`${'case'.padEnd(36)}${'lines/s/core'.padStart(14)}${'CPU ns/line'.padStart(13)}${'wall lines/s'.padStart(14)}`);
  const rate = (t: Timing | undefined): number => 1e9 / (t?.cpu ?? NaN);
  for (const r of results) {
    for (const [name, t] of Object.entries(r.best)) {
      console.log(`${`${r.format}: ${name}`.padEnd(36)}${fmt(rate(t)).padStart(14)}${fmt(t.cpu).padStart(13)}${fmt(1e9 / t.wall).padStart(14)}`);
    }
  }
  const get = (f: Format): (typeof results)[number] => results.find((r) => r.format === f) as (typeof results)[number];
  const json = get('json');
  const combined = get('combined');
  const custom = get('custom');
  console.log(`line sizes: json ${fmt(json.bytes)} B, combined ${fmt(combined.bytes)} B, custom ${fmt(custom.bytes)} B; rounds ${results.map((r) => r.rounds).join('/')}`);
  const ratio = (r: (typeof results)[number], peer: string): string => fmt(rate(r.best['parse + encode']) / rate(r.best[peer]), 2);
  console.log(`json parse+encode vs the peer JSON.parse+JSON.stringify on the same lines: ${ratio(json, 'peer JSON.parse+stringify')}x`);
  console.log(`combined parse+encode vs the peer regex+JSON.stringify on the same lines: ${ratio(combined, 'peer regex+stringify')}x`);
  const aim = (r: (typeof results)[number], target: number): string =>
    `${fmt(rate(r.best['parse + encode']))}/s (aim ${fmt(target)}/s: ${rate(r.best['parse + encode']) >= target ? 'met' : 'not met'})`;
  console.log(`aims, parse+encode per core: json ${aim(json, 1_000_000)}; combined ${aim(combined, 1_000_000)}`);
  const onePass = (r: (typeof results)[number]): string => fmt(rate(r.best['parse + encode']) / rate(r.best['parse + encode, record path']), 2);
  console.log(`one-pass encoder (shipped) vs the record path (parse to an AccessRecord, then the codec), same lines, alternate rounds: json ${onePass(json)}x, combined ${onePass(combined)}x`);
  console.log(
    `Avro encode alone of a parsed record runs ${fmt(rate(json.best['encode alone']))}/s (json records). ` +
      `Parse alone: json ${fmt(rate(json.best.parse))}/s, combined ${fmt(rate(combined.best.parse))}/s, custom ${fmt(rate(custom.best.parse))}/s. ` +
      `Hand-written Avro writer vs avsc's generic writer on the same json records: ${fmt(rate(json.best['encode alone']) / rate(json.best['encode alone, avsc generic']), 2)}x.`,
  );
  const peerOf = (r: (typeof results)[number], name: string): { name: string; value: number } => ({ name, value: rate(r.best[name]) });
  figure({ bench: 'parse', name: 'json parse+encode, one core', value: rate(json.best['parse + encode']), unit: 'lines/s', peer: peerOf(json, 'peer JSON.parse+stringify'), better: 'higher', aim: 1_000_000 });
  figure({ bench: 'parse', name: 'combined parse+encode, one core', value: rate(combined.best['parse + encode']), unit: 'lines/s', peer: peerOf(combined, 'peer regex+stringify'), better: 'higher', aim: 1_000_000 });
  const floor = (r: (typeof results)[number], name: string): string => `${fmt(rate(r.best[name]))}/s (${fmt(r.best[name]?.cpu ?? NaN)} ns)`;
  console.log(
    `floors, per core, same lines (the aim of 1M/s allows 1,000 ns a line): reading each byte once in JavaScript, json ${floor(json, 'floor: read each byte (JS)')}, ` +
      `combined ${floor(combined, 'floor: read each byte (JS)')}; finding each quote with the native search alone, json ${floor(json, 'floor: find each quote (native)')}, ` +
      `combined ${floor(combined, 'floor: find each quote (native)')}`,
  );
  for (const r of [json, combined]) {
    figure({ bench: 'parse', name: `floor: ${r.format} lines read byte by byte in JavaScript, one core`, value: rate(r.best['floor: read each byte (JS)']), unit: 'lines/s', better: 'higher' });
  }
  figure({ bench: 'parse', name: 'custom format parse+encode, one core', value: rate(custom.best['parse + encode']), unit: 'lines/s', better: 'higher' });
  for (const r of results) figure({ bench: 'parse', name: `${r.format} parse alone, one core`, value: rate(r.best.parse), unit: 'lines/s', better: 'higher' });
  figure({
    bench: 'parse',
    name: 'Avro encode alone, one core',
    value: rate(json.best['encode alone']),
    unit: 'records/s',
    peer: peerOf(json, 'encode alone, avsc generic'),
    better: 'higher',
  });
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

if (child === undefined) main();
else runChild(child);
