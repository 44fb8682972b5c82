// The client's country and autonomous system, with no operator setup: two
// openly licensed databases installed from npm (package.json dependencies),
// read once per process into sorted typed-array range tables (tables.ts).
//
//   @ip-location-db/geo-whois-asn-country  country   (package CC0-1.0; data CC BY 4.0, NRO)
//   @ip-location-db/asn                    ASN + org (CC BY 4.0: RouteViews, DB-IP, NRO)
//
// Files read: <name>-ipv4-num.csv (start,end as integers) and <name>-ipv6.csv
// (start,end as text addresses), each line an inclusive range; the ASN files
// add the number and the organisation (quoted when it holds a comma).
// Loading takes about a second and some 30 MiB; lookups allocate nothing
// but the answer.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseClient, parseV6 } from '../ip.js';
import type { GeoRanges } from './packed-ranges.js';
export { GeoMemo } from './memo.js';
import { MergedTable4, NO_AS, RangeBuilder, packCountry, unpackCountry, type RangeTable } from './tables.js';

const require = createRequire(import.meta.url);

export interface GeoSource {
  /** The npm package. */
  name: string;
  version: string;
  /** The data's date (YYYY-MM-DD), from the package version (2.3.YYYYMMDDHH). */
  date: string;
  license: string;
  /** What the ranges give: "country" or "asn". */
  gives: 'country' | 'asn';
  ranges: number;
  /** Bytes of its CSV files that are read. */
  bytesOnDisk: number;
}

export interface GeoAnswer {
  /** ISO 3166-1 alpha-2, upper case; null when unknown. */
  country: string | null;
  asn: number | null;
  as_org: string | null;
}

/** What annotate() writes into: the record's geo fields. */
export interface GeoFields {
  client_ip: string;
  country: string | null;
  asn?: number | null;
  as_org?: string | null;
}

const COUNTRY_PACKAGE = '@ip-location-db/geo-whois-asn-country';
const ASN_PACKAGE = '@ip-location-db/asn';

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

function sourceOf(name: string, gives: 'country' | 'asn', files: string[], ranges: number): GeoSource {
  const dir = packageDir(name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string; license: string };
  const m = /\.(\d{4})(\d{2})(\d{2})\d*$/.exec(pkg.version);
  return {
    name,
    version: pkg.version,
    date: m ? `${m[1]}-${m[2]}-${m[3]}` : '',
    license: pkg.license,
    gives,
    ranges,
    bytesOnDisk: files.reduce((n, f) => n + statSync(join(dir, f)).size, 0),
  };
}

/** The last field of a CSV line, from `from`: unquoted when quoted ("" inside is one "). */
function lastField(line: string, from: number): string {
  if (line.charCodeAt(from) !== 34) return line.slice(from);
  const end = line.lastIndexOf('"');
  return line.slice(from + 1, end > from ? end : line.length).replace(/""/g, '"');
}

function* lines(text: string): Generator<string> {
  let at = 0;
  while (at < text.length) {
    let nl = text.indexOf('\n', at);
    if (nl < 0) nl = text.length;
    const line = text.charCodeAt(nl - 1) === 13 ? text.slice(at, nl - 1) : text.slice(at, nl);
    at = nl + 1;
    if (line !== '') yield line;
  }
}

const groups = new Uint16Array(8);
function setV6(text: string, out: Uint32Array, at: number): boolean {
  if (!parseV6(text, groups)) return false;
  for (let i = 0; i < 4; i++) out[at + i] = (((groups[2 * i] as number) << 16) | (groups[2 * i + 1] as number)) >>> 0;
  return true;
}

type ValueOf = (rest: string, b: RangeBuilder, i: number) => void;

function readV4(file: string, value: ValueOf): RangeTable {
  const b = new RangeBuilder(1);
  for (const line of lines(readFileSync(file, 'latin1'))) {
    const c1 = line.indexOf(',');
    const c2 = line.indexOf(',', c1 + 1);
    if (c1 < 0 || c2 < 0) continue;
    const i = b.next();
    b.starts[i] = Number(line.slice(0, c1));
    b.ends[i] = Number(line.slice(c1 + 1, c2));
    value(line.slice(c2 + 1), b, i);
  }
  return b.finish(true);
}

