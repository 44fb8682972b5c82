#!/usr/bin/env node
// The relay process (relay.ts): standard input, one syslog line a line → TCP to
// a loopback syslog input, framed. Prints {"relayed", "bytes"} as JSON when its
// input ends and the connection is closed.
//
//   node dist/loadtest/pipeline-e2e/relay-main.js --tcp 127.0.0.1:5514 [--framing octet|newline]
import net from 'node:net';
import { parseArgs } from 'node:util';
import { parseLoopbackTarget } from '../generator/blast.js';
import { frameAll, LineSplitter, type RelayFraming } from './relay.js';

const { values } = parseArgs({ options: { tcp: { type: 'string' }, framing: { type: 'string', default: 'octet' } } });
if (!values.tcp || (values.framing !== 'octet' && values.framing !== 'newline')) {
  console.error('usage: relay-main.js --tcp HOST:PORT [--framing octet|newline]');
  process.exit(2);
}
const framing: RelayFraming = values.framing;
const target = parseLoopbackTarget(values.tcp);
const socket = net.connect({ host: target.host, port: target.port });
socket.setNoDelay(false);
const splitter = new LineSplitter();
let relayed = 0;
let bytes = 0;

function send(lines: Buffer[]): void {
  if (lines.length === 0) return;
  const buf = frameAll(lines, framing);
  relayed += lines.length;
  bytes += buf.length;
  if (!socket.write(buf)) {
    process.stdin.pause();
    socket.once('drain', () => process.stdin.resume());
  }
}

socket.on('error', (err) => {
  console.error(`relay: ${err.message}`);
  process.exit(1);
});
socket.once('connect', () => {
  process.stdin.on('data', (chunk: Buffer) => send(splitter.push(chunk)));
  process.stdin.on('end', () => {
    send(splitter.end());
    socket.end(() => {
      process.stdout.write(`${JSON.stringify({ relayed, bytes })}\n`);
    });
  });
});
