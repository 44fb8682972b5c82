// Garbage flood while real traffic flows: real UDP and TCP inputs on
// loopback, an IngestPipeline on the in-process bus. Garbage datagrams and
// garbage TCP lines (random bytes, mutated lines, huge lines, invalid UTF-8)
// are sent at the same time as real lines over TCP (both framings) and UDP.
// Loopback TCP is lossless: every real TCP line must be published, once. UDP
// may be lost in the kernel: every real datagram the metrics say was received
// must be published. Every rejected line is on the dead-letter topic, and the
// counts add up per source.
// Seed per run, printed; replay with LOGWARDEN_FUZZ_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Counter } from 'prom-client';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import { registry } from '../../shared/metrics.js';
import { topicNames } from '../../shared/topics.js';
import { Rng } from '../../loadtest/generator/prng.js';
import { IngestPipeline } from './pipeline.js';
import { startTcpInput } from './tcp.js';
import { garbageLine } from './testing/garbage.js';
import { startUdpInput } from './udp.js';

const SEED = Number(process.env.LOGWARDEN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MAX_LINE = 4096;

const line = (id: string, i: number): Buffer =>
  Buffer.from(
    `<190>Nov 21 06:00:44 edge-${i % 3} nginx: {"ts":"1795240844.${String(i % 1000).padStart(3, '0')}","node":"edge","deployment":"","client_ip":"198.51.${(i >> 8) & 255}.${i & 255}",` +
      `"xff":"","method":"GET","host":"shop.example","uri":"/p/${i}?q=1","status":"200","bytes":"512","request_time":"0.004","upstream_time":"0.003",` +
      `"user_agent":"Mozilla/5.0","referer":"","country":"DE","auth_user":"","request_id":"${id}","blocked_by":"","filter_alert":""}`,
  );

/** Sum of a counter's values with the given label value, now. */
async function counterBy(name: string, label: string, value: string): Promise<number> {
  const metric = registry.getSingleMetric(name) as Counter | undefined;
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => v.labels[label] === value).reduce((n, v) => n + v.value, 0);
}

function sendTcp(port: number, frames: Buffer[], framing: 'octet' | 'newline'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      void (async () => {
        for (const f of frames) {
          const ok = sock.write(framing === 'octet' ? Buffer.concat([Buffer.from(`${f.length} `), f]) : Buffer.concat([f, Buffer.from('\n')]));
          if (!ok) await new Promise((r) => sock.once('drain', r));
        }
        sock.end();
      })();
    });
    sock.on('close', () => resolve());
    sock.on('error', reject);
  });
}

async function sendUdp(port: number, datagrams: Buffer[]): Promise<number> {
  const sock = dgram.createSocket('udp4');
  let sent = 0;
  try {
    for (let i = 0; i < datagrams.length; i++) {
      await new Promise<void>((resolve) => {
        sock.send(datagrams[i] as Buffer, port, '127.0.0.1', (err) => {
          if (!err) sent++;
          resolve();
        });
      });
      if (i % 64 === 0) await yieldLoop(); // the receiver shares this event loop
    }
  } finally {
    sock.close();
  }
  return sent;
}

