import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileTrustedProxies, msecToMs, num, recordFromFields, recordFromJson, splitUri, type RecordContext } from './record.js';

const ctx: RecordContext = { deployments: { 'shop.example': 'shop' }, trustedProxies: [], defaultNode: 'fallback' };
const line = (over: Record<string, unknown> = {}): string =>
  JSON.stringify({
    ts: '1763706044.123', node: 'edge-1', deployment: '', client_ip: '203.0.113.9', xff: '', method: 'GET', host: 'shop.example',
    uri: '/a//b?q=1&x=%2e', status: '404', bytes: '153', request_time: '0.002', upstream_time: '', user_agent: 'curl/8.5.0',
    referer: '', country: 'de', auth_user: '', request_id: 'abc', blocked_by: '', filter_alert: '', ...over,
  });

test('the shipped JSON format maps onto every record field', () => {
  const r = recordFromJson(line({ custom_var: 'kept', upstream_time: '0.010, 0.020 : 0.005' }), undefined, ctx, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.record, {
    ts: 1763706044123, node: 'edge-1', deployment: 'shop', client_ip: '203.0.113.9', method: 'GET', host: 'shop.example', path: '/a/b',
    query: 'q=1&x=%2e', status: 404, bytes: 153, request_time: 0.002, upstream_time: 0.035, user_agent: 'curl/8.5.0', referer: '',
    country: 'DE', asn: null, as_org: null, auth_user: null, request_id: 'abc', blocked_by: null, filter_alert: null, extra: { custom_var: 'kept', path_raw: '/a//b' },
  });
});

test('nginx "-" placeholders and numbers-as-numbers are accepted', () => {
  const r = recordFromJson(line({ status: 200, bytes: 10, referer: '-', auth_user: '-', country: '-', upstream_time: '-' }), undefined, ctx, 0);
  assert.ok(r.ok);
  assert.equal(r.record.status, 200);
  assert.equal(r.record.referer, '');
  assert.equal(r.record.auth_user, null);
  assert.equal(r.record.country, null);
  assert.equal(r.record.upstream_time, null);
});

test('a line over a minute ahead of its arrival takes the arrival time and says how far ahead it was; late lines and unknown arrivals keep their own', () => {
  const logged = 1763706044123;
  const at = (receivedAt: number, over: Record<string, unknown> = {}) => {
    const r = recordFromJson(line(over), undefined, ctx, receivedAt);
    assert.ok(r.ok);
    return r.record;
  };
  // A node's clock two hours ahead: Kafka would refuse the record, the detector's clock would jump.
  const ahead = at(logged - 7_200_000);
  assert.equal(ahead.ts, logged - 7_200_000);
  assert.deepEqual(ahead.extra, { clock_ahead_ms: '7200000', path_raw: '/a//b' });
  // Up to a minute ahead is a clock a little off (or a relay's): the line's own time stands.
  assert.deepEqual([at(logged - 60_000).ts, at(logged - 60_000).extra.clock_ahead_ms], [logged, undefined]);
  assert.equal(at(logged - 60_001).ts, logged - 60_001);
  // Behind its arrival (a relay's backlog, a clock behind): kept, not squeezed into now.
  assert.deepEqual([at(logged + 86_400_000).ts, at(logged + 86_400_000).extra.clock_ahead_ms], [logged, undefined]);
  // Arrival unknown (a replayed file): the line's own time.
  assert.deepEqual([at(0).ts, at(0).extra.clock_ahead_ms], [logged, undefined]);
  // A syslog header's time is judged the same way when the line has none.
  const header = { facility: 23, severity: 6, timestamp: logged, hostname: 'h', tag: 'nginx' };
  const h = recordFromJson(line({ ts: undefined }), header, ctx, logged - 3_600_000);
  assert.ok(h.ok);
  assert.deepEqual([h.record.ts, h.record.extra.clock_ahead_ms], [logged - 3_600_000, '3600000']);
});

test('event time falls back to the syslog header, then to arrival', () => {
  const header = { facility: 23, severity: 6, timestamp: 1_000_000, hostname: 'h', tag: 'nginx' };
  const a = recordFromJson(line({ ts: undefined, node: '' }), header, ctx, 1_000_250);
  assert.ok(a.ok);
  assert.equal(a.record.ts, 1_000_000);
  assert.equal(a.record.node, 'h');
  const b = recordFromJson(line({ ts: '-', node: '' }), undefined, ctx, 1_000_250);
  assert.ok(b.ok);
  assert.equal(b.record.ts, 1_000_250);
  assert.equal(b.record.node, 'fallback');
});

