// Fault: the Kafka broker stopped for 3 minutes while syslog traffic flows at a
// steady rate, with the ingester's disk buffer. One outage, three ingesters on a
// broker of this test's own, every record stored in embedded ClickHouse by the
// sink of this process (capture on, so each line is a row with its request_id):
//
// (a) ingester A (in this process, UDP and TCP, a 256 KiB memory bound):
//     nothing lost — for each of UDP and TCP, lines received = rows stored,
//     every request_id once; no drop of any reason.
// (b) ingester B (a `logwarden ingester` process) killed with SIGKILL a minute
//     into the outage: every record its disk buffer held (read from its segment
//     files after the kill, as its restart reads them) is stored once it is
//     restarted (once the broker is back: an ingester starts by creating its
//     topics), and no request_id of B is stored twice.
// (c) ingester C (in this process, UDP, a 128 KiB disk bound): the disk fills;
//     UDP drops are counted as disk_buffer_full, nothing throws, and after the
//     outage received − counted drops = stored.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { freePort } from '../../shared/testing/nginx.js';
import { freeUdpPort } from '../../shared/testing/ports.js';
import { DiskBuffer, readSlot } from '../ingester/disk-buffer.js';
import type { IngestPipeline } from '../ingester/index.js';
import { IngestPipeline as Pipeline } from '../ingester/pipeline.js';
import { startUdpInput } from '../ingester/udp.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { PrivateBroker, ServiceProcess, pipelineConfig, until } from './helpers.js';

const OUTAGE_MS = 180_000;
const KILL_AFTER_MS = 60_000;
const broker = new PrivateBroker();
const dirs = { a: mkdtempSync(join(tmpdir(), 'lw-fault-disk-a-')), b: mkdtempSync(join(tmpdir(), 'lw-fault-disk-b-')), c: mkdtempSync(join(tmpdir(), 'lw-fault-disk-c-')) };
const closers: Array<() => Promise<unknown>> = [];
let rt: Runtime | undefined;
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await rt?.stop();
  broker.dispose();
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
});

const line = (id: string, i: number): string =>
  `<190>Nov 21 06:00:44 edge nginx: {"ts":"${(Date.now() / 1000).toFixed(3)}","client_ip":"100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}","method":"GET","host":"h","uri":"/p/${i % 7}","status":"200","request_id":"${id}-${i}"}`;

/** Sends `perTick` lines every 50 ms over UDP and over TCP (a relay's connection) until stopped; counts what it wrote. */
class SteadySender {
  udpSent = 0;
  tcpWritten = 0;
  private readonly udp = dgram.createSocket('udp4');
  private readonly tcp: net.Socket;
  private readonly timer: NodeJS.Timeout;
  private tcpOpen = true;
  constructor(prefix: string, udpPort: number, tcpPort: number, perTick: number) {
    this.udp.on('error', () => undefined);
    this.tcp = net.connect(tcpPort, '127.0.0.1');
    this.tcp.on('error', () => undefined);
    this.tcp.on('close', () => (this.tcpOpen = false));
    this.timer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        this.udp.send(line(`${prefix}-udp`, this.udpSent++), udpPort, '127.0.0.1');
        if (this.tcpOpen) this.tcp.write(`${line(`${prefix}-tcp`, this.tcpWritten++)}\n`);
      }
    }, 50);
  }
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.tcpOpen ? this.tcp.end(resolve) : resolve()));
    await new Promise<void>((resolve) => this.udp.close(() => resolve()));
  }
}