test(`a garbage flood over UDP and TCP does not cost real traffic a line (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const rng = new Rng(SEED, 21);
  const bus = new MemoryBus();
  const topics = topicNames('flood.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
  const config = loadConfig({ text: `ingest: { max_line_bytes: ${MAX_LINE} }\nkafka: { linger: 2ms }\nlog_level: silent`, env: {} });
  const pipeline = new IngestPipeline(config, bus, topics);
  const tcp = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: MAX_LINE + 1024 });
  const udp = await startUdpInput(pipeline, '127.0.0.1', 0);
  const before = {
    udp: await counterBy('logwarden_ingest_received_total', 'source', 'udp'),
    tcp: await counterBy('logwarden_ingest_received_total', 'source', 'tcp'),
  };
  try {
    // Garbage is made from lines whose ids are not "real-…": no mutation of theirs passes for a real line.
    const donors = Array.from({ length: 50 }, (_, i) => line(`donor-${i}`, i));
    const garbage = (n: number): Buffer[] => Array.from({ length: n }, () => garbageLine(rng, donors, MAX_LINE));
    // UDP datagrams are single lines; TCP garbage lines must not carry an LF of their own, or they would be two frames.
    const tcpGarbage = (n: number): Buffer[] => garbage(n).map((b) => Buffer.from(b.toString('latin1').replace(/\n/g, ' '), 'latin1'));

    const REAL_TCP = 2000;
    const REAL_UDP = 3000;
    const realTcp: Array<{ framing: 'octet' | 'newline'; frames: Buffer[] }> = [];
    for (let c = 0; c < 4; c++) {
      // Real lines interleaved with garbage on the same connection too, as a broken relay would send them.
      const frames: Buffer[] = [];
      for (let i = 0; i < REAL_TCP; i++) {
        frames.push(line(`real-tcp-${c}-${i}`, i));
        if (rng.chance(0.2)) frames.push(...tcpGarbage(1).filter((g) => g.length > 0));
      }
      realTcp.push({ framing: c % 2 === 0 ? 'octet' : 'newline', frames });
    }
    const udpReal = Array.from({ length: REAL_UDP }, (_, i) => line(`real-udp-${i}`, i));
    const udpGarbage = garbage(12_000).filter((g) => g.length > 0); // an empty datagram is nothing on the wire
    // Real and garbage datagrams mixed in one stream per sender.
    const udpMixed: Buffer[] = [];
    let g = 0;
    for (const real of udpReal) {
      udpMixed.push(real);
      for (let k = 0; k < 4 && g < udpGarbage.length; k++) udpMixed.push(udpGarbage[g++] as Buffer);
    }
    while (g < udpGarbage.length) udpMixed.push(udpGarbage[g++] as Buffer);

    // Garbage-only connections too. Empty lines are no frames (and a count of 0 is no octet counting).
    const garbageOnly = { newline: tcpGarbage(3000).filter((b) => b.length > 0), octet: tcpGarbage(3000).filter((b) => b.length > 0) };

    const [udpSent] = await Promise.all([
      sendUdp(udp.port, udpMixed),
      ...realTcp.map((c) => sendTcp(tcp.port, c.frames, c.framing)),
      sendTcp(tcp.port, garbageOnly.newline, 'newline'),
      sendTcp(tcp.port, garbageOnly.octet, 'octet'),
    ]);

    const realTcpCount = 4 * REAL_TCP;
    // Every TCP frame is counted once: offered to the pipeline, or rejected as too long without being buffered.
    const tcpFrames = realTcp.reduce((n, c) => n + c.frames.length, 0) + garbageOnly.newline.length + garbageOnly.octet.length;
    // Wait until the TCP side is all in (exact), and the UDP side stopped moving.
    const deadline = Date.now() + 60_000;
    let last = -1;
    while (Date.now() < deadline) {
      const inTcp = (await counterBy('logwarden_ingest_received_total', 'source', 'tcp')) - before.tcp;
      const inUdp = (await counterBy('logwarden_ingest_received_total', 'source', 'udp')) - before.udp;
      if (inTcp >= tcpFrames && inUdp === last) break;
      last = inUdp;
      await sleep(200);
    }
    await pipeline.flush();

    const udpReceived = (await counterBy('logwarden_ingest_received_total', 'source', 'udp')) - before.udp;
    const udpDropped = pipeline.stats.dropped.buffer_full ?? 0;
    t.diagnostic(`UDP: ${udpSent} sent, ${udpReceived} received, ${udpDropped} dropped over the memory bound; stats ${JSON.stringify(pipeline.stats)}`);

    const ids = new Map<string, number>();
    for (const p of await bus.endOffsets(topics.access)) {
      for (const m of bus.partition(topics.access, p.partition).messages) {
        const id = accessRecordCodec.decode(m.value).request_id;
        if (id.startsWith('real-')) ids.set(id, (ids.get(id) ?? 0) + 1);
      }
    }
    const tcpPublished = [...ids.keys()].filter((id) => id.startsWith('real-tcp-')).length;
    const udpPublished = [...ids.keys()].filter((id) => id.startsWith('real-udp-')).length;
    assert.equal(tcpPublished, realTcpCount, `every real TCP line published (seed ${SEED})`);
    assert.ok([...ids.values()].every((n) => n === 1), `no real line published twice (seed ${SEED})`);
    // A real datagram can only be missing if the kernel lost datagrams or the pipeline dropped some (counted).
    const udpLost = udpSent - udpReceived;
    assert.ok(udpLost >= 0, `more datagrams received than sent? (seed ${SEED})`);
    assert.ok(udpPublished >= REAL_UDP - udpLost - udpDropped, `real UDP lines published: ${udpPublished} of ${REAL_UDP}, lost in the kernel ${udpLost}, dropped ${udpDropped} (seed ${SEED})`);
    assert.ok(udpPublished > 0, 'real UDP traffic got through the flood');

    // Every line counted once: published or dead-lettered (or, for UDP over the memory bound, dropped and counted).
    const s = pipeline.stats;
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
    assert.equal(s.received, udpReceived + tcpFrames, `every TCP frame and every received datagram counted once (seed ${SEED})`);
    assert.equal(s.parsed + rejected + dropped, s.received, `accepted + rejected + dropped == received (seed ${SEED}): ${JSON.stringify(s)}`);
    let dead = 0;
    for (const p of await bus.endOffsets(topics.deadLetter)) dead += Number(p.offset);
    assert.equal(dead, rejected, `every rejected line is on the dead-letter topic (seed ${SEED})`);
    assert.ok(rejected > 10_000, `the garbage was rejected, not taken: ${rejected} dead letters (seed ${SEED})`);
    for (const reason of ['bad_syslog_header', 'bad_format', 'too_long']) assert.ok((s.rejected as Record<string, number>)[reason], `reason ${reason} seen (seed ${SEED})`);
  } finally {
    await tcp.close();
    await udp.close();
    await pipeline.close();
    await bus.close();
  }
});
