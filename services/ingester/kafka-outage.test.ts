// Kafka down, then up again, under load — on a broker of this test's own (the
// shared test broker cannot be stopped under the other test files): TCP input
// loses nothing (readers are paused, not buffered without bound), UDP input
// beyond the memory bound is dropped and every drop is counted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { loadConfig } from '../../shared/config/load.js';
import { unitOnly } from '../../shared/testing/kafka.js';
import { freePort } from '../../shared/testing/nginx.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline } from './pipeline.js';
import { startTcpInput } from './tcp.js';
import { startUdpInput } from './udp.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kafka-outage-'));
let env: NodeJS.ProcessEnv = {};
const kafka = (cmd: string): string => execFileSync('bash', ['infra/kafka/kafka.sh', cmd], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

after(() => {
  try {
    kafka('stop');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const line = (kind: string, i: number): string =>
  `<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"203.0.113.${i % 200}","method":"GET","host":"h","uri":"/${kind}/${i}","status":"200","request_id":"${kind}-${i}"}`;

test('broker stopped under load, then restarted: TCP loses nothing, UDP drops are counted', { skip: unitOnly() && 'unit-only run', timeout: 240_000 }, async () => {
  const [port, cport] = [await freePort(), await freePort()];
  env = { ...process.env, LOGWARDEN_KAFKA_DIR: dir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(cport), KAFKA_HEAP: '384m' };
  const brokers = [kafka('start').split(/\s+/)[0] as string];
  const bus = new KafkaBus({ brokers, clientId: 'outage-test', acks: 'all', compression: 'none', replicationFactor: 1 });
  const topics = topicNames('outage.');
  await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
  // A 256 KiB bound: small enough that the outage fills it.
  const config = loadConfig({ text: 'ingest: { udp: { buffer_max_bytes: 262144 } }\nkafka: { linger: 2ms }\nlog_level: silent', env: {} });
  const pipeline = new IngestPipeline(config, bus, topics);
  const tcp = await startTcpInput(pipeline, { host: '127.0.0.1', port: 0, maxFrameBytes: 8192 });
  const udp = await startUdpInput(pipeline, '127.0.0.1', 0);

  // Before the outage: traffic flows.
  await bus.publish(topics.access, []);
  kafka('stop');

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

  kafka('start');
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
  await tcp.close();
  await udp.close();
  await bus.close();

  const tcpIds = [...got].filter((id) => id.startsWith('tcp-'));
  const udpIds = [...got].filter((id) => id.startsWith('udp-'));
  assert.equal(tcpIds.length, TCP_LINES, 'every TCP line reached Kafka');
  // UDP: whatever was not dropped on purpose arrived; nothing vanished without a count.
  assert.equal(udpIds.length + (pipeline.stats.dropped.buffer_full ?? 0), UDP_LINES);
});
