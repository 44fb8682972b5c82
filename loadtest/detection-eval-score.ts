// Scoring for the detection evaluation (detection-eval.bench.ts): given the
// ground truth of a generated corpus and who a blocker refused from when,
// each category's clients, how many were blocked, and the delay from an
// attacker's first offence to its block.
//
// A block counts for a client when it names the client's address, or, for an
// IPv6 client, its /64 (logwarden's detection.ipv6_client_prefix). An
// attacker rotating inside its /64 is blocked when the /64 is, or when every
// address it used is (a per-address blocker, as fail2ban and CrowdSec are,
// must ban each one). A block of an address no labelled client owns is a
// "stranger" (it would be a false positive outside the labels).
import { networkOfIp } from '../shared/ip.js';
import type { ClientTruth, GroundTruth } from './generator/traffic.js';

/** Address or range → event time (ms) of its first block. */
export type Blocks = Map<string, number>;

export interface CategoryScore {
  category: string;
  label: 'benign' | 'attacker';
  clients: number;
  blocked: number;
  /** Attackers: seconds from first offence to block, one per blocked attacker. */
  delays: number[];
  /** Benign clients blocked, and attackers missed: their keys, for the findings. */
  named: string[];
}

export interface Score {
  categories: CategoryScore[];
  strangers: string[];
}

export function categoryOf(c: ClientTruth): string {
  return c.label === 'attacker' ? (c.kind ?? 'attacker') : (c.profile ?? 'benign');
}

/** Adds a block (keeps the earliest). */
export function addBlock(blocks: Blocks, ip: string, ms: number): void {
  const seen = blocks.get(ip);
  if (seen === undefined || ms < seen) blocks.set(ip, ms);
}

/** When the client was first refused, or undefined. */
export function blockedAt(ip: string, c: ClientTruth, blocks: Blocks): number | undefined {
  const of = (a: string): number | undefined => blocks.get(a) ?? (a.includes(':') ? blocks.get(networkOfIp(a, 32, 64)) : undefined);
  if (c.addresses && c.addresses.length > 1) {
    const range = blocks.get(networkOfIp(ip, 32, 64));
    if (range !== undefined) return range;
    let last = -Infinity;
    for (const a of c.addresses) {
      const t = blocks.get(a);
      if (t === undefined) return undefined;
      last = Math.max(last, t);
    }
    return last;
  }
  return of(ip);
}

/**
 * `inScope`: the clients that count (a peer reading a slice sees only some);
 * default every client. Categories come out in `order`, then any others.
 */
export function score(truth: GroundTruth, blocks: Blocks, order: readonly string[], inScope?: (ip: string, c: ClientTruth) => boolean): Score {
  const by = new Map<string, CategoryScore>();
  const owned = new Set<string>();
  for (const [ip, c] of Object.entries(truth.clients)) {
    owned.add(ip);
    if (ip.includes(':')) owned.add(networkOfIp(ip, 32, 64));
    for (const a of c.addresses ?? []) owned.add(a);
    if (inScope && !inScope(ip, c)) continue;
    const cat = categoryOf(c);
    let s = by.get(cat);
    if (!s) by.set(cat, (s = { category: cat, label: c.label, clients: 0, blocked: 0, delays: [], named: [] }));
    s.clients++;
    const at = blockedAt(ip, c, blocks);
    if (at !== undefined) {
      s.blocked++;
      if (c.label === 'attacker') s.delays.push(Math.max(0, (at - (c.first_attack_ts ?? at)) / 1000));
      else s.named.push(ip);
    } else if (c.label === 'attacker') s.named.push(ip);
  }
  const strangers = [...blocks.keys()].filter((k) => !owned.has(k)).sort();
  const rank = (c: string): number => (order.includes(c) ? order.indexOf(c) : order.length);
  const categories = [...by.values()].sort((a, b) => rank(a.category) - rank(b.category) || a.category.localeCompare(b.category));
  return { categories, strangers };
}

/** The q-quantile (0..1) of `xs`, nearest rank; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/** Categories of several runs (seeds) added up, category by category. */
export function merge(scores: readonly Score[]): Score {
  const by = new Map<string, CategoryScore>();
  const order: string[] = [];
  for (const s of scores) {
    for (const c of s.categories) {
      const m = by.get(c.category);
      if (!m) {
        by.set(c.category, { ...c, delays: [...c.delays], named: [...c.named] });
        order.push(c.category);
        continue;
      }
      m.clients += c.clients;
      m.blocked += c.blocked;
      m.delays.push(...c.delays);
      m.named.push(...c.named);
    }
  }
  return { categories: order.map((c) => by.get(c) as CategoryScore), strangers: scores.flatMap((s) => s.strangers) };
}
