// The per-node tally: counts and last times per sending node, at most
// MAX_NODES names (the rest as "(other)"), and the two metrics read from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registry } from '../../shared/metrics.js';
import { MAX_NODES, nodeTally, noteNodeLine, OTHER_NODES } from './node-tally.js';

test('lines and the last line per node, bounded in names, exported as metrics', async () => {
  noteNodeLine('web-1', 1_000_000);
  noteNodeLine('web-1', 2_000_000);
  noteNodeLine('', 3_000_000);
  assert.deepEqual(nodeTally()['web-1'], { lines: 2, last_line_ms: 2_000_000, clock_ahead: 0 });
  assert.deepEqual(nodeTally()[''], { lines: 1, last_line_ms: 3_000_000, clock_ahead: 0 });

  for (let i = 0; i < MAX_NODES + 5; i++) noteNodeLine(`spoofed-${i}`, 4_000_000);
  const t = nodeTally();
  assert.equal(Object.keys(t).length, MAX_NODES + 1, 'at most MAX_NODES names, plus "(other)"');
  assert.equal(t[OTHER_NODES]?.lines, 5 + 2, 'the names beyond the bound, counted together');

  const text = await registry.metrics();
  assert.match(text, /logwarden_ingest_node_lines_total\{node="web-1",app="logwarden"\} 2/);
  assert.match(text, /logwarden_ingest_node_last_line_seconds\{node="web-1",app="logwarden"\} 2000/);
  noteNodeLine('web-1', 5_000_000);
  assert.match(await registry.metrics(), /logwarden_ingest_node_lines_total\{node="web-1",app="logwarden"\} 3/, 'a scrape adds what came since the last');

  // A node whose clock runs ahead: its lines counted apart, with how far ahead the last was.
  noteNodeLine('web-1', 6_000_100, 7_200_000);
  noteNodeLine('web-1', 6_000_200, 7_200_050);
  assert.deepEqual(nodeTally()['web-1'], { lines: 5, last_line_ms: 6_000_200, clock_ahead: 2 });
  assert.match(await registry.metrics(), /logwarden_ingest_node_clock_ahead_total\{node="web-1",app="logwarden"\} 2/);
});
