// Kafka down, then up again, under load — on a broker of this test's own (the
// shared test broker cannot be stopped under the other test files): TCP input
// loses nothing (readers are paused, not buffered without bound), UDP input
// beyond the memory bound is dropped and every drop is counted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { loadConfig } from '../../shared/config/load.js';
import { PrivateBroker, testProducerClient, unitOnly } from '../../shared/testing/kafka.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline } from './pipeline.js';
import { startTcpInput } from './tcp.js';
import { startUdpInput } from './udp.js';

const broker = new PrivateBroker();
// Whatever the test opened, closed even when an assertion fails with the broker down:
// a pipeline or consumer left retrying would keep this file's process alive.
const opened: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of opened.reverse()) await close().catch(() => undefined);
  broker.dispose();
});

const line = (kind: string, i: number): string =>
  `<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"203.0.113.${i % 200}","method":"GET","host":"h","uri":"/${kind}/${i}","status":"200","request_id":"${kind}-${i}"}`;

test('broker stopped under load, then restarted: TCP loses nothing, UDP drops are counted', { skip: unitOnly() && 'unit-only run', timeout: 240_000 }, async () => {
  const brokers = await broker.start();
  const bus = new KafkaBus({ brokers, clientId: 'outage-test', acks: 'all', compression: 'none', replicationFactor: 1, producerClient: testProducerClient() });
  opened.push(() => bus.close());
  const topics = topicNames('outage.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
  // A 256 KiB bound: small enough that the outage fills it.
  const config = loadConfig({ text: 'ingest: { buffer_max_bytes: 262144 }\nkafka: { linger: 2ms }\nlog_level: silent', env: {} });
  const pipeline = new IngestPipeline(config, bus, topics);
  opened.push(() => pipeline.close());
  const tcp = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: 8192 });
  opened.push(() => tcp.close());
  const udp = await startUdpInput(pipeline, '127.0.0.1', 0);
  opened.push(() => udp.close());

  // Before the outage: traffic flows.
  await bus.publish(topics.access, []);
  broker.stop();

  const TCP_LINES = 4000;
  const tcpDone = new Promise<void>((resolve, reject) => {
    const sock = net.connect(tcp.port, '127.0.0.1', () => {
      sock.end(Array.from({ length: TCP_LINES }, (_, i) => `${line('tcp', i)}\n`).join(''));
    });
    sock.on('close', () => resolve());
    sock.on('error', reject);
  });
  const UDP_LINES = 4000;
  const sender = dgram.createSocket('udp4');
  for (let i = 0; i < UDP_LINES; i++) {
    await new Promise<void>((resolve) => sender.send(line('udp', i), udp.port, '127.0.0.1', () => resolve()));
    if (i % 200 === 0) await sleep(5);
  }
  sender.close();
  await sleep(2000);
  assert.ok((pipeline.stats.dropped.buffer_full ?? 0) > 0, 'the outage filled the bound: UDP drops counted as buffer_full');
  assert.ok(pipeline.stats.parsed < TCP_LINES + UDP_LINES, 'TCP reading was paused during the outage');

  await broker.start();
  await tcpDone;
  await pipeline.flush();

  const got = new Set<string>();
  const sub = await bus.subscribe({
    groupId: 'outage-probe',
    topics: [topics.access],
    fromBeginning: true,
    onBatch: (b) => {
      for (const m of b.messages) got.add(accessRecordCodec.decode(m.value).request_id);
      return Promise.resolve();
    },
  });
  const udpReceived = () => UDP_LINES - (pipeline.stats.dropped.buffer_full ?? 0);
  const deadline = Date.now() + 120_000;
  while (got.size < TCP_LINES + udpReceived() && Date.now() < deadline) await sleep(100);
  await sub.close();

  const tcpIds = [...got].filter((id) => id.startsWith('tcp-'));
  const udpIds = [...got].filter((id) => id.startsWith('udp-'));
  assert.equal(tcpIds.length, TCP_LINES, 'every TCP line reached Kafka');
  // UDP: whatever was not dropped on purpose arrived; nothing vanished without a count.
  assert.equal(udpIds.length + (pipeline.stats.dropped.buffer_full ?? 0), UDP_LINES);
});
