import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { parseV6 } from '../ip.js';
import { GeoMemo, geoDatabase, staleSources } from './database.js';
import { GEO_PUSH_MAX_BYTES, geoRangesFor, referencedGeo } from './node-ranges.js';
import { packRanges, unpackRanges, type GeoRanges } from './packed-ranges.js';

const db = geoDatabase();

test('the bundled databases load with their names, versions, dates and licences', () => {
  const names = db.sources.map((s) => s.name);
  assert.deepEqual(names, ['@ip-location-db/geo-whois-asn-country', '@ip-location-db/asn']);
  for (const s of db.sources) {
    assert.match(s.version, /^\d+\.\d+\.\d{10}$/);
    assert.match(s.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(s.ranges > 100_000, `${s.name}: ${s.ranges} ranges`);
    assert.ok(s.bytesOnDisk > 1_000_000);
  }
  assert.equal(db.sources[0]?.license, 'CC0-1.0');
  assert.match(db.sources[1]?.license ?? '', /CC-BY-4.0/);
});

test('lookups: IPv4, IPv6, IPv4-mapped, private and invalid addresses', () => {
  assert.deepEqual(db.lookup('1.1.1.1'), { country: 'AU', asn: 13335, as_org: 'Cloudflare, Inc.' });
  assert.deepEqual(db.lookup('::ffff:1.1.1.1'), db.lookup('1.1.1.1'));
  assert.deepEqual(db.lookup('2606:4700:4700::1111'), { country: 'US', asn: 13335, as_org: 'Cloudflare, Inc.' });
  assert.equal(db.lookup('77.88.8.8').country, 'RU');
  for (const ip of ['127.0.0.1', '10.1.2.3', '::1', 'not-an-ip', '']) assert.deepEqual(db.lookup(ip), { country: null, asn: null, as_org: null }, ip);
  assert.equal(db.country('8.8.8.8'), 'US');
});

test('every AS range names its organisation exactly as the CSV files do (UTF-8, quotes undone), IPv4 and IPv6', () => {
  const dir = dirname(createRequire(import.meta.url).resolve('@ip-location-db/asn/package.json'));
  const { asn4, asn6 } = db.rawTables;
  const groups = new Uint16Array(8);
  for (const [file, t, v6] of [['asn-ipv4-num.csv', asn4, false], ['asn-ipv6.csv', asn6, true]] as const) {
    // A CSV reader of its own: start,end,asn,organisation (quoted when it holds a comma, "" for ").
    const want: string[] = [];
    for (const line of readFileSync(join(dir, file), 'utf8').split(/\r?\n/)) {
      const f = line.split(',');
      if (f.length < 3) continue;
      if (v6 && !(parseV6(f[0] as string, groups) && parseV6(f[1] as string, groups))) continue;
      const rest = f.slice(3).join(',');
      want.push(rest.startsWith('"') ? rest.slice(1, rest.lastIndexOf('"')).replaceAll('""', '"') : rest);
    }
    assert.equal(want.length, t.size, file);
    const extra = t.extra as Uint32Array;
    let nonAscii = 0;
    for (let i = 0; i < t.size; i++) {
      const got = db.orgName(extra[i] as number);
      if (got !== want[i]) assert.equal(got, want[i], `${file} range ${i}`);
      if (Buffer.byteLength(got ?? '') !== (got ?? '').length) nonAscii++;
    }
    if (!v6) assert.ok(nonAscii > 0, 'some names are not ASCII (decoded as UTF-8)');
  }
  assert.equal(db.orgName(0xffffffff), null);
});

test('annotate keeps a country nginx gave and fills the AS', () => {
  const rec = { client_ip: '1.1.1.1', country: 'NZ' as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
  db.annotate(rec);
  assert.deepEqual(rec, { client_ip: '1.1.1.1', country: 'NZ', asn: 13335, as_org: 'Cloudflare, Inc.' });
});

test('the ranges of a country and of an AS cover exactly their addresses, merged and in order', () => {
  const ru = db.countryRanges('RU');
  assert.ok(ru.v4.length / 2 > 1000 && ru.v6.length / 16 > 100);
  const a = 77 * 2 ** 24 + 88 * 2 ** 16 + 8 * 256 + 8;
  const inV4 = (r: GeoRanges, n: number): boolean => {
    for (let i = 0; i < r.v4.length; i += 2) if (n >= (r.v4[i] as number) && n <= (r.v4[i + 1] as number)) return true;
    return false;
  };
  assert.ok(inV4(ru, a), '77.88.8.8 is in the ranges of RU');
  for (let i = 2; i < ru.v4.length; i += 2) assert.ok((ru.v4[i] as number) > (ru.v4[i - 1] as number) + 1, 'sorted, disjoint, adjacent ones merged');
  const cf = db.asnRanges(13335);
  assert.ok(inV4(cf, 0x01010101) && inV4(cf, 0x010101ff), '1.1.1.0/24 is AS13335');
  const starts6 = Array.from({ length: cf.v6.length / 16 }, (_, i) => cf.v6.slice(16 * i, 16 * i + 2).join(':'));
  assert.ok(starts6.includes(`${0x2606}:${0x4700}`), 'and 2606:4700:: ranges');
});

test('packed ranges round-trip exactly and are several times smaller than the text', () => {
  for (const r of [db.countryRanges('US'), db.countryRanges('RU'), db.asnRanges(13335), { v4: [], v6: [] }, { v4: [0, 0, 0xfffffffe, 0xffffffff], v6: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff] }]) {
    assert.deepEqual(unpackRanges(packRanges(r)), r);
  }
  const us = packRanges(db.countryRanges('US'));
  const textBytes = JSON.stringify(db.countryRanges('US')).length;
  assert.ok(us.v4.length + us.v6.length < textBytes / 3, `${us.v4.length + us.v6.length} bytes packed, ${textBytes} as numbers in JSON`);
  assert.throws(() => unpackRanges({ v4: Buffer.from([0x80]).toString('base64'), v6: '' }), /truncated/);
  assert.throws(() => unpackRanges({ v4: '', v6: Buffer.from([0x91]).toString('base64') }), /malformed/);
});

test('the ranges pushed to nodes are those the rule set names, nothing else', () => {
  const rs = {
    version: 1,
    property: { enabled: true, filter_rules: [{ id: 'a', match: { geo: [{ COUNTRY_CODE: 'KP' }] }, except: { geo: [{ ASN: 13335 }] } }] },
    paths: [{ path: '/x', security_filter: { enabled: true, filter_rules: [{ id: 'b', match: { ips: ['192.0.2.0/24'] } }] } }],
  };
  assert.deepEqual(referencedGeo(rs), { countries: new Set(['KP']), asns: new Set([13335]) });
  const ranges = geoRangesFor(rs, () => db);
  assert.deepEqual(Object.keys(ranges?.countries ?? {}), ['KP']);
  assert.deepEqual(Object.keys(ranges?.asns ?? {}), ['13335']);
  assert.ok((ranges?.countries.KP?.v4.length ?? 0) > 0);
  let loaded = false;
  assert.equal(geoRangesFor({ version: 1, property: { enabled: true, filter_rules: [{ id: 'c', match: { ips: ['192.0.2.0/24'] } }] } }, () => ((loaded = true), db)), undefined);
  assert.equal(loaded, false, 'no geo rule: the database is not even needed');
});

test('a database older than geo.max_age is reported; 0s never', () => {
  const dataDate = Date.parse(`${db.sources[0]?.date ?? ''}T00:00:00Z`);
  assert.deepEqual(staleSources(db, 90 * 86_400_000, dataDate + 10 * 86_400_000), []);
  const stale = staleSources(db, 90 * 86_400_000, dataDate + 100 * 86_400_000);
  assert.deepEqual(stale.map((s) => [s.name, s.ageDays]), [['@ip-location-db/geo-whois-asn-country', 100], ['@ip-location-db/asn', 100]]);
  assert.deepEqual(staleSources(db, 0, dataDate + 1000 * 86_400_000), []);
  assert.equal(loadConfig({ text: 'geo: { max_age: 30d }', env: {} }).geo.max_age_ms, 30 * 86_400_000);
  assert.throws(() => loadConfig({ text: 'geo: { max_age: 30 }', env: {} }), /geo\.max_age/);
});

test('ranges that would make the rule set too big for a node are left out and named; the largest country alone fits', () => {
  const us = geoRangesFor({ version: 1, property: { enabled: true, filter_rules: [{ id: 'a', match: { geo: [{ COUNTRY_CODE: 'US' }] } }] } }, () => db);
  assert.deepEqual(Object.keys(us?.countries ?? {}), ['US']);
  // Every country with ranges in the database, in one rule: some must be left out.
  const all = [...new Set(Array.from(db.rawTables.country4.values, (v) => v))].filter((v) => v !== 0).map((v) => String.fromCharCode(v >>> 8, v & 255));
  const rs = { version: 1, property: { enabled: true, filter_rules: Array.from({ length: 10 }, (_, i) => ({ id: `r${i}`, match: { geo: all.slice(i * 25, i * 25 + 25).map((c) => ({ COUNTRY_CODE: c })) } })) } };
  const omitted: string[] = [];
  const ranges = geoRangesFor(rs, () => db, omitted);
  assert.ok(omitted.length > 0, 'some countries are left out');
  for (const o of omitted) assert.match(o, /^COUNTRY_CODE [A-Z]{2} \(\d+ ranges\)$/);
  assert.ok(Object.keys(ranges?.countries ?? {}).length > 100, 'the smaller ones are in');
  assert.ok(JSON.stringify(ranges).length <= GEO_PUSH_MAX_BYTES);
});

test('the ingester\'s memo answers exactly as the database, through colliding and repeated clients, IPv4 and IPv6', () => {
  const memo = new GeoMemo(db);
  const ips: string[] = [];
  for (let i = 0; i < 200_000; i++) ips.push(`${(i * 7919) % 224}.${(i * 31) % 256}.${(i * 131) % 256}.${i % 256}`);
  // IPv6 clients too, more than the IPv6 memo has slots, differing in every word (so slots collide and are replaced).
  for (let i = 0; i < 40_000; i++) ips.push(`2${((i * 7) % 16).toString(16)}${(i % 256).toString(16).padStart(2, '0')}:${((i * 131) % 65536).toString(16)}:${(i % 3).toString(16)}::${(i * 17) % 65536 === 0 ? 1 : ((i * 17) % 65536).toString(16)}`);
  ips.push('2606:4700:4700::1111', '::ffff:1.1.1.1', '127.0.0.1', 'bad');
  for (const round of [0, 1]) {
    for (const ip of ips) {
      const rec = { client_ip: ip, country: null as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
      memo.annotate(rec);
      const want = db.lookup(ip);
      if (rec.country !== want.country || rec.asn !== want.asn || rec.as_org !== want.as_org) assert.fail(`round ${round} ${ip}: ${JSON.stringify(rec)} vs ${JSON.stringify(want)}`);
    }
  }
  const kept = { client_ip: '1.1.1.1', country: 'NZ' as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
  memo.annotate(kept);
  assert.deepEqual([kept.country, kept.asn], ['NZ', 13335], 'nginx\'s country wins');
});

/** The range holding `a` in a sorted table, by a plain search of the whole table (no index): the reference. */
function reference4(starts: Uint32Array, ends: Uint32Array, a: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    if ((starts[mid] as number) <= a) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return at >= 0 && a <= (ends[at] as number) ? at : -1;
}

const big6 = (t: Uint32Array, i: number): bigint => (BigInt(t[4 * i] as number) << 96n) | (BigInt(t[4 * i + 1] as number) << 64n) | (BigInt(t[4 * i + 2] as number) << 32n) | BigInt(t[4 * i + 3] as number);

function reference6(starts: Uint32Array, ends: Uint32Array, a: bigint): number {
  let lo = 0;
  let hi = starts.length / 4 - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (big6(starts, mid) <= a) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return at >= 0 && a <= big6(ends, at) ? at : -1;
}

const v6text = (a: bigint): string => {
  const g: string[] = [];
  for (let k = 7; k >= 0; k--) g.push(((a >> BigInt(16 * k)) & 0xffffn).toString(16));
  return g.join(':');
};

test('the merged IPv4 table and the cache answer exactly as a plain search of the tables as read, at random and boundary addresses (IPv4 and IPv6)', () => {
  const { country4, country6, asn4, asn6 } = db.rawTables;
  let seed = 0x5eed;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  const v4: number[] = [0, 1, 0xffffffff, 0xfffffffe, 0x7f000001];
  for (let i = 0; i < 40_000; i++) v4.push(rand() ^ (rand() << 16));
  for (const t of [country4, asn4]) {
    for (let k = 0; k < 20_000; k++) {
      const i = rand() % t.size;
      const s = t.starts[i] as number;
      const e = t.ends[i] as number;
      v4.push(s, e, Math.max(0, s - 1), Math.min(0xffffffff, e + 1));
    }
  }
  const memo = new GeoMemo(db);
  let checked = 0;
  for (const raw of v4) {
    const a = raw >>> 0;
    const ip = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    const ci = reference4(country4.starts, country4.ends, a);
    const cv = ci < 0 ? 0 : (country4.values[ci] as number);
    const ai = reference4(asn4.starts, asn4.ends, a);
    assert.equal(db.countryCode4(a), cv, ip);
    const got = db.lookup(ip);
    assert.equal(got.country, cv === 0 ? null : String.fromCharCode(cv >>> 8, cv & 255), ip);
    assert.equal(got.asn, ai < 0 ? null : asn4.values[ai], ip);
    assert.equal(got.as_org, ai < 0 ? null : db.orgName((asn4.extra as Uint32Array)[ai] as number), ip);
    const rec = { client_ip: ip, country: null as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
    memo.annotate(rec);
    assert.deepEqual({ country: rec.country, asn: rec.asn, as_org: rec.as_org }, got, ip);
    const direct = { client_ip: ip, country: null as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
    db.annotate(direct);
    assert.deepEqual({ country: direct.country, asn: direct.asn, as_org: direct.as_org }, got, ip);
    checked++;
  }
  const v6: bigint[] = [0n, (1n << 128n) - 1n, 0x20010db8n << 96n];
  for (let i = 0; i < 5_000; i++) v6.push((0x2n << 124n) | (BigInt(rand()) << 96n) | (BigInt(rand()) << 64n) | BigInt(rand()));
  for (const t of [country6, asn6]) {
    for (let k = 0; k < 5_000; k++) {
      const i = rand() % t.size;
      const s = big6(t.starts, i);
      const e = big6(t.ends, i);
      v6.push(s, e, s > 0n ? s - 1n : s, e < (1n << 128n) - 1n ? e + 1n : e);
    }
  }
  for (const a of v6) {
    // IPv4-mapped addresses are IPv4 clients: checked above.
    if (a >> 32n === 0xffffn) continue;
    const ip = v6text(a);
    const ci = reference6(country6.starts, country6.ends, a);
    const cv = ci < 0 ? 0 : (country6.values[ci] as number);
    const ai = reference6(asn6.starts, asn6.ends, a);
    const got = db.lookup(ip);
    assert.equal(got.country, cv === 0 ? null : String.fromCharCode(cv >>> 8, cv & 255), ip);
    assert.equal(got.asn, ai < 0 ? null : asn6.values[ai], ip);
    assert.equal(got.as_org, ai < 0 ? null : db.orgName((asn6.extra as Uint32Array)[ai] as number), ip);
    const rec = { client_ip: ip, country: null as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
    memo.annotate(rec);
    assert.deepEqual({ country: rec.country, asn: rec.asn, as_org: rec.as_org }, got, ip);
    checked++;
  }
  assert.ok(checked > 200_000, `${checked} addresses checked`);
});
