// Fault: ClickHouse unavailable for a while under a running sink, on both
// buses (the real broker, and the in-process one). ClickHouse is the real
// engine behind a fault-injecting wrapper (shared/testing/faulty-clickhouse.ts:
// an outage played at the client boundary, since the embedded engine cannot be
// stopped). The sink holds and retries: offsets stay put while it is down,
// every record is stored once it returns, and inserts that landed but whose
// acknowledgement was lost are not stored twice.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { securityEventCodec } from '../../shared/avro/codec.js';
import { KafkaBus } from '../../shared/bus/kafka.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { Bus } from '../../shared/bus/types.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir } from '../../shared/clickhouse/testing.js';
import type { SecurityEvent } from '../../shared/records.js';
import { faultyClickHouse } from '../../shared/testing/faulty-clickhouse.js';
import { kafkaBrokers, unitOnly, uniqueName } from '../../shared/testing/kafka.js';
import { TableSink } from './table-sink.js';

after(() => removeTestDataDir());

const event = (i: number): SecurityEvent => ({
  id: `ev-${i}`, ts: 1_795_240_800_000 + i, type: 'suspicious', detector: 'not_found', ip: `198.51.100.${i % 200}`, deployment: 'shop',
  count: 1, window_start: 1_795_240_700_000, window_end: 1_795_240_800_000 + i, sample_paths: ['/a'], details: {},
});

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

for (const kind of ['kafka', 'memory'] as const) {
  describe(`ClickHouse outage under a sink (${kind} bus)`, { skip: kind === 'kafka' && unitOnly() && 'unit-only run' }, () => {
    test('refused, then answers lost, then back: nothing lost, nothing doubled, offsets held while down', { timeout: 180_000 }, async (t) => {
      const test = await openTestClickHouse(`sink_fault_${kind}`);
      const bus: Bus = kind === 'kafka'
        ? new KafkaBus({ brokers: kafkaBrokers(), clientId: uniqueName('sink-fault'), acks: 'all', compression: 'none', replicationFactor: 1 })
        : new MemoryBus();
      const [topic, dlq, group] = [uniqueName('sinkfault'), uniqueName('sinkfault-dlq'), uniqueName('sinkfault-g')];
      let sink: TableSink<SecurityEvent> | undefined;
      try {
        await migrate(test.ch, { retentionDays: 30, requestsTtlDays: 1 });
        await bus.ensureTopics([{ topic, partitions: 3 }, { topic: dlq, partitions: 1 }]);
        const ch = faultyClickHouse(test.ch);
        // Small batches, so an outage meets several inserts in flight.
        sink = new TableSink<SecurityEvent>({ bus, ch, topic, deadLetterTopic: dlq, groupId: group, table: 'events', codec: securityEventCodec, toRow: (e) => e, maxBatchSize: 100 });
        await sink.start();
        let next = 0;
        const send = async (n: number): Promise<void> => {
          const batch = Array.from({ length: n }, () => event(next++));
          await bus.publish(topic, batch.map((e) => ({ key: e.ip, value: securityEventCodec.encode(e) })));
        };
        const rows = async (): Promise<{ n: number; ids: number }> => {
          const [r] = await test.ch.query<{ n: string; ids: string }>(`SELECT toString(count()) AS n, toString(uniqExact(id)) AS ids FROM ${test.ch.table('events')}`);
          return { n: Number(r?.n ?? 0), ids: Number(r?.ids ?? 0) };
        };
        const committed = async (): Promise<number> => (await bus.committedOffsets(group, topic)).reduce((n, o) => n + Number(o.offset), 0);

        await send(300);
        await until('300 rows', async () => (await rows()).n === 300);
        await until('300 committed', async () => (await committed()) === 300);

        // Down: every call refused. The sink retries and commits nothing.
        ch.fault = 'refused';
        await send(400);
        await until('the sink to retry through the outage', () => ch.failed.insert + ch.failed.query >= 6);
        assert.equal((await rows()).n, 300, 'nothing stored while down');
        assert.equal(await committed(), 300, 'offsets held while down');

        // Flaky: inserts into events land, but their answer is lost; the sink retries what is already stored.
        ch.fault = 'ack_lost';
        ch.match = /^insert into events$/;
        const lostBefore = ch.failed.insert;
        await send(300);
        await until('inserts to land with their answer lost', () => ch.failed.insert >= lostBefore + 3);
        const during = await rows();
        assert.ok(during.n > 300, 'inserts landed during the flaky period');
        assert.equal(await committed(), 300, 'offsets held while acknowledgements are lost');

        ch.fault = 'none';
        await until('every record committed', async () => (await committed()) === 1000, 120_000);
        const end = await rows();
        t.diagnostic(`${kind}: ${ch.failed.insert} failed inserts and ${ch.failed.query} failed queries injected; ${end.n} rows, ${end.ids} ids`);
        assert.equal(end.n, 1000, 'every record stored');
        assert.equal(end.ids, 1000, 'none stored twice');
      } finally {
        await sink?.close();
        await bus.close();
        await test.dispose();
      }
    });
  });
}
