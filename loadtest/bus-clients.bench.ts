// kafkajs (the bus's client, shared/bus/kafka.ts) against librdkafka through
// @confluentinc/kafka-javascript, on the same broker, the same records, the
// same run: producer records/s and CPU µs per record (acks=all, idempotent,
// no compression, sends of 4000 records, 4 in flight, as the ingester
// sends), then a consumer group reading them all back (batches handed to a
// handler, offsets committed per batch, as KafkaBus.subscribe does). CPU is
// the whole process's (librdkafka's own threads included), each client in a
// child process of its own.
//
// @confluentinc/kafka-javascript is not a dependency: on a machine without a
// prebuilt binary it builds librdkafka from source (infra/kafka/install-librdkafka.sh
// installs it, without saving it to package.json). Without it this prints why
// and measures kafkajs alone.
//
//   node dist/loadtest/bus-clients.bench.js [--records 200000]
import { execFileSync, spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaBus } from '../shared/bus/kafka.js';
import type { OutgoingMessage } from '../shared/bus/types.js';
import { figure } from './report-figures.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' }, child: { type: 'string' }, brokers: { type: 'string' } } });
const records = Math.min(Math.max(10_000, Number(values.records)), 2_000_000);
const SEND = 4000;
const IN_FLIGHT = 4;
const PARTITIONS = 6;
const RDKAFKA = '@confluentinc/kafka-javascript';

interface Result {
  client: string;
  produceRate: number;
  produceUs: number;
  consumeRate: number;
  consumeUs: number;
}

/** Records shaped as the ingester's: a client address as key, an Avro-sized value, the event time. */
function makeRecords(): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  const value = Buffer.alloc(420, 0x61);
  for (let i = 0; i < records; i++) out.push({ key: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, value, timestamp: 1_795_240_800_000 + i });
  return out;
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** What each client offers the bench: the Bus's publish, and a group reading a topic until `n` arrived. */
interface Client {
  ensure(topic: string): Promise<void>;
  publish(topic: string, messages: OutgoingMessage[]): Promise<void>;
  consume(topic: string, n: number): Promise<void>;
  close(): Promise<void>;
}

