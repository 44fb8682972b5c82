// Backtesting gives the live path's answer: the same lines, once through
// `replay --report` in-process, once through ingester → bus → detector service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import { eventClient } from '../../shared/records.js';
import type { BlockDecision } from '../../shared/records.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline } from '../ingester/pipeline.js';
import { replayFiles } from '../ingester/replay.js';
import { backtest } from './backtest.js';
import { DetectorService } from './service.js';

const casesDir = fileURLToPath(new URL('../../../services/detector/testdata', import.meta.url));

/** Every detector case, each shifted to its own half hour, as one time-ordered log. */
function corpus(): string {
  const lines: Array<{ ts: number; text: string }> = [];
  readdirSync(casesDir).sort().forEach((name, i) => {
    for (const text of readFileSync(join(casesDir, name, 'input.log'), 'utf8').split('\n')) {
      if (!text) continue;
      const rec = JSON.parse(text) as { ts: string };
      const ts = Number(rec.ts) + i * 1800;
      lines.push({ ts, text: JSON.stringify({ ...rec, ts: ts.toFixed(3) }) });
    }
  });
  return lines.sort((a, b) => a.ts - b.ts).map((l) => l.text).join('\n') + '\n';
}

test('replay --report and the live path block the same IPs at the same records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'backtest-'));
  try {
    const file = join(dir, 'access.log');
    writeFileSync(file, corpus());
    const config = loadConfig({ text: 'detection: { shards: 2 }\nkafka: { partitions: 3, linger: 1ms }\nlog_level: warn', env: {} });

    const report = await backtest(config, [file]);
    const offline = report.decisions.filter((d) => d.action === 'block').map((d) => `${d.ip} ${d.created_at} ${d.escalation_level}`).sort();
    assert.ok(offline.length >= 6, `the corpus has attackers (${offline.length} blocks)`);

    const bus = new MemoryBus();
    const topics = topicNames('bt.');
    await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
    const live: BlockDecision[] = [];
    const pairs = new Set<string>();
    await bus.subscribe({ groupId: 'd', topics: [topics.decisions], fromBeginning: true, onBatch: (b) => {
      for (const m of b.messages) live.push(blockDecisionCodec.decode(m.value));
      return Promise.resolve();
    } });
    await bus.subscribe({ groupId: 'e', topics: [topics.events], fromBeginning: true, onBatch: (b) => {
      for (const m of b.messages) {
        const e = securityEventCodec.decode(m.value);
        pairs.add(`${eventClient(e)} ${e.detector}`);
      }
      return Promise.resolve();
    } });
    const detector = new DetectorService({ config, bus, topics, groupId: 'det' });
    await detector.start();
    const pipeline = new IngestPipeline(config, bus, topics);
    await replayFiles(pipeline, [file], config.ingest.max_line_bytes);
    const deadline = Date.now() + 20_000;
    while (live.filter((d) => d.action === 'block').length < offline.length && Date.now() < deadline) await sleep(20);
    await sleep(200);
    await detector.close();
    await bus.close();

    const online = live.filter((d) => d.action === 'block').map((d) => `${d.ip} ${d.created_at} ${d.escalation_level}`).sort();
    assert.deepEqual(online, offline);
    // Every detector that incriminated a blocked IP offline did so live too.
    for (const b of report.blocked) for (const det of Object.keys(b.detectors)) assert.ok(pairs.has(`${b.ip} ${det}`), `live path has ${det} for ${b.ip}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a backtest split over threads by client address reaches the same blocks as one thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'backtest-threads-'));
  try {
    const file = join(dir, 'access.log');
    writeFileSync(file, corpus());
    const config = loadConfig({ text: '', env: {} });
    const one = await backtest(config, [file], { threads: 1 });
    const two = await backtest(config, [file], { threads: 2 });
    assert.ok(one.blocked.length >= 6);
    assert.deepEqual(two.blocked, one.blocked);
    assert.deepEqual(two.decisions, one.decisions);
    assert.equal(two.parsed, one.parsed);
    assert.equal(two.lines, one.lines);
    const requests = (r: typeof one): Array<[string, number]> => Object.entries(r.events).map(([k, v]): [string, number] => [k, v.requests]).sort();
    assert.deepEqual(requests(two), requests(one), 'offending requests per detector');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
