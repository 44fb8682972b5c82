// The publish interface a feed (or any part) calls to have a failure told:
// through the bus (the in-process one of embedded mode) to the notifier and a
// loopback receiver; the same occurrence published twice is told once, a
// target only hears the kinds it asked for, and a publish the bus refuses
// does not throw into the caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBus } from '../../shared/bus/index.js';
import { ControlState } from '../../shared/control/state.js';
import { busNoticePublisher } from '../../shared/notices.js';
import { testConfig } from '../../shared/testing/config.js';
import { until } from '../../shared/testing/wait.js';
import { topicNames, topicSpecs } from '../../shared/topics.js';
import { start } from './index.js';
import { startReceiver } from './testing/receiver.js';

test('a feed failure published through shared/notices.ts is notified once; a bus failure never reaches the feed', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-notices-'));
  const rx = await startReceiver();
  const config = testConfig('notices', {
    dataDir,
    env: { HOOK_SECRET: 'notices-test-signing-secret-0123' },
    sections: { notifications: { targets: [{ name: 'ops', url: rx.url, secret_env: 'HOOK_SECRET', kinds: ['feed_failure'], aggregate_window: '300ms' }] } },
  });
  const topics = topicNames(config.kafka.topic_prefix);
  const bus = createBus(config);
  await bus.ensureTopics(topicSpecs(config, topics));
  const started = await start({ config, bus, topics, control: new ControlState(), ch: undefined, store: undefined });
  assert.ok(started);
  try {
    const notices = busNoticePublisher(bus, topics);
    const failure = { kind: 'feed_failure' as const, subject: 'firehol-level1', message: 'fetch failed: HTTP 503', details: { url: 'https://feeds.example.org/firehol_level1.netset' }, occurrence: 'refresh-1' };
    await notices.publish(failure);
    await notices.publish({ ...failure, ts: Date.now() + 5 }); // the same occurrence, reported again
    await notices.publish({ kind: 'node_out_of_sync', subject: 'edge-1', message: 'node unreachable' }); // not asked for
    await notices.publish({ ...failure, message: 'parse failed: line 3', occurrence: 'refresh-2' });
    const items = (): Array<{ id: string; kind: string; subject: string; message: string }> =>
      rx.accepted().flatMap((r) => (JSON.parse(r.body) as { items: Array<{ id: string; kind: string; subject: string; message: string }> }).items);
    await until('two failures notified', () => (items().length >= 2 ? true : undefined));
    assert.deepEqual(items().map((i) => [i.kind, i.subject, i.message]), [
      ['feed_failure', 'firehol-level1', 'fetch failed: HTTP 503'],
      ['feed_failure', 'firehol-level1', 'parse failed: line 3'],
    ]);
    assert.match(items()[0]?.id ?? '', /^notice:[0-9a-f]{32}$/);

    await bus.close();
    await notices.publish({ ...failure, occurrence: 'refresh-3' }); // resolves: logged and counted, not thrown
  } finally {
    await started.stop(1000);
    await rx.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
