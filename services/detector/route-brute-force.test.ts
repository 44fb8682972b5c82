// A brute force against a route protected by nginx (basic/bearer, pushed by
// the enforcer) is what auth_failure exists for (DESIGN: "401/403 on auth
// (protected route, login paths)"). nginx answers those attempts itself, so
// their log lines carry blocked_by "route:<id>" — they must still count as
// evidence, unlike a request refused by a block, which is no new evidence.
// Found by the end-to-end run under hydra (infra/e2e/attack.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../shared/config/load.js';
import type { AccessRecord } from '../../shared/records.js';
import { engineConfig } from './config.js';
import { DetectionEngine } from './engine.js';

const T0 = Date.UTC(2026, 10, 21, 8, 0, 0);

function attempt(i: number, over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    ts: T0 + i * 50, node: 'edge-1', deployment: 'shop', client_ip: '198.51.100.12', method: 'GET', host: 'shop.example',
    path: '/admin', query: '', status: 401, bytes: 172, request_time: 0, upstream_time: null,
    user_agent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', referer: '', country: '', auth_user: 'admin',
    request_id: `r${i}`, blocked_by: 'route:rt_admin', filter_alert: '', extra: {},
    ...over,
  };
}

function run(records: AccessRecord[]): { detectors: string[]; blocks: string[] } {
  const config = loadConfig({ text: 'security: { auth_failure_threshold: 5, auto_block_threshold: 20, scan_interval: 1s }', env: {} });
  const engine = new DetectionEngine(engineConfig(config));
  for (const r of records) {
    engine.process(r);
    engine.tick(r.ts);
  }
  engine.flushAll();
  const out = engine.drain();
  return { detectors: [...new Set(out.events.map((e) => e.detector))].sort(), blocks: out.decisions.filter((d) => d.action === 'block').map((d) => `${d.ip} ${d.reason}`) };
}

test('failed logins on a protected route (401, blocked_by route:<id>) fire auth_failure and block the brute forcer', () => {
  const got = run(Array.from({ length: 40 }, (_, i) => attempt(i)));
  assert.ok(got.detectors.includes('auth_failure'), `auth_failure fired; got ${got.detectors.join(', ') || 'no event'}`);
  assert.equal(got.blocks.length, 1, `one block; got ${JSON.stringify(got.blocks)}`);
  assert.match(got.blocks[0] ?? '', /auth_failure/);
});

test('a brute forcer\'s tool signature on a protected route is seen too', () => {
  const got = run([attempt(0, { user_agent: 'Mozilla/4.0 (Hydra)' })]);
  assert.ok(got.detectors.includes('signature:ua-hydra'), `signature:ua-hydra; got ${got.detectors.join(', ') || 'no event'}`);
  assert.equal(got.blocks.length, 1);
});

test('a request refused by a block stays no new evidence', () => {
  const got = run(Array.from({ length: 40 }, (_, i) => attempt(i, { status: 403, blocked_by: 'blocklist', user_agent: 'Mozilla/4.0 (Hydra)' })));
  assert.deepEqual(got.detectors, ['blocklist']);
  assert.deepEqual(got.blocks, []);
});

test('refusals nginx made itself are recorded under the name the Lua module gave them, once, and count as no new evidence', () => {
  const cases: Array<[string, string, string]> = [
    ['blocklist', 'blocklist', 'blocked_ip'],
    ['filter:scanners', 'filter:scanners', 'blocked_ip'],
    ['policy:blocked_path', 'policy:blocked_path', 'blocked_ip'],
    ['rate_limit', 'rate_limit', 'rate_limited'],
    ['legacy-rule', 'filter:legacy-rule', 'blocked_ip'],
  ];
  for (const [by, detector, type] of cases) {
    const config = loadConfig({ text: 'security: { auth_failure_threshold: 5, auto_block_threshold: 20, scan_interval: 1s }', env: {} });
    const engine = new DetectionEngine(engineConfig(config));
    for (let i = 0; i < 40; i++) {
      const r = attempt(i, { blocked_by: by, status: by === 'rate_limit' ? 429 : 403, path: `/p${i}` });
      engine.process(r);
      engine.tick(r.ts);
    }
    engine.flushAll();
    const out = engine.drain();
    assert.deepEqual([...new Set(out.events.map((e) => `${e.detector} ${e.type}`))], [`${detector} ${type}`], by);
    assert.equal(out.decisions.length, 0, `${by}: no new block from refused requests`);
  }
});
