import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTrustedProxies, recordFromJson, splitUri, type RecordContext } from './access-log.js';

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
    country: 'DE', auth_user: null, request_id: 'abc', blocked_by: null, filter_alert: null, extra: { custom_var: 'kept' },
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

test('event time falls back to the syslog header, then to arrival', () => {
  const header = { facility: 23, severity: 6, timestamp: 1_000_000, hostname: 'h', tag: 'nginx' };
  const a = recordFromJson(line({ ts: undefined, node: '' }), header, ctx, 5);
  assert.ok(a.ok);
  assert.equal(a.record.ts, 1_000_000);
  assert.equal(a.record.node, 'h');
  const b = recordFromJson(line({ ts: '-', node: '' }), undefined, ctx, 5);
  assert.ok(b.ok);
  assert.equal(b.record.ts, 5);
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
  assert.deepEqual(splitUri('/x?y=1?z'), { path: '/x', query: 'y=1?z' });
  assert.deepEqual(splitUri('///a///b/'), { path: '/a/b/', query: '' });
  assert.deepEqual(splitUri(''), { path: '/', query: '' });
  assert.deepEqual(splitUri('?q'), { path: '/', query: 'q' });
});