test('X-Forwarded-For is believed only from trusted proxies', () => {
  const trusted: RecordContext = { ...ctx, trustedProxies: compileTrustedProxies(['10.0.0.0/8', '2001:db8::/32']) };
  const via = (client: string, xff: string, c = trusted) => {
    const r = recordFromJson(line({ client_ip: client, xff }), undefined, c, 0);
    assert.ok(r.ok);
    return r.record.client_ip;
  };
  assert.equal(via('10.1.1.1', '198.51.100.7, 10.2.2.2'), '198.51.100.7');
  assert.equal(via('10.1.1.1', '1.1.1.1, 198.51.100.7'), '198.51.100.7', 'right-most untrusted hop wins, not the forgeable left-most');
  assert.equal(via('203.0.113.5', '198.51.100.7'), '203.0.113.5', 'untrusted peer: XFF ignored');
  assert.equal(via('10.1.1.1', 'garbage, 10.2.2.2'), '10.1.1.1', 'garbled hop stops trust');
  assert.equal(via('10.1.1.1', '198.51.100.7', ctx), '10.1.1.1', 'no trusted proxies configured');
  assert.equal(via('::ffff:10.1.1.1', '2001:db9::5'), '2001:db9::5');
});

test('bad lines are rejected with a reason', () => {
  const cases: Array<[string, string]> = [
    ['not json', 'bad_format'],
    ['[1,2]', 'bad_format'],
    ['null', 'bad_format'],
    [line({ client_ip: 'evil' }), 'bad_ip'],
    [line({ client_ip: '' }), 'bad_ip'],
    [line({ status: 'abc' }), 'bad_format'],
    [line({ status: '2000' }), 'bad_format'],
    [line({ status: '20.5' }), 'bad_format'],
    ['{"client_ip":"1.2.3.4"', 'bad_format'],
  ];
  for (const [text, reason] of cases) {
    const r = recordFromJson(text, undefined, ctx, 0);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.equal(r.reason, reason, text);
  }
});

test('uri splitting', () => {
  const pq = (uri: string) => {
    const { path, query } = splitUri(uri);
    return { path, query };
  };
  assert.deepEqual(pq('/x?y=1?z'), { path: '/x', query: 'y=1?z' });
  assert.deepEqual(pq('///a///b/'), { path: '/a/b/', query: '' });
  assert.deepEqual(pq(''), { path: '', query: '' }, 'no request line: no path, not "/"');
  assert.deepEqual(pq('?q'), { path: '/', query: 'q' });
});

test('path normalisation table (testdata/parse/paths.json)', () => {
  const file = fileURLToPath(new URL('../../../shared/access-log/testdata/parse/paths.json', import.meta.url));
  const { cases } = JSON.parse(readFileSync(file, 'utf8')) as { cases: Array<[string, string, string, string]> };
  assert.ok(cases.length > 20);
  for (const [uri, path, query, flags] of cases) {
    const u = splitUri(uri);
    const want = new Set(flags.split(' ').filter((f) => f !== ''));
    assert.equal(u.path, path, `path of ${JSON.stringify(uri)}`);
    assert.equal(u.query, query, `query of ${JSON.stringify(uri)}`);
    assert.equal(u.traversal, want.has('traversal'), `traversal flag of ${JSON.stringify(uri)}`);
    assert.equal(u.encoded, want.has('encoded'), `encoded flag of ${JSON.stringify(uri)}`);
    assert.equal(u.doubleEncoded, want.has('double_encoded'), `double_encoded flag of ${JSON.stringify(uri)}`);
    assert.equal(u.overlong, want.has('overlong'), `overlong flag of ${JSON.stringify(uri)}`);
    const rawPath = uri.split('?')[0] as string;
    assert.equal(u.pathRaw, rawPath !== '' && path !== rawPath ? rawPath : undefined, `pathRaw of ${JSON.stringify(uri)}`);
    // Normalising is idempotent: detectors may normalise again and count the same path.
    assert.equal(splitUri(u.path).path, u.path, `idempotent on ${JSON.stringify(uri)}`);
  }
});

