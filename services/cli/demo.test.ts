// `npm run demo` in a short bounded run, in-process: a real nginx with the Lua
// module, logwarden embedded with its enforcer on that nginx, benign visitors
// and attackers over loopback. Every attacker must end up refused by nginx
// and the benign visitors must keep getting their pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, runDemo } from './demo.js';

test('the demo blocks the scanner, the brute-forcer and the flooder; benign visitors keep getting 200', { timeout: 180_000 }, async (t) => {
  const lines: string[] = [];
  const s = await runDemo({ mode: 'own', seconds: 15, benign: 6, attackers: 1, apiPort: 0, out: (l) => lines.push(l) });
  t.diagnostic(formatSummary(s));
  assert.equal(s.attackers.length, 3);
  for (const a of s.attackers) {
    assert.ok(a.blocked, `${a.kind} ${a.ip} blocked`);
    assert.ok(a.refused > 0, `${a.kind} ${a.ip} refused by nginx (403) after its block`);
    assert.ok(a.latency_ms !== null, `${a.kind}: a refused request after the decision`);
  }
  assert.ok(s.benign.requests > 0, 'benign traffic ran');
  assert.equal(s.benign.refused, 0, 'no benign visitor refused');
  assert.ok(s.benign.ok_ratio >= 0.99, `benign 200 ratio ${s.benign.ok_ratio}`);
  // Why each was caught is shown: the detectors the attacks are built for fired.
  for (const d of ['rate', 'auth_failure', 'unique_paths']) assert.ok((s.events_by_detector[d] ?? 0) > 0, `${d} fired: ${JSON.stringify(s.events_by_detector)}`);
  assert.ok(lines.some((l) => /BLOCKED\s+127\.0\.68\.1\s+flooder/.test(l)), 'the terminal showed the flooder blocked');
  assert.ok(lines.some((l) => l.includes('/dashboard/')), 'the terminal showed the dashboard URL');
  assert.equal(s.latency_ms.n, 3);
});
