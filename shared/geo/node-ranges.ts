// What a node needs to match geo rules without nginx's geoip2 module: the
// ranges of exactly the countries and autonomous systems that the rule set's
// geo criteria name (match and except, every level), from the bundled
// databases, in NodeRules.geo. Only what rules reference is pushed, so the
// rule set stays small (a country of a few hundred ranges to tens of
// thousands for the largest); ranges are computed once per key and kept.
import type { NodeGeoRanges } from '../control/node-rules.js';
import type { Criteria, RuleSet, SecurityFilter } from '../security-filter/index.js';
import type { GeoDatabase } from './database.js';

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

const cache = new WeakMap<GeoDatabase, Map<string, string[]>>();

/**
 * The ranges the rule set's geo criteria need, or undefined when it names
 * none or there is no database (`load` is called only when needed). The
 * countries and ASes whose ranges would push it over GEO_PUSH_MAX_BYTES are
 * left out, named in `omitted`.
 */
export function geoRangesFor(rs: RuleSet | null, load: () => GeoDatabase | null, omitted?: string[]): NodeGeoRanges | undefined {
  const { countries, asns } = referencedGeo(rs);
  if (countries.size === 0 && asns.size === 0) return undefined;
  const db = load();
  if (db === null) return undefined;
  let memo = cache.get(db);
  if (memo === undefined) cache.set(db, (memo = new Map<string, string[]>()));
  const get = (key: string, make: () => string[]): string[] => {
    let v = memo.get(key);
    if (v === undefined) memo.set(key, (v = make()));
    return v;
  };
  const wanted = [
    ...[...countries].sort().map((cc) => ({ kind: 'countries' as const, key: cc, blocks: get(`cc:${cc}`, () => db.countryBlocks(cc)) })),
    ...[...asns].sort((a, b) => a - b).map((asn) => ({ kind: 'asns' as const, key: String(asn), blocks: get(`as:${asn}`, () => db.asnBlocks(asn)) })),
  ];
  // The smallest first, while they fit the budget: a key left out is matched at the node only through nginx's country variable.
  const out: NodeGeoRanges = { countries: {}, asns: {} };
  let bytes = 0;
  for (const w of [...wanted].sort((a, b) => a.blocks.length - b.blocks.length)) {
    const size = w.blocks.reduce((n, b) => n + b.length + 3, 0);
    if (bytes + size > GEO_PUSH_MAX_BYTES) {
      omitted?.push(`${w.kind === 'countries' ? 'COUNTRY_CODE' : 'ASN'} ${w.key} (${w.blocks.length} ranges)`);
      continue;
    }
    bytes += size;
    out[w.kind][w.key] = w.blocks;
  }
  return out;
}

/**
 * What the ranges of one rule set may add to the node's rule set (JSON bytes):
 * the Lua control endpoint takes bodies of up to 1 MiB.
 */
export const GEO_PUSH_MAX_BYTES = 768 * 1024;
