// The shared security_filter vectors (schemas/security-filter/vectors.json and
// invalid.json), typed once for every test that runs them: the TypeScript
// engine's, the Lua module's at a real nginx, and the validators' parity test.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IpSet, parseClient } from '../ip.js';
import type { RuleSet, SecurityFilterRequest } from '../security-filter/index.js';

export interface VectorExpect {
  action: 'none' | 'warn' | 'challenge' | 'block';
  status?: number;
  rule_id?: string;
  matched?: string[];
}

/** The ranges of countries and ASes, as the enforcer pushes them to nodes (NodeRules.geo): the case's geo database. */
export interface VectorGeo {
  countries?: Record<string, string[]>;
  asns?: Record<string, string[]>;
}

export interface Vector {
  name: string;
  /** `request.country` is nginx's country variable (null: unset); these ranges are the database. */
  geo?: VectorGeo;
  rule_set: RuleSet | null;
  requests: Array<{ request: SecurityFilterRequest; expect: VectorExpect }>;
}

export interface InvalidVector {
  name: string;
  rule_set: unknown;
  error_path: string;
  schema?: false;
}

const file = (name: string): string => fileURLToPath(new URL(`../../../schemas/security-filter/${name}`, import.meta.url));

export const filterVectors = (): Vector[] => JSON.parse(readFileSync(file('vectors.json'), 'utf8')) as Vector[];
export const invalidFilterVectors = (): InvalidVector[] => JSON.parse(readFileSync(file('invalid.json'), 'utf8')) as InvalidVector[];

/** An IPv4 range "a.b.c.d-e.f.g.h" as CIDR blocks, for IpSet. */
function rangeBlocks(entry: string): string[] {
  const m = /^([\d.]+)-([\d.]+)$/.exec(entry);
  if (!m) return [entry];
  const n = (t: string): number => t.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const out: string[] = [];
  for (let lo = n(m[1] as string), hi = n(m[2] as string); lo <= hi; ) {
    let size = 1;
    while (lo % (size * 2) === 0 && lo + size * 2 - 1 <= hi) size *= 2;
    out.push(`${lo >>> 24}.${(lo >>> 16) & 255}.${(lo >>> 8) & 255}.${lo & 255}/${32 - Math.log2(size)}`);
    lo += size;
  }
  return out;
}

function keyOf(ranges: Record<string, string[]> | undefined, ip: string): string | null {
  const v4 = new Uint32Array(1);
  const words = new Uint32Array(4);
  const kind = parseClient(ip, v4, words, new Uint16Array(8));
  for (const [key, entries] of Object.entries(ranges ?? {})) {
    const set = new IpSet(entries.flatMap(rangeBlocks));
    if (kind === 4 ? set.hasV4(v4[0] as number) : kind === 6 && set.hasV6(words)) return key;
  }
  return null;
}

/**
 * The request as the TypeScript engine sees it after the ingester: the
 * country from nginx when given, else from the case's ranges; the AS from
 * the ranges.
 */
export function withGeo(v: Vector, r: SecurityFilterRequest): SecurityFilterRequest {
  if (v.geo === undefined) return r;
  const asn = keyOf(v.geo.asns, r.ip);
  return { ...r, country: r.country ?? keyOf(v.geo.countries, r.ip), asn: asn === null ? null : Number(asn) };
}