function readV6(file: string, value: ValueOf): RangeTable {
  const b = new RangeBuilder(4);
  for (const line of lines(readFileSync(file, 'latin1'))) {
    const c1 = line.indexOf(',');
    const c2 = line.indexOf(',', c1 + 1);
    if (c1 < 0 || c2 < 0) continue;
    const i = b.next();
    if (!setV6(line.slice(0, c1), b.starts, i * 4) || !setV6(line.slice(c1 + 1, c2), b.ends, i * 4)) {
      b.n--;
      continue;
    }
    value(line.slice(c2 + 1), b, i);
  }
  return b.finish(true);
}

export class GeoDatabase {
  readonly sources: GeoSource[];
  private readonly country4: RangeTable;
  private readonly country6: RangeTable;
  private readonly asn4: RangeTable;
  private readonly asn6: RangeTable;
  /** country4 and asn4 as one table: what IPv4 lookups search. */
  private readonly merged4: MergedTable4;
  /**
   * The distinct organisation names, back to back as the files hold them
   * (UTF-8 bytes): one buffer outside the V8 heap, where some 90,000 strings
   * would sit in the old generation (marked by every full GC, read from all
   * over the heap). Name k is bytes [orgEnds[k - 1] (0 for k = 0), orgEnds[k]).
   */
  private readonly orgText: Buffer;
  private readonly orgEnds: Uint32Array;
  /**
   * The names made strings so far (at their first use, then kept: the ASes of
   * the clients seen), packed in order of first use, so that the few thousand
   * a stream of clients names sit together; nameIds maps a name's index to its
   * place here (-1: not made yet).
   */
  readonly seenNames: string[] = [];
  private readonly nameIds: Int32Array;
  private readonly v4 = new Uint32Array(1);
  private readonly words = new Uint32Array(4);
  private readonly scratch = new Uint16Array(8);

  constructor() {
    const cdir = packageDir(COUNTRY_PACKAGE);
    const adir = packageDir(ASN_PACKAGE);
    const country: ValueOf = (rest, b, i) => {
      b.values[i] = rest.length === 2 ? packCountry(rest) : 0;
    };
    // Loading only: each distinct name as read (latin1: its UTF-8 bytes one char each) and its index.
    const orgIndex = new Map<string, number>();
    const raw: string[] = [];
    const asn: ValueOf = (rest, b, i) => {
      const comma = rest.indexOf(',');
      b.values[i] = Number(comma < 0 ? rest : rest.slice(0, comma));
      const org = comma < 0 ? '' : lastField(rest, comma + 1);
      let k = orgIndex.get(org);
      if (k === undefined) {
        k = raw.length;
        raw.push(org);
        orgIndex.set(org, k);
      }
      b.extra[i] = k;
    };
    const cFiles = ['geo-whois-asn-country-ipv4-num.csv', 'geo-whois-asn-country-ipv6.csv'];
    const aFiles = ['asn-ipv4-num.csv', 'asn-ipv6.csv'];
    this.country4 = readV4(join(cdir, cFiles[0] as string), country);
    this.country6 = readV6(join(cdir, cFiles[1] as string), country);
    this.asn4 = readV4(join(adir, aFiles[0] as string), asn);
    this.asn6 = readV6(join(adir, aFiles[1] as string), asn);
    this.merged4 = MergedTable4.build(this.country4, this.asn4);
    this.orgText = Buffer.from(raw.join(''), 'latin1');
    this.orgEnds = new Uint32Array(raw.length);
    let end = 0;
    for (let k = 0; k < raw.length; k++) this.orgEnds[k] = end += (raw[k] as string).length;
    this.nameIds = new Int32Array(raw.length).fill(-1);
    this.sources = [
      sourceOf(COUNTRY_PACKAGE, 'country', cFiles, this.country4.size + this.country6.size),
      sourceOf(ASN_PACKAGE, 'asn', aFiles, this.asn4.size + this.asn6.size),
    ];
  }

  /** Bytes held by the range tables (the organisation names not counted: see orgBytes). */
  get tableBytes(): number {
    return this.country4.bytes + this.country6.bytes + this.asn4.bytes + this.asn6.bytes + this.merged4.bytes;
  }

