// Decisions from elsewhere, in the engine: an operator's unblock lifts the
// client, clears what it did, and a new block's reason names only what it did
// afterwards; what nginx refused is never a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordFromJson } from '../../shared/access-log/record.js';
import { loadConfig } from '../../shared/config/load.js';
import type { BlockDecision } from '../../shared/records.js';
import { engineConfig } from './config.js';
import { DetectionEngine } from './engine.js';

const IP = '203.0.113.44';
const t0 = 1_795_240_800;

function record(ts: number, uri: string, status: number, agent: string, blockedBy = ''): Parameters<DetectionEngine['process']>[0] {
  const line = JSON.stringify({ ts: ts.toFixed(3), client_ip: IP, method: 'GET', host: 'shop.example', uri, status: String(status), user_agent: agent, blocked_by: blockedBy });
  const r = recordFromJson(line, undefined, { deployments: {}, trustedProxies: [], defaultNode: '' }, 0);
  assert.ok(r.ok);
  return r.record;
}

test('after an operator\'s unblock, the next block\'s reason names only what the client did since; refusals are no reason', () => {
  const engine = new DetectionEngine(engineConfig(loadConfig({ text: '', env: {} })));
  const decisions: BlockDecision[] = [];
  const step = (rec: Parameters<DetectionEngine['process']>[0]): void => {
    engine.process(rec);
    engine.tick(rec.ts);
    decisions.push(...engine.drain().decisions);
  };
  step(record(t0, '/FUZZ-a', 404, 'Fuzz Faster U Fool v2.1.0'));
  for (let i = 0; i < 5; i++) step(record(t0 + 1 + i, '/x', 403, 'Fuzz Faster U Fool v2.1.0', 'blocklist'));
  const first = decisions.filter((d) => d.action === 'block');
  assert.equal(first.length, 1);
  assert.match(first[0]?.reason ?? '', /signature:ua-ffuf/);

  engine.applyDecision({ ip: IP, action: 'unblock', reason: 'manual unblock', source: 'manual', created_at: (t0 + 10) * 1000, expires_at: null, deployment: null, escalation_level: 0 });
  // The same client, now hiding behind a browser's user agent, probes missing pages.
  for (let i = 0; i < 60; i++) step(record(t0 + 20 + i, `/probe-${i}.php`, 404, 'Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0'));
  const blocks = decisions.filter((d) => d.action === 'block');
  assert.equal(blocks.length, 2, 'blocked again');
  const reason = blocks[1]?.reason ?? '';
  assert.match(reason, /not_found/);
  assert.doesNotMatch(reason, /ua-ffuf|blocklist/, reason);
});
