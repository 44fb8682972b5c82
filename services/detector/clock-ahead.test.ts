// Why a line far ahead of its arrival takes its arrival time (record.ts,
// aheadOfArrival): one node whose clock runs two hours ahead shares the
// detector's partitions with every other node. Its time, taken as it is, would
// make an attacker's requests through the other nodes late for two hours.
// Lines as the ingester reads them (LineDecoder with their arrival), then the
// engine, at FlatRun's default thresholds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineDecoder } from '../../shared/access-log/decode.js';
import { loadConfig } from '../../shared/config/load.js';
import type { AccessRecord } from '../../shared/records.js';
import { engineConfig } from './config.js';
import { DetectionEngine } from './engine.js';

const config = loadConfig({ text: '', env: {} });
const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);

const line = (node: string, tsMs: number, ip: string, uri: string, status: number): Buffer =>
  Buffer.from(`<190>Dec  7 09:00:00 ${node} nginx: {"ts":"${(tsMs / 1000).toFixed(3)}","client_ip":"${ip}","method":"GET","host":"shop.example","uri":"${uri}","status":"${status}","http_user_agent":"Mozilla/5.0"}`);

function run(decode: (raw: Buffer, receivedAt: number) => AccessRecord): { blocked: string[]; late: number } {
  const engine = new DetectionEngine(engineConfig(config));
  // A benign request through a node whose clock runs two hours ahead, then a scan through another node.
  engine.process(decode(line('edge-fast', T0 + 7_200_000, '198.51.100.7', '/', 200), T0), 0);
  for (let i = 0; i < 200; i++) {
    const at = T0 + 1_000 + i * 100;
    engine.process(decode(line('edge-2', at, '203.0.113.66', `/probe-${i}.php`, 404), at + 50), 0);
    engine.tick(engine.now());
  }
  const decisions = engine.drain().decisions;
  return { blocked: decisions.filter((d) => d.action === 'block').map((d) => d.ip), late: engine.stats.late };
}

const decoder = new LineDecoder(config);
const decoded = (raw: Buffer, receivedAt: number): AccessRecord => {
  const r = decoder.decode(raw, 'udp', receivedAt);
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
  return r.record;
};

test('a node two hours ahead does not hide another node\'s scanner: its line takes its arrival time', () => {
  const { blocked, late } = run(decoded);
  assert.deepEqual(blocked, ['203.0.113.66']);
  assert.equal(late, 0);
});

test('(the same lines with the node\'s own time: the scanner\'s requests all count as late, and it is not blocked)', () => {
  const { blocked, late } = run((raw, receivedAt) => {
    const r = decoded(raw, receivedAt);
    const ahead = r.extra.clock_ahead_ms;
    return ahead === undefined ? r : { ...r, ts: r.ts + Number(ahead) };
  });
  assert.deepEqual(blocked, []);
  assert.equal(late, 200);
});
