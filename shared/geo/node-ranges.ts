// What a node needs to match geo rules without nginx's geoip2 module: the
// ranges of exactly the countries and autonomous systems that the rule set's
// geo criteria name (match and except, every level), from the bundled
// databases, in NodeRules.geo, packed (packed-ranges.ts). Only what rules
// reference is pushed, so the rule set stays small (a country of a few
// hundred ranges to tens of thousands for the largest); ranges are packed
// once per key and kept.
import type { NodeGeoRanges } from '../control/node-rules.js';
import type { Criteria, RuleSet, SecurityFilter } from '../security-filter/index.js';
import type { GeoDatabase } from './database.js';
import { packRanges, rangeCount, type GeoRanges, type PackedRanges } from './packed-ranges.js';

function criteriaOf(f: SecurityFilter | undefined): Criteria[] {
  return (f?.filter_rules ?? []).flatMap((r) => (r.except ? [r.match, r.except] : [r.match]));
}

/** The countries and ASNs a rule set's geo criteria name. */
export function referencedGeo(rs: RuleSet | null): { countries: Set<string>; asns: Set<number> } {
  const countries = new Set<string>();
  const asns = new Set<number>();
  if (rs === null) return { countries, asns };
  const all = [...criteriaOf(rs.property), ...Object.values(rs.domains ?? {}).flatMap(criteriaOf), ...(rs.paths ?? []).flatMap((p) => criteriaOf(p.security_filter))];
  for (const c of all) {
    for (const g of c.geo ?? []) {
      if (g.COUNTRY_CODE !== undefined) countries.add(g.COUNTRY_CODE);
      else asns.add(g.ASN);
    }
  }
  return { countries, asns };
}

const cache = new WeakMap<GeoDatabase, Map<string, Packed>>();

interface Packed {
  packed: PackedRanges;
  ranges: number;
  /** JSON bytes it adds to the rule set. */
  bytes: number;
}

function pack(r: GeoRanges): Packed {
  const packed = packRanges(r);
  return { packed, ranges: rangeCount(r), bytes: packed.v4.length + packed.v6.length + 24 };
}

/**
 * The ranges the rule set's geo criteria need, packed (packed-ranges.ts), or
 * undefined when it names none or there is no database (`load` is called
 * only when needed). The countries and ASes whose ranges would push it over
 * GEO_PUSH_MAX_BYTES are left out, named in `omitted`.
 */
export function geoRangesFor(rs: RuleSet | null, load: () => GeoDatabase | null, omitted?: string[]): NodeGeoRanges | undefined {
  const { countries, asns } = referencedGeo(rs);
  if (countries.size === 0 && asns.size === 0) return undefined;
  const db = load();
  if (db === null) return undefined;
  let memo = cache.get(db);
  if (memo === undefined) cache.set(db, (memo = new Map<string, Packed>()));
  const get = (key: string, make: () => GeoRanges): Packed => {
    let v = memo.get(key);
    if (v === undefined) memo.set(key, (v = pack(make())));
    return v;
  };
  const wanted = [
    ...[...countries].sort().map((cc) => ({ kind: 'countries' as const, key: cc, p: get(`cc:${cc}`, () => db.countryRanges(cc)) })),
    ...[...asns].sort((a, b) => a - b).map((asn) => ({ kind: 'asns' as const, key: String(asn), p: get(`as:${asn}`, () => db.asnRanges(asn)) })),
  ];
  // The smallest first, while they fit the budget: a key left out is matched at the node only through nginx's country variable.
  const out: NodeGeoRanges = { countries: {}, asns: {} };
  let bytes = 0;
  for (const w of [...wanted].sort((a, b) => a.p.bytes - b.p.bytes)) {
    if (bytes + w.p.bytes > GEO_PUSH_MAX_BYTES) {
      omitted?.push(`${w.kind === 'countries' ? 'COUNTRY_CODE' : 'ASN'} ${w.key} (${w.p.ranges} ranges)`);
      continue;
    }
    bytes += w.p.bytes;
    out[w.kind][w.key] = w.p.packed;
  }
  return out;
}

/**
 * What the ranges of one rule set may add to the node's rule set (JSON
 * bytes), within the 4 MiB the Lua control endpoint takes: every country but
 * the few largest together (the United States alone packs to about 0.8 MB).
 */
export const GEO_PUSH_MAX_BYTES = 3 * 1024 * 1024;
