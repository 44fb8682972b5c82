// The demo's account of a run: per attacker, whether nginx refused it and how
// soon after logwarden's decision; for the benign visitors, how many pages they
// got. Built from what the clients saw and the blocks the API listed.
import type { Block } from './demo-instance.js';
import type { ClientKind, ClientStats } from './demo-traffic.js';

export const KIND_LABEL: Record<ClientKind, string> = { benign: 'benign', scanner: 'scanner', brute_force: 'brute-forcer', flood: 'flooder' };

export interface AttackerSummary {
  kind: ClientKind;
  ip: string;
  requests: number;
  refused: number;
  blocked: boolean;
  reason: string | null;
  /** Decision (created_at) → first request of this client refused by nginx; null when not blocked. */
  latency_ms: number | null;
}

export interface DemoSummary {
  mode: 'attach' | 'own';
  seconds: number;
  requests: number;
  benign: { clients: number; requests: number; ok: number; refused: number; ok_ratio: number };
  attackers: AttackerSummary[];
  events_by_type: Record<string, number>;
  events_by_detector: Record<string, number>;
  blocks: number;
  latency_ms: { n: number; p50: number | null; p99: number | null; max: number | null };
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

export interface RunRecord {
  mode: 'attach' | 'own';
  seconds: number;
  clients: readonly ClientStats[];
  blocks: ReadonlyMap<string, Block>;
  eventsByType: Record<string, number>;
  eventsByDetector: Record<string, number>;
}

export function summarise(r: RunRecord): DemoSummary {
  const benign = r.clients.filter((c) => c.kind === 'benign');
  const attackers: AttackerSummary[] = r.clients.filter((c) => c.kind !== 'benign').map((c) => {
    const b = r.blocks.get(c.ip);
    const latency = b && c.firstRefusedAt !== undefined ? Math.max(0, c.firstRefusedAt - b.created_at) : null;
    return { kind: c.kind, ip: c.ip, requests: c.requests, refused: c.statuses['403'] ?? 0, blocked: b !== undefined, reason: b?.reason ?? null, latency_ms: latency };
  });
  const lat = attackers.map((a) => a.latency_ms).filter((x): x is number => x !== null).sort((a, b) => a - b);
  const bReq = benign.reduce((a, c) => a + c.requests, 0);
  const bOk = benign.reduce((a, c) => a + (c.statuses['200'] ?? 0), 0);
  return {
    mode: r.mode,
    seconds: r.seconds,
    requests: r.clients.reduce((a, c) => a + c.requests, 0),
    benign: { clients: benign.length, requests: bReq, ok: bOk, refused: benign.reduce((a, c) => a + (c.statuses['403'] ?? 0), 0), ok_ratio: bReq === 0 ? 1 : bOk / bReq },
    attackers,
    events_by_type: r.eventsByType,
    events_by_detector: r.eventsByDetector,
    blocks: attackers.filter((a) => a.blocked).length,
    latency_ms: { n: lat.length, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] ?? null },
  };
}

/** The live ticker line: what benign visitors and attackers got so far. */
export function progressLine(clients: readonly ClientStats[], blocks: ReadonlyMap<string, Block>): string {
  const benign = clients.filter((c) => c.kind === 'benign');
  const bReq = benign.reduce((a, c) => a + c.requests, 0);
  const bOk = benign.reduce((a, c) => a + (c.statuses['200'] ?? 0), 0);
  const atk = clients.filter((c) => c.kind !== 'benign');
  const aReq = atk.reduce((a, c) => a + c.requests, 0);
  const aRef = atk.reduce((a, c) => a + (c.statuses['403'] ?? 0), 0);
  const blocked = atk.filter((c) => blocks.has(c.ip)).length;
  return `benign ${bReq} requests, ${bReq ? ((100 * bOk) / bReq).toFixed(1) : '100.0'}% 200 | attackers ${aReq} requests, ${aRef} refused (403) | blocked ${blocked}/${atk.length}`;
}

export function formatSummary(s: DemoSummary): string {
  const lines = [
    '',
    `summary (${s.seconds} s of traffic, ${s.mode === 'own' ? 'the demo\'s embedded instance' : 'the running instance'})`,
    `  requests          ${s.requests}`,
    `  benign            ${s.benign.requests} requests from ${s.benign.clients} visitors: ${(100 * s.benign.ok_ratio).toFixed(1)}% answered 200, ${s.benign.refused} refused`,
    `  events by type    ${Object.entries(s.events_by_type).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  by detector       ${Object.entries(s.events_by_detector).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  attackers blocked ${s.blocks}/${s.attackers.length}`,
  ];
  for (const a of s.attackers) {
    lines.push(`    ${a.ip.padEnd(13)} ${KIND_LABEL[a.kind].padEnd(12)} ${String(a.requests).padStart(5)} requests, ${String(a.refused).padStart(5)} refused  ${a.blocked ? `blocked, ${a.latency_ms ?? '?'} ms after the decision: ${a.reason ?? ''}` : 'NOT blocked'}`);
  }
  const l = s.latency_ms;
  lines.push(`  detection → block (decision → first request refused by nginx, per attacker; within one request interval${s.mode === 'attach' ? ', plus the demo\'s 250 ms poll of the API' : ''}): ${l.n === 0 ? 'n/a' : `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms (n=${l.n})`}`);
  return `${lines.join('\n')}\n`;
}
