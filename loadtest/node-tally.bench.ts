// Cost per line of the ingester's per-node tally (services/ingester/node-tally.ts,
// called for every parsed line), against the obvious alternative, a labelled
// prom-client counter incremented per line. Lines cycle through 4 node names,
// as a small fleet sends them.
//
//   node dist/loadtest/node-tally.bench.js [N]     (N lines per case, default 2000000)
import { Counter, Registry } from 'prom-client';
import { noteNodeLine } from '../services/ingester/node-tally.js';
import { figure } from './report-figures.js';

const N = Number.parseInt(process.argv[2] ?? '2000000', 10);
if (!Number.isInteger(N) || N <= 0) {
  console.error('usage: node dist/loadtest/node-tally.bench.js [N]   (N > 0)');
  process.exit(2);
}
const NODES = ['edge-1', 'edge-2', 'edge-3', 'edge-4'];

function nsPerLine(f: (node: string, i: number) => void): number {
  // Warm-up, then the timed run.
  for (let i = 0; i < Math.min(N, 200_000); i++) f(NODES[i & 3] as string, i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f(NODES[i & 3] as string, i);
  return Number(process.hrtime.bigint() - t0) / N;
}

const tally = nsPerLine((node, i) => noteNodeLine(node, 1_700_000_000_000 + i));
const counter = new Counter({ name: 'bench_node_lines_total', help: 'bench', labelNames: ['node'], registers: [new Registry()] });
const labelled = nsPerLine((node) => counter.inc({ node }));

console.log(`per-node tally, ${N} lines over ${NODES.length} nodes`);
console.log(`  node-tally (Map, metrics read at scrape)   ${tally.toFixed(1)} ns/line`);
console.log(`  prom-client counter.inc({node}) per line   ${labelled.toFixed(1)} ns/line`);
figure({ bench: 'node-tally', name: 'per-node line tally', value: tally, unit: 'ns/line', peer: { name: 'prom-client counter.inc({node})', value: labelled }, better: 'lower' });
