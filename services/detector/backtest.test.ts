// Backtesting gives the live path's answer: the same lines, once through
// `replay --report` in-process, once through ingester → bus → detector service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDecisionCodec, securityEventCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig, type Config } from '../../shared/config/load.js';
import { eventClient } from '../../shared/records.js';
import type { BlockDecision } from '../../shared/records.js';
import { topicNames } from '../../shared/topics.js';
import { IngestPipeline } from '../ingester/pipeline.js';
import { replayFiles } from '../ingester/replay.js';
import { backtest } from './backtest.js';
import { FedShard } from './backtest-feed.js';
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

test('a backtest split over threads by client address reaches the same blocks as one thread, whatever the files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'backtest-threads-'));
  try {
    // The corpus in two files, the second gzip-compressed, with a malformed and an oversize line in the first.
    const lines = corpus().split('\n').filter(Boolean);
    const half = lines.length >> 1;
    const first = join(dir, 'access.log');
    const second = join(dir, 'access.log.1.gz');
    writeFileSync(first, [...lines.slice(0, half >> 1), 'not a log line', `{"client_ip":"198.51.100.7","request":"${'a'.repeat(70_000)}"}`, ...lines.slice(half >> 1, half)].join('\n') + '\n');
    writeFileSync(second, gzipSync(lines.slice(half).join('\n') + '\n'));
    const config = loadConfig({ text: '', env: {} });
    const one = await backtest(config, [first, second], { threads: 1 });
    assert.ok(one.blocked.length >= 6);
    assert.equal(one.rejected.too_long, 1);
    assert.equal(one.rejected.bad_format, 1, JSON.stringify(one.rejected));
    const requests = (r: typeof one): Array<[string, number]> => Object.entries(r.events).map(([k, v]): [string, number] => [k, v.requests]).sort();
    for (const threads of [2, 3]) {
      const many = await backtest(config, [first, second], { threads });
      assert.deepEqual(many.blocked, one.blocked, `${threads} threads`);
      assert.deepEqual(many.decisions, one.decisions);
      assert.equal(many.parsed, one.parsed);
      assert.equal(many.lines, one.lines);
      assert.deepEqual(many.rejected, one.rejected);
      assert.deepEqual(requests(many), requests(one), 'offending requests per detector');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a backtest whose worker thread fails rejects, and does not wait for it', async () => {
  // A worker that cannot start (no detection section to build its engine from) fails as a crashed one would.
  const broken = { ...loadConfig({ text: '', env: {} }), detection: undefined } as unknown as Config;
  const shard = new FedShard({ config: broken, formats: [], dns: false });
  const line = Buffer.from('{"client_ip":"198.51.100.7"}');
  await assert.rejects(async () => {
    // Appending goes on until the reader would wait for the worker: that wait fails with the worker's error.
    for (let i = 0; i < 1_000_000; i++) await shard.append(0, line);
  });
  await assert.rejects(shard.partial());
});