test('one path, however it is spelt', () => {
  const spellings = ['/admin/login', '/admin/./login', '//admin//login', '/admin/x/../login', '/%61dmin/login', '/admin%2flogin', '/admin/%2e/login', '/x/%252e%252e/admin/login'];
  for (const s of spellings) assert.equal(splitUri(s).path, '/admin/login', s);
});

test('numbers as nginx writes them, parsed exactly', () => {
  for (const s of ['0', '7', '153', '0.012', '0.1', '1763704844.123', '123456789012345', '3.000', '1e3', '00012', '1.5']) {
    assert.equal(num(s), Number(s), s);
  }
  assert.equal(num(''), undefined);
  assert.equal(num('-'), undefined);
  assert.equal(num('abc'), undefined);
  assert.equal(num('Infinity'), undefined);
  assert.equal(msecToMs('1763704844.123'), 1763704844123);
  assert.equal(msecToMs('1763704844.999'), 1763704844999);
  assert.equal(msecToMs('1763704844'), 1763704844000);
  assert.equal(msecToMs('1.5e3'), 1500000);
  assert.equal(msecToMs('-'), undefined);
});

test('recordFromFields takes numbers, strings and nulls alike', () => {
  const a = recordFromFields({ client_ip: '203.0.113.9', status: 200, bytes: 10, ts: 1763706044.5, referer: null, uri: '/x' }, undefined, ctx, 0);
  const b = recordFromFields({ client_ip: '203.0.113.9', status: '200', bytes: '10', ts: '1763706044.500', referer: '-', uri: '/x' }, undefined, ctx, 0);
  assert.ok(a.ok && b.ok);
  assert.deepEqual(a.record, b.record);
  assert.equal(a.record.ts, 1763706044500);
});

test('host → deployment lookup is an own-key lookup, with port and case folded', () => {
  const c: RecordContext = { ...ctx, deployments: { 'shop.example': 'shop' } };
  const dep = (host: string) => {
    const r = recordFromJson(line({ host, deployment: '' }), undefined, c, 0);
    assert.ok(r.ok);
    return r.record.deployment;
  };
  assert.equal(dep('shop.example'), 'shop');
  assert.equal(dep('Shop.Example:8443'), 'shop');
  assert.equal(dep('toString'), '');
  assert.equal(dep('constructor'), '');
  assert.equal(dep('hasOwnProperty'), '');
  assert.equal(dep('[2001:db8::1]:443'), '');
});

test('client addresses normalise exactly as shared/ip.ts does, cached or not', async () => {
  const { normalizeIp } = await import('../ip.js');
  const addrs = ['203.0.113.9', '2001:DB8::1', '2001:db8:0:0:0:0:0:1', '[2001:db8::1]', '::ffff:10.1.2.3', '::FFFF:a01:203', 'fe80::1%eth0', '::', '::1', '1::2::3', '2001:db8::g', ' 2001:db8::5 ', '010.1.1.1', '1.2.3.256', 'x:y'];
  for (let round = 0; round < 2; round++) {
    for (const a of addrs) {
      const r = recordFromFields({ client_ip: a, status: '200' }, undefined, ctx, 0);
      const want = normalizeIp(a);
      if (want === undefined) assert.equal(r.ok ? r.record.client_ip : r.reason, 'bad_ip', a);
      else assert.equal(r.ok ? r.record.client_ip : r.reason, want, a);
    }
  }
});

test('regression (fuzz): upstream times that sum past the largest double are no time, not Infinity', () => {
  const r = recordFromJson(line({ upstream_time: '1e308, 1e308' }), undefined, ctx, 0);
  assert.ok(r.ok);
  assert.equal(r.record.upstream_time, null);
});

test('regression (fuzz): a JSON value nested thousands deep is rejected with its reason, not by the safety net', () => {
  for (const deep of ['['.repeat(20_000) + ']'.repeat(20_000), '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)]) {
    const r = recordFromJson(`{"client_ip":"203.0.113.9","status":"200","x":${deep}}`, undefined, ctx, 0);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.reason, r.detail], ['bad_format', 'a JSON value is nested too deep']);
  }
  // Nesting a real format may carry is still kept, as JSON text.
  const ok = recordFromJson(`{"client_ip":"203.0.113.9","status":"200","x":[[1,{"b":2}]]}`, undefined, ctx, 0);
  assert.ok(ok.ok);
  assert.equal(ok.record.extra.x, '[[1,{"b":2}]]');
});
