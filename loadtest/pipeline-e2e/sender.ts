#!/usr/bin/env node
// The traffic of the end-to-end bench (corpus.ts): the corpus's lines of the
// first --seconds, every attacker's and a --keep share of the benign clients',
// each sent when the wall clock reaches its time (shifted to now, $msec
// rewritten to match), half as UDP datagrams straight to the ingester (as
// nginx sends them), half through a relay process (relay-main.ts) that frames
// them onto the ingester's TCP input. Only to loopback.
//
//   node dist/loadtest/pipeline-e2e/sender.js --from CORPUS --corpus-start MS --udp 127.0.0.1:P [--tcp 127.0.0.1:Q]
//        --seconds S --keep SHARE --attackers IP,IP,...
//
// Prints two JSON lines: {"type":"plan","t0"} (the wall time of the corpus's
// start) before the first line, {"type":"done",...counts, lateness} at the end.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseLoopbackTarget } from '../generator/blast.js';
import { fileLines } from '../generator/sources.js';
import { quantile } from './accounting.js';
import { fields, kept, writeMsec } from './corpus.js';

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    'corpus-start': { type: 'string' },
    udp: { type: 'string' },
    tcp: { type: 'string' },
    framing: { type: 'string', default: 'octet' },
    seconds: { type: 'string', default: '60' },
    keep: { type: 'string', default: '1' },
    attackers: { type: 'string', default: '' },
  },
});
const seconds = Number(values.seconds);
const share = Number(values.keep);
const corpusStart = Number(values['corpus-start']);
if (!values.from || !values.udp || !(seconds >= 10 && seconds <= 120) || !(share >= 0 && share <= 1) || !Number.isFinite(corpusStart)) {
  console.error('usage: sender.js --from CORPUS --corpus-start MS --udp HOST:PORT [--tcp HOST:PORT] --seconds S(10..120) --keep SHARE --attackers IP,...');
  process.exit(2);
}
const udp = parseLoopbackTarget(values.udp);
const attackers = new Set(values.attackers.split(',').filter(Boolean));
const windowEnd = corpusStart + seconds * 1000;

const sock = dgram.createSocket('udp4');
let udpErrors = 0;
let udpSent = 0;
sock.on('error', () => udpErrors++);
try {
  sock.setSendBufferSize(4 << 20);
} catch {
  /* the kernel's cap applies */
}
sock.connect(udp.port, udp.host);
await once(sock, 'connect');
const onSent = (err: Error | null): void => {
  if (err) udpErrors++;
  else udpSent++;
};

const relayMain = join(fileURLToPath(new URL('.', import.meta.url)), 'relay-main.js');
const relay = values.tcp ? spawn(process.execPath, [relayMain, '--tcp', values.tcp, '--framing', values.framing], { stdio: ['pipe', 'pipe', 'inherit'] }) : undefined;
let relayOut = '';
relay?.stdout?.on('data', (b: Buffer) => (relayOut += b.toString()));
const relayExit = relay ? new Promise<number | null>((r) => relay.once('exit', r)) : Promise.resolve(0);
const NEWLINE = Buffer.from('\n');
const MAX_UDP_QUEUE = 8192;

const lines = fileLines(values.from);
const t0 = Date.now() + 500;
const shift = t0 - corpusStart;
process.stdout.write(`${JSON.stringify({ type: 'plan', t0 })}\n`);
const lateness: number[] = [];
let selected = 0;
let toRelay = 0;
let next = lines.next();
let done = false;
while (!done) {
  const now = Date.now();
  if (sock.getSendQueueCount() > MAX_UDP_QUEUE) {
    await sleep(1);
    continue;
  }
  const batch: Buffer[] = [];
  // What is due now, at most 2048 lines a turn (the socket's I/O and the relay's pipe go on between turns).
  let waitMs = 0;
  for (let n = 0; n < 2048; ) {
    if (next.done === true) {
      done = true;
      break;
    }
    const line = next.value;
    const f = fields(line);
    if (f === undefined || !kept(f.ip, attackers, share)) {
      next = lines.next();
      continue;
    }
    if (f.ts >= windowEnd) {
      done = true;
      break;
    }
    const due = f.ts + shift;
    if (due > now) {
      waitMs = Math.min(due - now, 5);
      break;
    }
    writeMsec(line, f.tsAt, due);
    lateness.push(now - due);
    if (relay && selected % 2 === 1) {
      batch.push(line, NEWLINE);
      toRelay++;
    } else sock.send(line, onSent);
    selected++;
    n++;
    next = lines.next();
  }
  if (relay && batch.length > 0 && !relay.stdin?.write(Buffer.concat(batch))) await once(relay.stdin as NodeJS.WritableStream, 'drain');
  if (waitMs > 0) await sleep(waitMs);
  else await yieldToLoop();
}
const sendSeconds = (Date.now() - t0) / 1000;
while (sock.getSendQueueCount() > 0) await sleep(1);
sock.close();
relay?.stdin?.end();
const relayCode = await relayExit;
const relayed = relay ? ((JSON.parse(relayOut.trim().split('\n').pop() || '{}') as { relayed?: number }).relayed ?? 0) : 0;
process.stdout.write(
  `${JSON.stringify({
    type: 'done',
    planned: selected,
    udp_sent: udpSent,
    udp_errors: udpErrors,
    to_relay: toRelay,
    relayed,
    relay_exit: relayCode,
    sent: udpSent + relayed,
    send_seconds: sendSeconds,
    lateness_ms: { p50: quantile(lateness, 0.5), p99: quantile(lateness, 0.99), max: lateness.reduce((m, x) => Math.max(m, x), 0) },
  })}\n`,
);
