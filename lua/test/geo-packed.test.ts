// The packed geo ranges (shared/geo/packed-ranges.ts) at a real nginx: the
// Lua module decodes the enforcer's streams and matches client addresses
// against them exactly as the ranges say — checked at the edges of real
// ranges from the bundled database (first and last address of a range, the
// address before and after), IPv4 and IPv6 — and refuses a malformed stream
// with 400 naming the field, keeping the rule set it had.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { geoDatabase } from '../../shared/geo/index.js';
import { packRanges, type GeoRanges } from '../../shared/geo/packed-ranges.js';
import { nginxRequest } from '../../shared/testing/nginx-client.js';
import { signedControl, startTestNginx, type TestNginx } from '../../shared/testing/nginx.js';

let nginx: TestNginx | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

before(async () => {
  nginx = await startTestNginx({ control: true, syslog: '127.0.0.1:9' });
});
after(async () => {
  agent.destroy();
  await nginx?.stop();
});

const rulesWith = (version: number, geo: unknown): unknown => ({
  version,
  whitelist: { ips: [], paths: [] },
  deployments: {},
  routes: [],
  security_filter: { version: 1, property: { enabled: true, filter_rules: [{ id: 'geo-x', match: { geo: [{ ASN: 64500 }] }, response_handling: { on_filtered: 'BLOCK', block_http_status: 451 } }] } },
  geo,
});

async function put(body: unknown): Promise<{ status: number; json: { error?: string; field?: string } }> {
  const res = await signedControl(nginx as TestNginx, 'PUT', '/rules', body);
  return { status: res.status, json: (await res.json()) as { error?: string; field?: string } };
}

const status = async (client: string): Promise<number> => (await nginxRequest({ port: (nginx as TestNginx).port, path: '/', client, agent })).status;

const v4Text = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const v6Text = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
const v6Big = (g: number[], at: number): bigint => g.slice(at, at + 8).reduce((n, x) => (n << 16n) | BigInt(x), 0n);
const v6Groups = (v: bigint): number[] => Array.from({ length: 8 }, (_, k) => Number((v >> BigInt(16 * (7 - k))) & 0xffffn));

/** Addresses at the edges of every `step`-th range, each with whether the ranges hold it. */
function edges(r: GeoRanges, step: number): Array<{ ip: string; inside: boolean }> {
  const out: Array<{ ip: string; inside: boolean }> = [];
  const n4 = r.v4.length / 2;
  const in4 = (a: number): boolean => {
    for (let i = 0; i < n4; i++) if (a >= (r.v4[2 * i] as number) && a <= (r.v4[2 * i + 1] as number)) return true;
    return false;
  };
  for (let i = 0; i < n4; i += step) {
    const lo = r.v4[2 * i] as number;
    const hi = r.v4[2 * i + 1] as number;
    for (const a of [lo - 1, lo, hi, hi + 1]) if (a > 0 && a < 0xe0000000) out.push({ ip: v4Text(a), inside: in4(a) });
  }
  const n6 = r.v6.length / 16;
  const ranges6 = Array.from({ length: n6 }, (_, i) => [v6Big(r.v6, 16 * i), v6Big(r.v6, 16 * i + 8)] as const);
  const in6 = (a: bigint): boolean => ranges6.some(([lo, hi]) => a >= lo && a <= hi);
  for (let i = 0; i < n6; i += step) {
    const [lo, hi] = ranges6[i] as readonly [bigint, bigint];
    for (const a of [lo - 1n, lo, hi, hi + 1n]) out.push({ ip: v6Text(v6Groups(a)), inside: in6(a) });
  }
  return out;
}

test('a packed AS matches at nginx exactly where its ranges are, IPv4 and IPv6', async (t) => {
  const db = geoDatabase();
  // AS3320 (Deutsche Telekom): thousands of IPv4 ranges and hundreds of IPv6 ones.
  const ranges = db.asnRanges(3320);
  assert.ok(ranges.v4.length / 2 > 100 && ranges.v6.length / 16 > 20, 'the AS has ranges of both families');
  const r = await put(rulesWith(1, { asns: { 64500: packRanges(ranges) } }));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const probes = edges(ranges, 7);
  const wrong: string[] = [];
  for (const p of probes) {
    const got = await status(p.ip);
    if (got !== (p.inside ? 451 : 200)) wrong.push(`${p.ip}: ${got}, ${p.inside ? 'inside' : 'outside'}`);
  }
  t.diagnostic(`${probes.length} addresses at range edges (${probes.filter((p) => p.inside).length} inside)`);
  assert.deepEqual(wrong, []);
  assert.ok(probes.some((p) => p.inside) && probes.some((p) => !p.inside));
});

test('the largest country packs within the control limit and matches at nginx', async (t) => {
  const us = packRanges(geoDatabase().countryRanges('US'));
  const t0 = performance.now();
  const r = await put(rulesWith(2, { asns: { 64500: us } }));
  const t1 = performance.now();
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(await status('8.8.8.8'), 451);
  t.diagnostic(`US: ${us.v4.length + us.v6.length} bytes packed; PUT /rules ${(t1 - t0).toFixed(0)} ms (validate, store), first request ${(performance.now() - t1).toFixed(0)} ms (a worker compiles)`);
  assert.equal(await status('2001:4860:4860::8888'), 451);
  assert.equal(await status('1.1.1.1'), 200, 'an Australian address passes');
});

test('a malformed packed value is refused naming the field, and the rule set before stays', async () => {
  const good = packRanges({ v4: [0x01020300, 0x010203ff], v6: [] });
  assert.equal((await put(rulesWith(3, { asns: { 64500: good } }))).status, 200);
  const bad: Array<[unknown, string]> = [
    [{ v4: '!!', v6: '' }, 'geo.asns["64500"].v4'],
    [{ v4: Buffer.from([0x80]).toString('base64'), v6: '' }, 'geo.asns["64500"].v4'],
    [{ v4: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]).toString('base64'), v6: '' }, 'geo.asns["64500"].v4'],
    [{ v4: '', v6: Buffer.from([0x91]).toString('base64') }, 'geo.asns["64500"].v6'],
    [{ v4: '', v6: Buffer.from([0x01, 0x20]).toString('base64') }, 'geo.asns["64500"].v6'],
    // Two ranges, the second starting before the first ends: 2001:: – 2001:120:ffff:…, then ::.
    [{ v4: '', v6: Buffer.from([0x01, 0x20, 0x01, 0x11, 0x01, 0x20, 0x00, 0x10]).toString('base64') }, 'geo.asns["64500"].v6'],
    [{ v4: '' }, 'geo.asns["64500"].v6'],
    [{ v4: '', v6: '', v8: '' }, 'geo.asns["64500"].v8'],
  ];
  for (const [value, field] of bad) {
    const res = await put(rulesWith(4, { asns: { 64500: value } }));
    assert.equal(res.status, 400, JSON.stringify(value));
    assert.equal(res.json.field, field, `${JSON.stringify(value)}: ${JSON.stringify(res.json)}`);
  }
  assert.equal(await status('1.2.3.4'), 451, 'the rule set before is still in force');
  assert.equal(await status('1.2.4.0'), 200);
});
