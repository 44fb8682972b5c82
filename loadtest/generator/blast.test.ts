// blast sends only to loopback; everything here stays on 127.0.0.1 and is
// bounded to a few hundred lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlastTargetError, blast, count, isLoopback, parseLoopbackTarget, type BlastOptions, type BlastStats } from './blast.js';
import { fileLines, generatedLines } from './sources.js';

const START = Date.UTC(2026, 10, 21, 6);
const SYSLOG_JSON = /^<190>\w{3} [ 123]\d \d\d:\d\d:\d\d \S+ nginx: (\{.*\})$/;

test('only loopback targets are accepted', () => {
  for (const ok of ['127.0.0.1:5514', '127.1.2.3:1', 'localhost:5514', '[::1]:5514', '[0:0:0:0:0:0:0:1]:9']) {
    assert.doesNotThrow(() => parseLoopbackTarget(ok), ok);
  }
  for (const bad of [
    '10.0.0.1:514', '8.8.8.8:53', '192.168.1.10:514', '0.0.0.0:514', '128.0.0.1:514', '127.0.0.256:514', '[2001:db8::1]:514',
    '[::ffff:127.0.0.1]:514', '[::]:514', 'example.com:514', '127.0.0.1.nip.io:514',
  ]) {
    assert.throws(() => parseLoopbackTarget(bad), BlastTargetError, bad);
  }
  assert.throws(() => parseLoopbackTarget('127.0.0.1'), BlastTargetError);
  assert.throws(() => parseLoopbackTarget('127.0.0.1:0'), BlastTargetError);
  assert.equal(isLoopback('127.255.255.254'), true);
  assert.equal(isLoopback('::2'), false);
});

test('blast refuses 10.0.0.1 and 8.8.8.8 without taking a line or opening a socket', async () => {
  let pulled = 0;
  const source: Iterator<Uint8Array> = {
    next: () => {
      pulled++;
      return { done: false, value: Buffer.from('x') };
    },
  };
  const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap' || r === 'TCPWrap' || r === 'TCPConnectWrap').length;
  const before = sockets();
  for (const [protocol, host, port] of [['udp', '10.0.0.1', 514], ['tcp', '8.8.8.8', 53], ['udp', '8.8.8.8', 53]] as const) {
    const o: BlastOptions = { protocol, target: { host, port, family: 4 }, framing: 'newline', rate: 1000, seconds: 1, maxLines: 10 };
    await assert.rejects(blast(o, source), BlastTargetError);
  }
  assert.equal(pulled, 0);
  assert.equal(sockets(), before);
});

test('udp: one syslog-json datagram per line, every line delivered on loopback', async () => {
  const rx = dgram.createSocket('udp4');
  const got: string[] = [];
  rx.on('message', (m) => got.push(m.toString('utf8')));
  rx.bind(0, '127.0.0.1');
  await once(rx, 'listening');
  try {
    // A pace the receiver (same process, default socket buffer) keeps up with: UDP drops what overflows.
    const lines = generatedLines({ seed: 3, lines: 300, startMs: START }, 'syslog-json');
    const stats = await blast({ protocol: 'udp', target: { host: '127.0.0.1', port: rx.address().port, family: 4 }, framing: 'newline', rate: 3_000, seconds: 5, maxLines: 300 }, lines);
    assert.equal(stats.sent, 300);
    assert.equal(stats.stopped_by, 'max_lines');
    for (let i = 0; i < 200 && got.length < 300; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 300);
    for (const d of got) {
      const m = SYSLOG_JSON.exec(d);
      assert.ok(m !== null, d);
      JSON.parse(m[1] as string);
    }
  } finally {
    rx.close();
  }
});

test('tcp: octet-counted frames (RFC 6587) that a relay would send', async () => {
  const frames: string[] = [];
  let pending = Buffer.alloc(0);
  const server = net.createServer((c) => {
    c.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const sp = pending.indexOf(32);
        if (sp < 0) break;
        const len = Number(pending.toString('latin1', 0, sp));
        if (pending.length < sp + 1 + len) break;
        frames.push(pending.toString('utf8', sp + 1, sp + 1 + len));
        pending = pending.subarray(sp + 1 + len);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as net.AddressInfo).port;
    const lines = generatedLines({ seed: 4, lines: 200, startMs: START }, 'syslog-json');
    const stats = await blast({ protocol: 'tcp', target: { host: '127.0.0.1', port, family: 4 }, framing: 'octet', rate: 20_000, seconds: 5, maxLines: 1000 }, lines);
    assert.equal(stats.sent, 200);
    assert.equal(stats.stopped_by, 'source');
    for (let i = 0; i < 200 && frames.length < 200; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(frames.length, 200);
    for (const f of frames) assert.match(f, SYSLOG_JSON);
  } finally {
    server.close();
  }
});

test('the pace holds: at 2 000 lines/s for 0.5 s, never more than rate x elapsed, and each line arrives', async () => {
  let sending: Promise<BlastStats> | undefined;
  const stats = await count('udp', { host: '127.0.0.1', port: 0, family: 4 }, 1.5, 'newline', (port) => {
    const lines = generatedLines({ seed: 5, lines: 5_000, startMs: START }, 'json');
    sending = blast({ protocol: 'udp', target: { host: '127.0.0.1', port, family: 4 }, framing: 'newline', rate: 2_000, seconds: 0.5, maxLines: 5_000 }, lines);
  });
  assert.ok(sending !== undefined);
  const s = await sending;
  // The token bucket never runs ahead of rate x elapsed, plus its first token (and 1 for the ms rounding of seconds).
  assert.ok(s.sent <= 2_000 * s.seconds + 2, `${s.sent} lines in ${s.seconds} s`);
  assert.equal(s.stopped_by, 'seconds');
  assert.ok(s.sent > 0);
  assert.equal(stats.received, s.sent);
});

test('file lines: CRLF and a missing final newline are handled; shards split the file without overlap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-gen-'));
  try {
    const file = join(dir, 'x.log');
    const want = Array.from({ length: 10 }, (_, i) => `line ${i} é`);
    writeFileSync(file, `${want.slice(0, 5).join('\r\n')}\r\n${want.slice(5).join('\n')}`);
    assert.deepEqual([...fileLines(file)].map((b) => b.toString('utf8')), want);
    const shards = [0, 1, 2].map((s) => [...fileLines(file, s, 3)].map((b) => b.toString('utf8')));
    assert.deepEqual(shards.flat().sort(), [...want].sort());
    assert.deepEqual(shards[1], [want[1], want[4], want[7]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
