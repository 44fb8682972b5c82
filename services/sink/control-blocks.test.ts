// control_blocks has one writer: the sink on the decisions topic. A decision
// of the API (ControlStore.decide) is published, stored by that sink like a
// detector's, and decide returns once it is, so the next read lists it.
// Without a sink, decide answers after its wait (the decision holds: it is
// published); with ClickHouse refusing, nothing is published. Embedded
// ClickHouse (or CLICKHOUSE_URL) and the in-process bus.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blockDecisionCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import type { SubscribeOptions, Subscription } from '../../shared/bus/types.js';
import { migrate } from '../../shared/clickhouse/migrate.js';
import { openTestClickHouse, removeTestDataDir, type TestClickHouse } from '../../shared/clickhouse/testing.js';
import { loadConfig } from '../../shared/config/load.js';
import { ControlState } from '../../shared/control/state.js';
import { ControlStore } from '../../shared/control/store.js';
import type { BlockDecision } from '../../shared/records.js';
import { faultyClickHouse, type FaultyClickHouse } from '../../shared/testing/faulty-clickhouse.js';
import { until } from '../../shared/testing/wait.js';
import { consumerGroup, topicNames, topicSpecs } from '../../shared/topics.js';
import type { Started } from '../context.js';
import { SINK_LINGER_MS, start } from './index.js';

after(() => removeTestDataDir());

/** The in-process bus, keeping what each subscriber asked for. */
class RecordingBus extends MemoryBus {
  readonly asked = new Map<string, SubscribeOptions>();
  override subscribe(opts: SubscribeOptions): Promise<Subscription> {
    this.asked.set(opts.groupId, opts);
    return super.subscribe(opts);
  }
}

const WAIT_MS = 400;

describe('control_blocks: the sink writes, the API waits for it', () => {
  let t: TestClickHouse;
  let ch: FaultyClickHouse;
  let bus: RecordingBus;
  let store: ControlStore;
  let sink: Started | undefined;
  const published: BlockDecision[] = [];
  const config = loadConfig({ text: 'log_level: silent', env: {} });
  const topics = topicNames('ctlblocks.');
  const control = new ControlState();
  const decision = (ip: string, action: 'block' | 'unblock' = 'block'): BlockDecision => ({
    ip, action, reason: 'test', source: 'manual', created_at: Date.now(), expires_at: null, deployment: null, escalation_level: 0,
  });
  const listed = async (ip: string): Promise<boolean> => (await store.listBlocks({ ip, limit: 10, offset: 0 })).blocks.some((b) => b.ip === ip);
  const rows = async (ip: string): Promise<number> => {
    const [r] = await t.ch.query<{ n: string }>(`SELECT count() AS n FROM ${t.ch.table('control_blocks')} WHERE ip_or_cidr = {ip:String}`, { ip });
    return Number(r?.n ?? 0);
  };

  before(async () => {
    t = await openTestClickHouse('ctl_blocks');
    await migrate(t.ch, { retentionDays: 30, requestsTtlDays: 1 });
    ch = faultyClickHouse(t.ch);
    bus = new RecordingBus();
    await bus.ensureTopics(topicSpecs({ kafka: { partitions: 1 } }, topics));
    store = new ControlStore(ch, bus, topics, control, { storedWithinMs: WAIT_MS });
    await bus.subscribe({
      groupId: 'probe', topics: [topics.decisions], fromBeginning: true,
      onBatch: (b) => {
        for (const m of b.messages) published.push(blockDecisionCodec.decode(m.value));
        return Promise.resolve();
      },
    });
  });
  after(async () => {
    await sink?.stop(5_000);
    await bus.close();
    await t.dispose();
  });

  test('without a sink, decide answers after its wait: published, listed once a sink stores it', async () => {
    const d = decision('198.51.100.1');
    const t0 = Date.now();
    await store.decide(d);
    const took = Date.now() - t0;
    assert.ok(took >= WAIT_MS && took < WAIT_MS + 5_000, `answered after its wait (${took} ms)`);
    await until('the decision on the bus', () => published.find((x) => x.ip === d.ip));
    assert.equal(await listed(d.ip), false, 'nobody else wrote control_blocks');
    sink = await start({ config, bus, topics, control, ch, store });
    await until('stored by the sink', async () => ((await listed(d.ip)) ? true : undefined));
  });

  test('the API waits on control_blocks: its sink takes decisions as they come, while the others let records gather', () => {
    const asked = (table: string): SubscribeOptions | undefined => bus.asked.get(consumerGroup(config.kafka, `sink-${table}`));
    assert.equal(asked('control-blocks')?.accumulate, undefined);
    for (const table of ['requests', 'events', 'blocks', 'crawler-verdicts']) {
      assert.deepEqual(asked(table)?.accumulate, { bytes: 1_048_576, waitMs: SINK_LINGER_MS }, table);
    }
    // Every sink catches up in large batches: an insert costs about the same whatever its size.
    for (const [group, opts] of bus.asked) if (group !== 'probe') assert.equal(opts.fetchBytesPerPartition, 16 * 1_048_576, group);
    assert.equal(bus.asked.size, 6, 'five sinks and the probe');
  });

  test('with the sink, a block is listed when decide returns and an unblock lifts it; one row per decision', async () => {
    assert.ok(sink, 'the sink runs');
    const d = decision('198.51.100.2');
    await store.decide(d);
    assert.equal(await listed(d.ip), true, 'read your writes');
    assert.equal(await rows(d.ip), 1, 'one writer: one row');
    await store.decide(decision(d.ip, 'unblock'));
    assert.equal(await listed(d.ip), false, 'the unblock is read too');
    assert.equal(await rows(d.ip), 2);
  });

  test('ClickHouse refusing: the decision is refused before anything is published', async () => {
    const before = published.length;
    ch.fault = 'refused';
    try {
      await assert.rejects(store.decide(decision('198.51.100.3')), (err: { code?: string }) => err.code === 'LW_CH_UNAVAILABLE');
    } finally {
      ch.fault = 'none';
    }
    await store.decide(decision('198.51.100.4'));
    await until('the next decision on the bus', () => published.find((x) => x.ip === '198.51.100.4'));
    assert.equal(published.length, before + 1, 'the refused decision was never published');
  });
});
