import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../shared/config/load.js';
import { geoReport } from './geo.js';
import { UsageError } from './errors.js';

const { LOGWARDEN_CONFIG: _c, ...withoutConfig } = process.env;
const config = (maxAge: string) => loadConfig({ text: `geo: { max_age: ${maxAge} }\nlog_level: silent`, env: {} });

test('logwarden geo ADDRESS prints the databases and the address\'s country and AS', () => {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('./main.js', import.meta.url)), 'geo', '1.1.1.1'], { encoding: 'utf8', cwd: tmpdir(), env: withoutConfig });
  assert.match(out, /@ip-location-db\/geo-whois-asn-country 2\.3\.\d{10}\s+\(country\)/);
  assert.match(out, /@ip-location-db\/asn 2\.3\.\d{10}\s+\(asn\)/);
  assert.match(out, /data of \d{4}-\d{2}-\d{2}, \d+ days old/);
  assert.match(out, /licence CC0-1\.0/);
  assert.match(out, /country\s+AU\n\s+ASN\s+AS13335\s+Cloudflare, Inc\./);
});

test('a database older than geo.max_age is flagged; a younger one is not', () => {
  const json = (maxAge: string, now: number) => JSON.parse(geoReport(config(maxAge), '2001:4860:4860::8888', true, now)) as { databases: Array<{ date: string; stale: boolean }>; lookup: { country: string; asn: number } };
  const dataDate = Date.parse(`${json('90d', Date.now()).databases[0]?.date ?? ''}T00:00:00Z`);
  assert.deepEqual(json('90d', dataDate + 91 * 86_400_000).databases.map((d) => d.stale), [true, true]);
  assert.deepEqual(json('90d', dataDate + 89 * 86_400_000).databases.map((d) => d.stale), [false, false]);
  assert.deepEqual(json('0s', dataDate + 9999 * 86_400_000).databases.map((d) => d.stale), [false, false]);
  assert.deepEqual([json('90d', dataDate).lookup.country, json('90d', dataDate).lookup.asn], ['US', 15169]);
  assert.match(geoReport(config('90d'), undefined, false, dataDate + 100 * 86_400_000), /100 days old — OLDER THAN geo\.max_age/);
  assert.throws(() => geoReport(config('90d'), 'not-an-address', false), UsageError);
});