function kafkajsClient(brokers: string[]): Client {
  const bus = new KafkaBus({ brokers, clientId: 'bus-bench', acks: 'all', compression: 'none', replicationFactor: 1 });
  return {
    ensure: (topic) => bus.ensureTopics([{ topic, partitions: PARTITIONS }]),
    publish: (topic, m) => bus.publish(topic, m),
    consume: async (topic, n) => {
      let got = 0;
      let done: () => void = () => undefined;
      const all = new Promise<void>((r) => (done = r));
      const sub = await bus.subscribe({
        groupId: `${topic}-g`,
        topics: [topic],
        fromBeginning: true,
        onBatch: (b) => {
          got += b.messages.length;
          if (got >= n) done();
          return Promise.resolve();
        },
      });
      await all;
      await sub.close();
    },
    close: () => bus.close(),
  };
}

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return */
// The optional package has no types here (it is not installed by default).
async function rdkafkaClient(brokers: string[]): Promise<Client> {
  const mod: any = await import(RDKAFKA);
  const { Kafka } = mod.KafkaJS;
  const kafka = new Kafka({ kafkaJS: { brokers, clientId: 'bus-bench-rd', logLevel: 1 } });
  // murmur2: the partitioner Kafka's Java client and both buses use (the bus contract), not librdkafka's default.
  const producer = kafka.producer({ kafkaJS: { acks: -1, idempotent: true }, 'linger.ms': 5, partitioner: 'murmur2_random' });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  return {
    ensure: async (topic) => {
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
    },
    publish: async (topic, m) => {
      await producer.send({ topic, messages: m.map((x) => ({ key: x.key, value: x.value, headers: x.headers, timestamp: String(x.timestamp ?? Date.now()) })) });
    },
    consume: async (topic, n) => {
      const consumer = kafka.consumer({ kafkaJS: { groupId: `${topic}-g`, fromBeginning: true, autoCommit: false }, 'js.consumer.max.batch.size': 1000 });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      let got = 0;
      let done: () => void = () => undefined;
      const all = new Promise<void>((r) => (done = r));
      await consumer.run({
        eachBatch: async ({ batch }: any) => {
          // As KafkaBus hands them on: one object per message, then the commit.
          const msgs = batch.messages.map((m: any) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers: {}, timestamp: Number(m.timestamp) }));
          got += msgs.length;
          const last = msgs[msgs.length - 1];
          if (last) await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
          if (got >= n) done();
        },
      });
      await all;
      await consumer.disconnect();
    },
    close: async () => {
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

/** The same, on the library's native API: produce() per record, delivery reports counted per send; consume(1000) in a loop. */
async function rdkafkaNativeClient(brokers: string[]): Promise<Client> {
  const mod: any = await import(RDKAFKA);
  const rd = mod.default ?? mod;
  const base = { 'metadata.broker.list': brokers.join(','), 'client.id': 'bus-bench-native', log_level: 1 };
  const producer = new rd.Producer({ ...base, acks: -1, 'enable.idempotence': true, 'linger.ms': 5, partitioner: 'murmur2_random', dr_cb: true });
  await new Promise<void>((resolve, reject) => producer.connect({}, (err: Error | null) => (err ? reject(err) : resolve())));
  producer.setPollInterval(5);
  producer.on('delivery-report', (err: Error | null, report: any) => {
    const t = report.opaque as { left: number; err?: Error; done: (err?: Error) => void };
    if (err) t.err ??= err;
    if (--t.left === 0) t.done(t.err);
  });
  const admin = rd.AdminClient.create(base);
  return {
    ensure: (topic) => new Promise<void>((resolve, reject) => admin.createTopic({ topic, num_partitions: PARTITIONS, replication_factor: 1 }, (err: Error | null) => (err ? reject(err) : resolve()))),
    publish: (topic, m) =>
      new Promise<void>((resolve, reject) => {
        const ticket = { left: m.length, err: undefined as Error | undefined, done: (err?: Error) => (err ? reject(err) : resolve()) };
        for (const x of m) producer.produce(topic, null, x.value, x.key, x.timestamp ?? Date.now(), ticket);
      }),
    consume: async (topic, n) => {
      const consumer = new rd.KafkaConsumer({ ...base, 'group.id': `${topic}-g`, 'enable.auto.commit': false }, { 'auto.offset.reset': 'earliest' });
      await new Promise<void>((resolve, reject) => consumer.connect({}, (err: Error | null) => (err ? reject(err) : resolve())));
      consumer.subscribe([topic]);
      let got = 0;
      while (got < n) {
        const batch: any[] = await new Promise((resolve, reject) => consumer.consume(1000, (err: Error | null, ms: any[]) => (err ? reject(err) : resolve(ms))));
        const next = new Map<number, string>();
        // As KafkaBus hands them on: one object per message, then the commit per partition.
        const msgs = batch.map((x: any) => ({ topic: x.topic, partition: x.partition, offset: String(x.offset), key: x.key, value: x.value, headers: {}, timestamp: Number(x.timestamp) }));
        for (const x of msgs) next.set(x.partition, String(Number(x.offset) + 1));
        got += msgs.length;
        if (next.size > 0) consumer.commit([...next].map(([partition, offset]) => ({ topic, partition, offset: Number(offset) })));
      }
      await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    },
    close: async () => {
      await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
      admin.disconnect();
    },
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return */

async function child(name: string, brokers: string[]): Promise<void> {
  const client = name === 'librdkafka' ? await rdkafkaClient(brokers) : name === 'librdkafka-native' ? await rdkafkaNativeClient(brokers) : kafkajsClient(brokers);
  const msgs = makeRecords();
  const topic = `bus${name}${Date.now().toString(36)}`;
  await client.ensure(topic);
  await client.publish(topic, msgs.slice(0, 100)); // connected, metadata known
  let c0 = cpuUs();
  let t0 = performance.now();
  const flying: Array<Promise<void>> = [];
  for (let i = 0; i < msgs.length; i += SEND) {
    flying.push(client.publish(topic, msgs.slice(i, i + SEND)));
    if (flying.length >= IN_FLIGHT) await flying.shift();
  }
  await Promise.all(flying);
  const produceUs = (cpuUs() - c0) / msgs.length;
  const produceRate = msgs.length / ((performance.now() - t0) / 1000);
  c0 = cpuUs();
  t0 = performance.now();
  await client.consume(topic, msgs.length + 100);
  const consumeUs = (cpuUs() - c0) / msgs.length;
  const consumeRate = msgs.length / ((performance.now() - t0) / 1000);
  const r: Result = { client: name, produceRate, produceUs, consumeRate, consumeUs };
  process.stdout.write(`${JSON.stringify(r)}\n`);
  // Measured: a client that does not close within 10 s (a kafkajs consumer leaving its group on this loaded machine once did not) does not hold the bench.
  await Promise.race([client.close(), sleep(10_000)]);
  process.exit(0);
}

if (values.child !== undefined) {
  await child(values.child, (values.brokers ?? '').split(','));
} else {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const broker = execFileSync('bash', ['infra/kafka/kafka.sh', 'start'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split(/\s+/);
  let missing: string | undefined;
  try {
    await import(RDKAFKA);
  } catch (err) {
    missing = `${RDKAFKA} not installed (${(err as Error).message.split('\n')[0] ?? ''}); run infra/kafka/install-librdkafka.sh`;
  }
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const results: Result[] = [];
  for (const client of missing ? ['kafkajs'] : ['kafkajs', 'librdkafka', 'librdkafka-native']) {
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', client, '--brokers', broker[0] as string, '--records', String(records)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000, env: { ...process.env, LOGWARDEN_LOG_LEVEL: 'error' } });
    const line = run.stdout.split('\n').find((l) => l.startsWith('{"client"'));
    if (!line) throw new Error(`${client}: no result (exit ${run.status})`);
    results.push(JSON.parse(line) as Result);
  }
  let version = '';
  if (!missing) {
    const mod = (await import(RDKAFKA)) as { default?: { librdkafkaVersion?: string } };
    version = ` ${mod.default?.librdkafkaVersion ?? '?'}`;
  }
  console.log(`Bus clients on Kafka ${broker[1] ?? ''}, ${records.toLocaleString('en')} records of 420 bytes, acks=all, idempotent, no compression; load average ${load}`);
  for (const r of results) {
    console.log(
      `  ${(r.client + (r.client.startsWith('librdkafka') ? version : '')).padEnd(30)} produce ${Math.round(r.produceRate).toLocaleString('en').padStart(9)} records/s ${r.produceUs.toFixed(2).padStart(6)} CPU µs/record   consume ${Math.round(r.consumeRate).toLocaleString('en').padStart(9)} records/s ${r.consumeUs.toFixed(2).padStart(6)} CPU µs/record`,
    );
  }
  if (missing) console.log(`  ${missing}`);
  const [js, compat, rd] = results;
  for (const other of [compat, rd]) {
    if (!js || !other) continue;
    console.log(
      `  ${other.client} / kafkajs: produce ${(other.produceRate / js.produceRate).toFixed(2)}× records/s, CPU per record kafkajs ÷ it ${(js.produceUs / other.produceUs).toFixed(2)}; consume ${(other.consumeRate / js.consumeRate).toFixed(2)}× records/s, CPU per record kafkajs ÷ it ${(js.consumeUs / other.consumeUs).toFixed(2)}`,
    );
  }
  for (const [what, key] of [
    ['produce', 'produceUs'],
    ['consume', 'consumeUs'],
  ] as const) {
    if (!js) continue;
    figure({
      bench: 'bus-clients',
      name: `kafkajs ${what}, CPU per record`,
      value: js[key],
      unit: 'CPU µs/record',
      ...(rd ? { peer: { name: `librdkafka${version} (native API)`, value: rd[key] } } : {}),
      better: 'lower',
      note: missing ?? `load average ${load}`,
    });
  }
  process.exit(0);
}