  /** Bytes of the merged IPv4 table alone (segments and /20 jump table), part of tableBytes. */
  get merged4Bytes(): number {
    return this.merged4.bytes;
  }

  /** Bytes of the distinct organisation names (UTF-8, one buffer) and their offsets. */
  get orgBytes(): number {
    return this.orgText.byteLength + this.orgEnds.byteLength;
  }

  /** How many distinct organisation names there are, and how many were made strings so far. */
  get orgCounts(): { names: number; materialised: number } {
    return { names: this.orgEnds.length, materialised: this.seenNames.length };
  }

  /** Parses `ip` into the scratch; 4, 6 or 0 (not an address). */
  private parse(ip: string): number {
    return parseClient(ip, this.v4, this.words, this.scratch);
  }

  private countryAt(kind: number): string | null {
    let v: number;
    if (kind === 4) v = this.countryCode4(this.v4[0] as number);
    else {
      const i = this.country6.find6(this.words);
      v = i < 0 ? 0 : (this.country6.values[i] as number);
    }
    return v === 0 ? null : unpackCountry(v);
  }

  /** The country code of `ip`, or null. */
  country(ip: string): string | null {
    const kind = this.parse(ip);
    return kind === 0 ? null : this.countryAt(kind);
  }

  /** Country and AS of `ip` (null fields when unknown). */
  lookup(ip: string): GeoAnswer {
    const kind = this.parse(ip);
    if (kind === 0) return { country: null, asn: null, as_org: null };
    if (kind === 4) {
      const rows = this.merged4.rows;
      const at = this.merged4.find(this.v4[0] as number);
      const cc = rows[at + 1] as number;
      const org = rows[at + 3] as number;
      const country = cc === 0 ? null : unpackCountry(cc);
      if (org === NO_AS) return { country, asn: null, as_org: null };
      return { country, asn: rows[at + 2] as number, as_org: this.orgName(org) };
    }
    const country = this.countryAt(kind);
    const i = this.asn6.find6(this.words);
    if (i < 0) return { country, asn: null, as_org: null };
    return { country, asn: this.asn6.values[i] as number, as_org: this.orgName((this.asn6.extra as Uint32Array)[i] as number) };
  }

  /** The packed country of an IPv4 address (0: unknown). */
  countryCode4(a: number): number {
    return this.merged4.rows[this.merged4.find(a) + 1] as number;
  }

  /**
   * The row of the IPv4 segment holding `a` in `rows4`: the packed country
   * (0: unknown) at +1, the ASN at +2, the organisation index at +3 (NO_AS:
   * no AS; read with orgName). One search for both answers.
   */
  segment4(a: number): number {
    return this.merged4.find(a);
  }

  get rows4(): Uint32Array {
    return this.merged4.rows;
  }

  /** The name of organisation `index` (null for NO_AS). */
  orgName(index: number): string | null {
    const id = this.nameId(index);
    return id === NO_AS ? null : (this.seenNames[id] as string);
  }

  /**
   * The place in seenNames of organisation `index`'s name, made a string at
   * its first use; NO_AS for NO_AS (or any index past the names).
   */
  nameId(index: number): number {
    if (!(index < this.orgEnds.length)) return NO_AS;
    let id = this.nameIds[index] as number;
    if (id < 0) {
      id = this.seenNames.length;
      // A string of its own (toString copies), decoded as the UTF-8 it is.
      this.seenNames.push(this.orgText.toString('utf8', index === 0 ? 0 : this.orgEnds[index - 1], this.orgEnds[index]));
      this.nameIds[index] = id;
    }
    return id;
  }

  /** The range tables as read, for a reference search (tests, the bench's baseline). */
  get rawTables(): { country4: RangeTable; country6: RangeTable; asn4: RangeTable; asn6: RangeTable } {
    return { country4: this.country4, country6: this.country6, asn4: this.asn4, asn6: this.asn6 };
  }

