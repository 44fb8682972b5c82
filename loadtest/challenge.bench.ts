// What the CHALLENGE response costs (lua/logwarden/challenge.lua), at a real
// nginx with wrk (keep-alive, one thread, 3 s per case by default): requests/s
// of a clean client (baseline), of a challenged client holding a valid cookie
// (one HMAC-SHA1 per request on top of the check), and of a challenged client
// without one (each answer is the page); and the work a browser does once per
// cookie: the page's own script (challenge.js, SHA-1 in JavaScript) solving
// tokens at the default difficulty, in Node's V8.
//
//   node dist/loadtest/challenge.bench.js [--seconds N] [--solves N]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLocalNginx } from '../shared/local-nginx.js';
import { signNodeRequest } from '../shared/node-auth.js';
import { CHALLENGE } from '../shared/security-filter/index.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, solves: { type: 'string', default: '20' } } });
const seconds = Math.min(30, Math.max(1, Number(values.seconds)));
const solves = Math.min(200, Math.max(1, Number(values.solves)));
const bits = CHALLENGE.difficultyBits.default;
const root = fileURLToPath(new URL('../..', import.meta.url));

// ---- the browser's side: the page's script, its sha1 and zeros(), run in V8.
const script = readFileSync(`${root}lua/logwarden/challenge.js`, 'utf8');
const fns = script.slice(script.indexOf('  function rol'), script.indexOf('  if (!navigator.cookieEnabled)'));
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the shipped page's own functions, read from the repository
const make = new Function(`${fns}; return { sha1, zeros };`) as () => { sha1: (s: string) => number[]; zeros: (h: number[]) => number };
const { sha1, zeros } = make();
let hashes = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < solves; i++) {
  const token = `${1_900_000_000 + i}.${createHash('sha1').update(String(i)).digest('hex')}`;
  for (let n = 0; ; n++) {
    hashes++;
    if (zeros(sha1(`${token}.${n}`)) >= bits) break;
  }
}
const solveMs = Number(process.hrtime.bigint() - t0) / 1e6 / solves;
console.log(`browser work: ${solves} tokens at ${bits} bits, ${(hashes / solves).toFixed(0)} hashes each on average, ${solveMs.toFixed(1)} ms per solve (the page's script in V8)`);
figure({ bench: 'challenge', name: `page's proof of work at ${bits} bits (V8, mean of ${solves})`, value: solveMs, unit: 'ms', better: 'lower', note: `${(hashes / solves).toFixed(0)} SHA-1 per solve on average` });

// ---- the server's side.
if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) {
  console.log('wrk is not installed (apt-get install wrk): the nginx part is skipped');
  process.exit(0);
}
const sink = '127.0.0.1:9';
const nginx = await startLocalNginx({ control: true, syslog: sink });
try {
  const control = async (method: string, path: string, body: unknown): Promise<void> => {
    const text = JSON.stringify(body);
    const res = await fetch(`${nginx.controlUrl as string}${path}`, { method, headers: { authorization: signNodeRequest(nginx.controlSecret as string, method, path, text), 'content-type': 'application/json' }, body: text });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  };
  await control('PUT', '/challenge', { period: 1, rotation: 3600, difficulty: bits, cookie_ttl: 3600 });
  const held = '127.0.95.1';
  const passing = '127.0.95.2';
  await control('POST', '/blocks', { set: [held, passing].map((ip) => ({ ip, ttl: 600, action: 'challenge' })) });
  // A cookie for `passing`: the proof solved with Node's SHA-1, as the page would.
  const page = await (await fetch(`${nginx.url}/`, { headers: { 'x-forwarded-for': passing } })).text();
  const token = /data-token="([^"]+)"/.exec(page)?.[1] ?? '';
  let n = 0;
  const lead = (h: Buffer): number => {
    let z = 0;
    for (const b of h) {
      if (b !== 0) return z + Math.clz32(b) - 24;
      z += 8;
    }
    return z;
  };
  while (lead(createHash('sha1').update(`${token}.${n}`).digest()) < bits) n++;
  const res = await fetch(`${nginx.url}/`, { headers: { 'x-forwarded-for': passing, cookie: `lw_proof=${token}.${n}` } });
  const cookie = (res.headers.getSetCookie().find((c) => c.startsWith('lw_challenge=')) ?? '').split(';')[0] ?? '';
  if (res.status !== 200 || cookie === '') throw new Error(`the proof did not pass: ${res.status}`);

  const wrk = (headers: string[]): number => {
    const out = execFileSync('wrk', ['-t1', '-c8', `-d${seconds}s`, ...headers.flatMap((h) => ['-H', h]), `${nginx.url}/`], { encoding: 'utf8' });
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  };
  wrk(['X-Forwarded-For: 127.0.95.9']); // warm-up
  const clean = wrk(['X-Forwarded-For: 127.0.95.9']);
  const valid = wrk([`X-Forwarded-For: ${passing}`, `Cookie: ${cookie}`]);
  const served = wrk([`X-Forwarded-For: ${held}`]);
  console.log(`nginx (the local launcher's 2 workers, wrk -t1 -c8 ${seconds}s, unpinned): clean ${clean.toFixed(0)} req/s, challenged with a valid cookie ${valid.toFixed(0)} req/s (${((valid / clean) * 100).toFixed(0)}%), challenge page served ${served.toFixed(0)} req/s`);
  figure({ bench: 'challenge', name: 'requests/s, challenged client with a valid cookie', value: valid, unit: 'req/s', peer: { name: 'clean client, same nginx', value: clean }, better: 'higher' });
  figure({ bench: 'challenge', name: 'requests/s, challenge page served', value: served, unit: 'req/s', peer: { name: 'clean client, same nginx', value: clean }, better: 'higher' });
} finally {
  await nginx.stop();
}