test('Kafka stopped for 3 minutes: the disk buffer loses nothing (UDP and TCP), a SIGKILLed ingester delivers its disk once, a full disk counts its drops', { skip: unitOnly() && 'unit-only run', timeout: 600_000 }, async (t) => {
  const brokers = await broker.start();
  const name = uniqueName('diskbuf');
  // A: ingester + sink in this process; a 256 KiB memory bound, so the outage spills within a second.
  const config = pipelineConfig(name, brokers, dirs.a, { partitions: 3, ingest: 'buffer_max_bytes: 262144' });
  rt = await startRuntime(config, new Set(['ingester', 'sink']));
  const ch = rt.ch;
  const a = rt.pipeline;
  assert.ok(ch && a && rt.tcpPort && rt.udpPort);
  const count = async (prefix: string): Promise<{ n: number; distinct: number }> => {
    const [row] = await ch.query<{ n: string; distinct: string }>(`SELECT toString(count()) AS n, toString(uniqExact(request_id)) AS distinct FROM ${ch.table('requests')} WHERE startsWith(request_id, {p:String})`, { p: `${prefix}-` });
    return { n: Number(row?.n ?? 0), distinct: Number(row?.distinct ?? 0) };
  };

  // B: a `logwarden ingester` process on the same topics, with a data_dir of its own.
  const [bUdp, bTcp] = [await freeUdpPort(), await freePort()];
  const bYaml = [
    `kafka: { brokers: ${JSON.stringify(brokers)}, client_id: "${name}-b", topic_prefix: "${name}.", partitions: 3, linger: 5ms }`,
    `ingest: { udp: { port: ${bUdp} }, tcp: { enabled: true, port: ${bTcp} }, buffer_max_bytes: 262144 }`,
    `data_dir: ${JSON.stringify(dirs.b)}`,
    'metrics: { port: 0 }',
    'log_level: warn',
  ].join('\n');
  let b = new ServiceProcess('ingester', bYaml);
  closers.push(() => b.stop());
  await until('ingester B to listen', () => new Promise<true | undefined>((resolve) => {
    const s = net.connect(bTcp, '127.0.0.1', () => s.end(() => resolve(true)));
    s.on('error', () => resolve(undefined));
  }), 60_000, 200);

  // C: a pipeline with a 128 KiB disk bound (64 KiB of memory) behind a real UDP socket, on a bus of its own.
  const cConfig = pipelineConfig(`${name}-c`, brokers, dirs.c, { partitions: 3, ingest: 'buffer_max_bytes: 65536' });
  const cBus = new KafkaBus({ brokers, clientId: `${name}-c`, acks: 'all', compression: 'none', replicationFactor: 1 });
  const c: IngestPipeline = new Pipeline(cConfig, cBus, rt.topics, {}, DiskBuffer.open(join(dirs.c, 'ingest-buffer'), { maxBytes: 131_072, segmentBytes: 65_536, fsync: 'interval', fsyncIntervalMs: 1000 }));
  const cInput = await startUdpInput(c, '127.0.0.1', 0, 1 << 20);
  closers.push(() => cBus.close(), () => c.close(1000), () => cInput.close());

  // Steady traffic: A 200 lines/s on each of UDP and TCP, B 100/s on each.
  const toA = new SteadySender('a', rt.udpPort, rt.tcpPort, 10);
  const toB = new SteadySender('b', bUdp, bTcp, 5);
  await until('traffic of A and B to reach ClickHouse', async () => ((await count('a-tcp')).n >= 200 && (await count('b-tcp')).n >= 100 ? true : undefined), 60_000, 250);

  broker.stop();
  const stoppedAt = Date.now();
  t.diagnostic('broker stopped');
  // (c): 4000 datagrams to C early in the outage, paced so the socket itself does not overflow.
  const cSock = dgram.createSocket('udp4');
  let cSent = 0;
  for (let i = 0; i < 40; i++) {
    for (let k = 0; k < 100; k++) cSock.send(line('c-udp', cSent++), cInput.port, '127.0.0.1');
    await sleep(25);
  }
  cSock.close();

  // (b): B killed a minute in; what its disk buffer holds is read from its segment files.
  await sleep(Math.max(0, KILL_AFTER_MS - (Date.now() - stoppedAt)));
  await b.kill();
  await toB.stop();
  const onDisk = readSlot(join(dirs.b, 'ingest-buffer', '0'))
    .filter((r) => r.kind === 'access')
    .map((r) => accessRecordCodec.decode(r.message.value).request_id ?? '');
  t.diagnostic(`B killed (SIGKILL) after ${Math.round((Date.now() - stoppedAt) / 1000)} s of outage: ${onDisk.length} records on its disk (sent ${toB.udpSent} UDP, ${toB.tcpWritten} TCP)`);
  assert.ok(onDisk.length > 0, 'B had spilled to disk');

  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
  const aDuring = { ...a.stats, dropped: { ...a.stats.dropped } };
  await broker.start();
  t.diagnostic(`broker restarted after ${Math.round((Date.now() - stoppedAt) / 1000)} s; A held ${aDuring.received - aDuring.sent} records then`);
  b = new ServiceProcess('ingester', bYaml);
  // A's traffic goes on a few seconds past the outage, then stops.
  await sleep(5_000);
  await toA.stop();

  // (a): every line A received is stored once, for UDP and TCP each.
  await until('every line of A in ClickHouse', async () => ((await count('a-udp')).n + (await count('a-tcp')).n >= a.stats.received ? true : undefined), 240_000, 500);
  const [aUdp, aTcp] = [await count('a-udp'), await count('a-tcp')];
  const aTcpReceived = a.stats.received - aUdp.n;
  t.diagnostic(`(a) A: UDP ${toA.udpSent} sent, ${a.stats.received - toA.tcpWritten} received, ${aUdp.n} rows (${aUdp.distinct} distinct); TCP ${toA.tcpWritten} written, ${aTcp.n} rows (${aTcp.distinct} distinct); dropped ${JSON.stringify(a.stats.dropped)}`);
  assert.deepEqual(a.stats.dropped, {}, 'A dropped nothing, for any reason');
  assert.equal(a.stats.rejected.bad_format ?? 0, 0);
  assert.equal(aTcp.n, toA.tcpWritten, 'TCP: every line written is one row');
  assert.equal(aTcpReceived, toA.tcpWritten);
  assert.equal(aUdp.n, a.stats.received - toA.tcpWritten, 'UDP: received = stored');
  assert.equal(aUdp.distinct, aUdp.n, 'no UDP row doubled');
  assert.equal(aTcp.distinct, aTcp.n, 'no TCP row doubled');

  // (b): B's disk delivered by its restart, once.
  const stored = async (ids: string[]): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 5000) {
      const rows = await ch.query<{ id: string; n: string }>(`SELECT request_id AS id, toString(count()) AS n FROM ${ch.table('requests')} WHERE request_id IN {ids:Array(String)} GROUP BY request_id`, { ids: ids.slice(i, i + 5000) });
      for (const r of rows) out.set(r.id, Number(r.n));
    }
    return out;
  };
  await until('B\'s disk in ClickHouse', async () => ((await stored(onDisk)).size >= onDisk.length ? true : undefined), 120_000, 500);
  const found = await stored(onDisk);
  const [bUdpRows, bTcpRows] = [await count('b-udp'), await count('b-tcp')];
  t.diagnostic(`(b) B: ${onDisk.length} records on disk at the kill, ${found.size} of them stored; all of B: UDP ${bUdpRows.n} rows (${bUdpRows.distinct} distinct), TCP ${bTcpRows.n} rows (${bTcpRows.distinct} distinct)`);
  assert.equal(found.size, onDisk.length, 'every record B had on disk is stored');
  assert.deepEqual([...found.values()].filter((n) => n !== 1), [], 'each once');
  assert.equal(bUdpRows.distinct, bUdpRows.n, 'no row of B doubled (UDP)');
  assert.equal(bTcpRows.distinct, bTcpRows.n, 'no row of B doubled (TCP)');
  assert.deepEqual(readSlot(join(dirs.b, 'ingest-buffer', '0')).length, 0, 'B\'s disk emptied once Kafka acknowledged');

  // (c): the full disk's drops counted; what was taken is stored.
  const cDropped = c.stats.dropped.disk_buffer_full ?? 0;
  await until('what C took in ClickHouse', async () => ((await count('c-udp')).n >= c.stats.received - cDropped ? true : undefined), 120_000, 500);
  const cRows = await count('c-udp');
  t.diagnostic(`(c) C: ${cSent} UDP sent, ${c.stats.received} received, ${cDropped} dropped (disk_buffer_full), ${cRows.n} rows (${cRows.distinct} distinct); dropped ${JSON.stringify(c.stats.dropped)}`);
  assert.ok(cDropped > 0, 'the disk bound was reached: drops counted');
  assert.deepEqual(Object.keys(c.stats.dropped), ['disk_buffer_full'], 'dropped for that reason only');
  assert.equal(cRows.n, c.stats.received - cDropped, 'received − counted drops = stored');
  assert.equal(cRows.distinct, cRows.n);
});
