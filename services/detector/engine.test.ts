// Detector cases are data (services/detector/testdata/<case>/): access-log
// lines in, expected events and decisions out, with an optional config.yaml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../shared/config/load.js';
import type { BlockDecision, SecurityEvent } from '../../shared/records.js';
import { recordFromJson } from '../../shared/access-log/record.js';
import { engineConfig } from './config.js';
import { DetectionEngine } from './engine.js';

const dir = fileURLToPath(new URL('../../../services/detector/testdata', import.meta.url));

interface Expected {
  description: string;
  events: Array<{ ip: string; detector: string; type: string; count?: number }>;
  decisions: Array<{ ip: string; action: string; source?: string; escalation_level?: number; duration_ms?: number }>;
  late?: number;
}

export function runCase(caseDir: string): { events: SecurityEvent[]; decisions: BlockDecision[]; late: number } {
  const cfgFile = join(caseDir, 'config.yaml');
  const config = loadConfig({ text: existsSync(cfgFile) ? readFileSync(cfgFile, 'utf8') : '', env: {} });
  const engine = new DetectionEngine(engineConfig(config));
  const ctx = { deployments: {}, trustedProxies: [], defaultNode: '' };
  const events: SecurityEvent[] = [];
  const decisions: BlockDecision[] = [];
  let last = 0;
  for (const line of readFileSync(join(caseDir, 'input.log'), 'utf8').split('\n')) {
    if (line === '') continue;
    const r = recordFromJson(line, undefined, ctx, 0);
    assert.ok(r.ok, `input line parses: ${line.slice(0, 80)}`);
    engine.process(r.record);
    engine.tick(Math.max(last, r.record.ts));
    last = Math.max(last, r.record.ts);
    const out = engine.drain();
    events.push(...out.events);
    decisions.push(...out.decisions);
  }
  engine.tick(last + 40 * 86_400_000);
  engine.flushAll();
  const out = engine.drain();
  events.push(...out.events);
  decisions.push(...out.decisions);
  return { events, decisions, late: engine.stats.late };
}

for (const name of readdirSync(dir).sort()) {
  const caseDir = join(dir, name);
  const expected = JSON.parse(readFileSync(join(caseDir, 'expected.json'), 'utf8')) as Expected;
  test(`detector case ${name}: ${expected.description}`, () => {
    const got = runCase(caseDir);
    const pairs = new Map<string, SecurityEvent[]>();
    for (const e of got.events) pairs.set(`${e.ip} ${e.detector}`, [...(pairs.get(`${e.ip} ${e.detector}`) ?? []), e]);
    for (const want of expected.events) {
      const mine = pairs.get(`${want.ip} ${want.detector}`);
      assert.ok(mine, `an event ${want.detector} for ${want.ip}; got ${[...pairs.keys()].join(', ') || 'none'}`);
      assert.ok(mine.every((e) => e.type === want.type), `${want.detector} events are ${want.type}`);
      if (want.count !== undefined) assert.equal(mine.reduce((n, e) => n + e.count, 0), want.count, `${want.detector} count for ${want.ip}`);
    }
    const allowed = new Set(expected.events.map((e) => `${e.ip} ${e.detector}`));
    for (const key of pairs.keys()) assert.ok(allowed.has(key), `no unexpected event: ${key}`);
    assert.equal(got.decisions.length, expected.decisions.length, `decisions: ${JSON.stringify(got.decisions.map((d) => [d.ip, d.action]))}`);
    expected.decisions.forEach((want, i) => {
      const d = got.decisions[i] as BlockDecision;
      assert.equal(d.ip, want.ip);
      assert.equal(d.action, want.action);
      if (want.source) assert.equal(d.source, want.source);
      if (want.escalation_level !== undefined) assert.equal(d.escalation_level, want.escalation_level);
      if (want.duration_ms !== undefined) assert.equal((d.expires_at ?? 0) - d.created_at, want.duration_ms);
    });
    if (expected.late !== undefined) assert.equal(got.late, expected.late);
    for (const e of got.events) {
      assert.ok(e.count > 0 && e.window_start <= e.window_end && e.id.length === 32, 'well-formed event');
    }
  });
}
