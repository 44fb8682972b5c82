// Lines parsed per sending node (the record's `node`: the syslog header's host
// name, or the log line's, or ingest.node), and when the last one arrived:
// how `logwarden check-node` and the pipeline status tell a node whose logs
// arrive from one whose logs do not (a wrong syslog address in
// logwarden-server.conf, a firewall, a server without the syslog line), and
// a node whose clock runs ahead (its lines take their arrival time instead:
// MAX_CLOCK_AHEAD_MS in shared/access-log/record.ts).
//
// The hot path pays a Map lookup and two stores per line; the metrics read the
// map when scraped. Anyone who can reach the UDP port can name a node, so the
// map keeps at most MAX_NODES names and counts the rest under "(other)".
import { Counter, Gauge } from 'prom-client';
import { componentLogger } from '../../shared/log.js';
import { registry } from '../../shared/metrics.js';

const log = componentLogger('ingester.nodes');

export const MAX_NODES = 1000;
export const OTHER_NODES = '(other)';

export interface NodeTally {
  lines: number;
  /** Unix milliseconds of the last line parsed from this node. */
  last_line_ms: number;
  /** Lines whose own time was ahead of their arrival by more than MAX_CLOCK_AHEAD_MS (each record keeps by how much). */
  clock_ahead: number;
}

const tally = new Map<string, NodeTally>();

/** Counts one parsed line from `node` ("" when no node was named); `clockAheadMs` when its own time ran ahead. */
export function noteNodeLine(node: string, nowMs: number, clockAheadMs?: number): void {
  let t = tally.get(node);
  if (t === undefined) {
    // Full: the rest under one name, which may exceed the bound by itself.
    const name = tally.size >= MAX_NODES ? OTHER_NODES : node;
    t = tally.get(name);
    if (t === undefined) {
      t = { lines: 0, last_line_ms: 0, clock_ahead: 0 };
      tally.set(name, t);
    }
  }
  t.lines++;
  t.last_line_ms = nowMs;
  if (clockAheadMs !== undefined) {
    if (t.clock_ahead === 0) log.warn({ node, ahead_s: Math.round(clockAheadMs / 1000) }, 'a node\'s clock runs ahead: its lines take their arrival time (synchronise its clock with NTP)');
    t.clock_ahead++;
  }
}

/** A counter per node read from the tally when scraped: a scrape adds what came since the last. */
function nodeCounter(name: string, help: string, count: (t: NodeTally) => number): void {
  const reported = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: ['node'],
    registers: [registry],
    collect() {
      for (const [node, t] of tally) {
        const n = count(t);
        const before = reported.get(node) ?? 0;
        if (n > before) this.inc({ node }, n - before);
        reported.set(node, n);
      }
    },
  });
}

/** Every node seen by this process, with its count and the time of its last line. */
export function nodeTally(): Record<string, NodeTally> {
  const out: Record<string, NodeTally> = {};
  for (const [node, t] of tally) out[node] = { ...t };
  return out;
}

nodeCounter('logwarden_ingest_node_lines_total', 'Lines parsed per sending node (the syslog header host name); at most 1000 names, the rest as "(other)"', (t) => t.lines);

new Gauge({
  name: 'logwarden_ingest_node_last_line_seconds',
  help: 'Unix time of the last line parsed from each sending node',
  labelNames: ['node'],
  registers: [registry],
  // Summed over ingester workers it would mean nothing: their primary reports the latest.
  aggregator: 'max',
  collect() {
    for (const [node, t] of tally) this.set({ node }, Math.floor(t.last_line_ms / 1000));
  },
});

nodeCounter(
  'logwarden_ingest_node_clock_ahead_total',
  'Lines per sending node whose own time was more than 60 s ahead of their arrival (the node\'s clock runs ahead); they take their arrival time',
  (t) => t.clock_ahead,
);
