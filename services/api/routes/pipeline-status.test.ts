// The per-node part of GET /api/pipeline/status, read from the ingester's
// node metrics as a scrape gives them (services/ingester/node-tally.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { perNode, type Metrics } from './pipeline-status.js';

test('per node: lines, the last line, and the lines from a clock over a minute ahead', async () => {
  const registers = [new Registry()];
  const lines = new Counter({ name: 'logwarden_ingest_node_lines_total', help: 'h', labelNames: ['node'], registers });
  const last = new Gauge({ name: 'logwarden_ingest_node_last_line_seconds', help: 'h', labelNames: ['node'], registers });
  const ahead = new Counter({ name: 'logwarden_ingest_node_clock_ahead_total', help: 'h', labelNames: ['node'], registers });
  lines.inc({ node: 'web-1' }, 120);
  lines.inc({ node: 'web-2' }, 7);
  last.set({ node: 'web-1' }, 1_796_000_000);
  last.set({ node: 'web-2' }, 1_796_000_100);
  ahead.inc({ node: 'web-2' }, 5);
  const m: Metrics = new Map((await (registers[0] as Registry).getMetricsAsJSON()).map((x) => [x.name, x]));
  assert.deepEqual(perNode(m), {
    'web-1': { lines: 120, last_line_s: 1_796_000_000, clock_ahead_lines: 0 },
    'web-2': { lines: 7, last_line_s: 1_796_000_100, clock_ahead_lines: 5 },
  });
});
