// An ingester process starts while Kafka is unreachable, takes what nginx
// sends (UDP and TCP), keeps it in its disk buffer, and delivers all of it,
// once, when Kafka answers. Kafka "comes back" through a TCP relay on the
// address the ingester was given, which starts listening mid-test and passes
// bytes to the real test broker (whose own address the metadata then gives:
// the clients talk to the broker directly from there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { testConfig } from '../../shared/testing/config.js';
import { freePort } from '../../shared/testing/nginx.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames } from '../../shared/topics.js';
import { startRuntime } from '../runtime.js';

const line = (id: string): string =>
  `<190>Nov 21 06:00:44 edge nginx: {"ts":"1795240844.5","client_ip":"203.0.113.9","method":"GET","host":"h","uri":"/","status":"200","request_id":"${id}"}`;

/** A relay from `port` to the broker at `target`, listening from start() on. */
function relay(port: number, target: string): { start(): Promise<void>; stop(): Promise<void> } {
  const [host, p] = target.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(p), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    start: () => new Promise((resolve) => server.listen(port, '127.0.0.1', resolve)),
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('an ingester starts while Kafka is away, buffers on disk, and delivers everything once when it answers', { skip: unitOnly() && 'unit-only run', timeout: 240_000 }, async (t) => {
  const [broker] = kafkaBrokers();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'lw-start-no-kafka-'));
  const config = testConfig('nokafka', {
    dataDir,
    brokers: [`127.0.0.1:${port}`],
    sections: { ingest: { udp: { enabled: true, port: 0 }, tcp: { enabled: true, port: 0 } }, kafka: { linger: '5ms' } },
  });
  const up = relay(port, broker as string);
  const started = Date.now();
  const rt = await startRuntime(config, new Set(['ingester']));
  const reader = new KafkaBus({ brokers: [broker as string], clientId: uniqueName('nokafka-read'), acks: 'all', compression: 'none', replicationFactor: 1 });
  try {
    t.diagnostic(`started in ${Date.now() - started} ms with nothing listening at 127.0.0.1:${port}`);
    const udp = dgram.createSocket('udp4');
    const tcp = net.connect(rt.tcpPort as number, '127.0.0.1');
    await new Promise((resolve) => tcp.once('connect', resolve));
    const sent = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const u = `udp-${i}`;
      const c = `tcp-${i}`;
      await new Promise<void>((resolve, reject) => udp.send(line(u), rt.udpPort as number, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      tcp.write(`${line(c)}\n`);
      sent.add(u).add(c);
    }
    tcp.end();
    const pipeline = rt.pipeline;
    assert.ok(pipeline);
    await until('400 lines received', () => (pipeline.stats.received >= 400 ? true : undefined), 30_000);
    assert.equal(pipeline.stats.sent, 0, 'nothing reached Kafka: it is away');
    udp.close();

    await up.start();
    // The topics are created by the ingester once Kafka answers.
    const access = topicNames(config.kafka.topic_prefix).access;
    await until('the topics, created by the ingester', async () => ((await reader.endOffsets(access).catch(() => [])).length > 0 ? true : undefined), 120_000, 500);
    const got = new Map<string, number>();
    const sub = await reader.subscribe({
      groupId: uniqueName('nokafka-read'),
      topics: [access],
      fromBeginning: true,
      onBatch: (b) => {
        for (const m of b.messages) {
          const id = accessRecordCodec.decode(m.value).request_id;
          got.set(id, (got.get(id) ?? 0) + 1);
        }
        return Promise.resolve();
      },
    });
    try {
      await until('every line in Kafka', () => (got.size >= sent.size ? true : undefined), 180_000, 200);
    } finally {
      await sub.close();
    }
    t.diagnostic(`${got.size} distinct records in Kafka ${Date.now() - started} ms after the start; the pipeline sent ${pipeline.stats.sent}`);
    assert.deepEqual([...sent].filter((id) => !got.has(id)), [], 'none lost');
    assert.deepEqual([...got].filter(([, n]) => n !== 1), [], 'none twice');
  } finally {
    await rt.stop();
    await reader.close();
    await up.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