  /**
   * Sets a record's country (only when the log gave none: nginx's value
   * wins), ASN and organisation from its client address.
   */
  annotate(rec: GeoFields): void {
    const kind = this.parse(rec.client_ip);
    if (kind === 0) return;
    if (kind === 4) {
      const rows = this.merged4.rows;
      const at = this.merged4.find(this.v4[0] as number);
      const cc = rows[at + 1] as number;
      if (rec.country === null && cc !== 0) rec.country = unpackCountry(cc);
      const org = rows[at + 3] as number;
      if (org !== NO_AS) {
        rec.asn = rows[at + 2];
        rec.as_org = this.orgName(org);
      }
      return;
    }
    if (rec.country === null) rec.country = this.countryAt(kind);
    const t = this.asn6;
    const i = t.find6(this.words);
    if (i >= 0) {
      rec.asn = t.values[i];
      rec.as_org = this.orgName((t.extra as Uint32Array)[i] as number);
    }
  }

  /**
   * The answer for the IPv6 address in `words` (as parseClient leaves it),
   * written at out[at..at+2] as GeoMemo keeps it: packed country (0:
   * unknown), ASN, organisation index (NO_AS: no AS).
   */
  answer6(words: Uint32Array, out: Uint32Array, at: number): void {
    const c = this.country6.find6(words);
    out[at] = c < 0 ? 0 : (this.country6.values[c] as number);
    const t = this.asn6;
    const i = t.find6(words);
    out[at + 1] = i < 0 ? 0 : (t.values[i] as number);
    out[at + 2] = i < 0 ? NO_AS : ((t.extra as Uint32Array)[i] as number);
  }

  /**
   * Every range of a country code, merged, as the nodes take it
   * (packed-ranges.ts): what a geo rule on it needs at an edge without a
   * country variable.
   */
  countryRanges(cc: string): GeoRanges {
    const v = packCountry(cc);
    return { v4: rangesOf(this.country4, v), v6: rangesOf(this.country6, v) };
  }

  /** Every range of an autonomous system, as countryRanges. */
  asnRanges(asn: number): GeoRanges {
    return { v4: rangesOf(this.asn4, asn), v6: rangesOf(this.asn6, asn) };
  }
}

/**
 * The ranges of one value in a table, overlapping and adjacent ones merged
 * (the sources nest some ranges in others), flat as GeoRanges has them: IPv4
 * [lo, hi, …]; IPv6 sixteen 16-bit groups a range.
 */
function rangesOf(t: RangeTable, value: number): number[] {
  const out: number[] = [];
  const n = t.size;
  if (t.words === 1) {
    for (let i = 0; i < n; i++) {
      if (t.values[i] !== value) continue;
      const lo = t.starts[i] as number;
      const hi = t.ends[i] as number;
      const last = out.length - 1;
      if (last > 0 && lo <= (out[last] as number) + 1) out[last] = Math.max(out[last] as number, hi);
      else out.push(lo, hi);
    }
    return out;
  }
  // IPv6 (at push time only): as bigints, then sixteen groups each.
  const merged: Array<[bigint, bigint]> = [];
  for (let i = 0; i < n; i++) {
    if (t.values[i] !== value) continue;
    const lo = big(t.starts, i * 4);
    const hi = big(t.ends, i * 4);
    const prev = merged[merged.length - 1];
    if (prev !== undefined && lo <= prev[1] + 1n) {
      if (hi > prev[1]) prev[1] = hi;
    } else merged.push([lo, hi]);
  }
  for (const [lo, hi] of merged) {
    for (const v of [lo, hi]) for (let g = 7; g >= 0; g--) out.push(Number((v >> BigInt(16 * g)) & 0xffffn));
  }
  return out;
}

function big(a: Uint32Array, at: number): bigint {
  let v = 0n;
  for (let k = 0; k < 4; k++) v = (v << 32n) | BigInt(a[at + k] as number);
  return v;
}

let loaded: GeoDatabase | undefined;

/** The process's one copy of the databases, read at first use. */
export function geoDatabase(): GeoDatabase {
  loaded ??= new GeoDatabase();
  return loaded;
}

/** The sources whose data is older than `maxAgeMs` (0: none is too old), with their age in days. */
export function staleSources(db: GeoDatabase, maxAgeMs: number, now = Date.now()): Array<GeoSource & { ageDays: number }> {
  if (maxAgeMs <= 0) return [];
  return db.sources
    .map((s) => ({ ...s, ageDays: Math.floor((now - Date.parse(`${s.date}T00:00:00Z`)) / 86_400_000) }))
    .filter((s) => Number.isFinite(s.ageDays) && s.ageDays * 86_400_000 > maxAgeMs);
}
