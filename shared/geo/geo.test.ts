import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config/load.js';
import { IpSet } from '../ip.js';
import { GeoMemo, geoDatabase, staleSources } from './database.js';
import { GEO_PUSH_MAX_BYTES, geoRangesFor, referencedGeo } from './node-ranges.js';

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

test('annotate keeps a country nginx gave and fills the AS', () => {
  const rec = { client_ip: '1.1.1.1', country: 'NZ' as string | null, asn: null as number | null | undefined, as_org: null as string | null | undefined };
  db.annotate(rec);
  assert.deepEqual(rec, { client_ip: '1.1.1.1', country: 'NZ', asn: 13335, as_org: 'Cloudflare, Inc.' });
});

test('the ranges of a country and of an AS cover exactly their addresses', () => {
  const ru = db.countryBlocks('RU');
  assert.ok(ru.length > 1000);
  const v4 = ru.filter((b) => !b.includes(':') && !b.includes('-'));
  const set = new IpSet(v4);
  const v4w = new Uint32Array(1);
  const [a, b, c, d] = '77.88.8.8'.split('.').map(Number) as [number, number, number, number];
  v4w[0] = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const asRanges = ru.filter((x) => x.includes('-'));
  const inRange = asRanges.some((r) => {
    const [lo, hi] = r.split('-').map((t) => t.split('.').reduce((n, p) => n * 256 + Number(p), 0)) as [number, number];
    return (v4w[0] as number) >= lo && (v4w[0] as number) <= hi;
  });
  assert.ok(set.hasV4(v4w[0]) || inRange, '77.88.8.8 is in the ranges of RU');
  const cf = db.asnBlocks(13335);
  assert.ok(cf.includes('1.1.1.0/24'), '1.1.1.0/24 is AS13335');
  assert.ok(cf.some((x) => x.startsWith('2606:4700:')), 'and 2606:4700::/32 ranges');
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
  assert.ok((ranges?.countries.KP?.length ?? 0) > 0);
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

test('ranges that would make the rule set too big for a node are left out and named', () => {
  const rs = { version: 1, property: { enabled: true, filter_rules: [{ id: 'a', match: { geo: [{ COUNTRY_CODE: 'US' }, { COUNTRY_CODE: 'KP' }] } }] } };
  const omitted: string[] = [];
  const ranges = geoRangesFor(rs, () => db, omitted);
  assert.deepEqual(Object.keys(ranges?.countries ?? {}), ['KP']);
  assert.equal(omitted.length, 1);
  assert.match(omitted[0] ?? '', /^COUNTRY_CODE US \(\d+ ranges\)$/);
  assert.ok(JSON.stringify(ranges).length <= GEO_PUSH_MAX_BYTES);
});

test('the ingester\'s memo answers exactly as the database, through colliding and repeated clients', () => {
  const memo = new GeoMemo(db);
  const ips: string[] = [];
  for (let i = 0; i < 200_000; i++) ips.push(`${(i * 7919) % 224}.${(i * 31) % 256}.${(i * 131) % 256}.${i % 256}`);
  ips.push('2606:4700:4700::1111', '127.0.0.1', 'bad');
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
