import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlChange } from '../records.js';
import { ControlState, filterLevelId, parseFilterLevel } from './state.js';

function change(kind: ControlChange['kind'], id: string, version: number, doc: unknown): ControlChange {
  return { kind, id, version, deleted: doc === null, document: doc === null ? '' : JSON.stringify(doc), actor: 't', updated_at: 0 };
}

test('the newest version wins, in whatever order changes arrive; a deletion is not undone by an older upsert', () => {
  const s = new ControlState();
  const dep = (rate: number) => ({ name: 'shop', enabled: true, rate_limit: rate, allowed_ips: [], blocked_paths: [], updated_at: 0 });
  assert.equal(s.apply(change('deployment', 'shop', 5, dep(5))), true);
  assert.equal(s.apply(change('deployment', 'shop', 3, dep(3))), false, 'older');
  assert.equal(s.apply(change('deployment', 'shop', 5, dep(9))), false, 'same version (a republish)');
  assert.equal(s.deployments.get('shop')?.value.rate_limit, 5);
  assert.equal(s.apply(change('deployment', 'shop', 7, null)), true);
  assert.equal(s.apply(change('deployment', 'shop', 6, dep(6))), false, 'older than the deletion');
  assert.equal(s.deployments.has('shop'), false);
  assert.equal(s.apply(change('deployment', 'shop', 8, dep(8))), true, 'a newer upsert revives it');
  assert.equal(s.version, 8);
  assert.equal(s.apply(change('unknown', 'x', 99, {})), false, 'unknown kinds are ignored');
  assert.equal(s.apply({ ...change('route', 'r', 100, {}), document: '{not json' }), false, 'unreadable documents are ignored');
});

test('change events fire once per applied change', () => {
  const s = new ControlState();
  const seen: string[] = [];
  s.on('change', (e) => seen.push(`${e.kind}:${e.id}:${e.deleted}`));
  s.apply(change('setting', 'realtime_capture', 1, true));
  s.apply(change('setting', 'realtime_capture', 1, true));
  s.apply(change('setting', 'realtime_capture', 2, null));
  assert.deepEqual(seen, ['setting:realtime_capture:false', 'setting:realtime_capture:true']);
});

test('filter levels compose into one rule set; node rules carry global whitelist entries, policies, routes by hash', () => {
  const s = new ControlState();
  const sf = (id: string) => ({ enabled: true, filter_rules: [{ id, match: { user_agents: ['x*'] } }] });
  s.apply(change('filter', 'property', 1, { level: 'property', security_filter: sf('p'), updated_at: 0 }));
  s.apply(change('filter', 'domain:shop.example', 2, { level: 'domain:shop.example', security_filter: sf('d'), updated_at: 0 }));
  s.apply(change('filter', 'path:*:/admin', 3, { level: 'path:*:/admin', security_filter: sf('a'), updated_at: 0 }));
  s.apply(change('filter', 'path:shop.example:/api/*', 4, { level: 'path:shop.example:/api/*', security_filter: sf('b'), updated_at: 0 }));
  s.apply(change('whitelist', 'w1', 5, { id: 'w1', type: 'cidr', value: '10.0.0.0/8', description: '', deployment: '', created_at: 0, created_by: '' }));
  s.apply(change('whitelist', 'w2', 6, { id: 'w2', type: 'ip', value: '192.0.2.1', description: '', deployment: 'shop', created_at: 0, created_by: '' }));
  s.apply(change('route', 'r1', 7, { id: 'r1', path: '/admin', method: 'ALL', auth_type: 'basic', deployment: '', credential_hash: 'pbkdf2-sha1$128$x$y', created_at: 0, created_by: '' }));
  const rules = s.nodeRules();
  assert.equal(rules.version, 7);
  assert.deepEqual(rules.whitelist, { ips: ['10.0.0.0/8'], paths: [] });
  assert.deepEqual(rules.routes, [{ id: 'r1', path: '/admin', method: 'ALL', auth_type: 'basic', deployment: '', credential_hash: 'pbkdf2-sha1$128$x$y' }]);
  const rs = rules.security_filter;
  assert.ok(rs);
  assert.deepEqual(rs.property, sf('p'));
  assert.deepEqual(Object.keys(rs.domains ?? {}), ['shop.example']);
  assert.deepEqual(rs.paths, [
    { path: '/admin', security_filter: sf('a') },
    { host: 'shop.example', path: '/api/*', security_filter: sf('b') },
  ]);
});

test('filter level ids round-trip, paths may hold colons', () => {
  for (const w of [{ kind: 'property' }, { kind: 'domain', host: 'a.example' }, { kind: 'path', host: '*', path: '/x:y/*' }] as const) {
    assert.deepEqual(parseFilterLevel(filterLevelId(w)), w);
  }
  assert.equal(parseFilterLevel('nonsense'), undefined);
});

test('the config file\'s levels are the base: a level set through the API replaces the config\'s of the same scope, its removal brings it back', () => {
  const sf = (id: string) => ({ enabled: true, filter_rules: [{ id, match: { ips: ['192.0.2.0/24'] } }] });
  const fromConfig = { version: 1, property: sf('config-p'), domains: { 'shop.example': sf('config-d') }, paths: [{ path: '/admin', security_filter: sf('config-a') }] };
  const s = new ControlState(fromConfig);
  assert.equal(new ControlState().ruleSet(), null, 'no levels anywhere: no rule set');
  assert.deepEqual(s.ruleSet(), { version: 0, property: sf('config-p'), domains: { 'shop.example': sf('config-d') }, paths: [{ path: '/admin', security_filter: sf('config-a') }] });
  assert.deepEqual(s.nodeRules().security_filter, s.ruleSet(), 'nodes are given the composed set');

  s.apply(change('filter', 'property', 1, { level: 'property', security_filter: sf('api-p'), updated_at: 5 }));
  s.apply(change('filter', 'domain:other.example', 2, { level: 'domain:other.example', security_filter: sf('api-d'), updated_at: 6 }));
  const rs = s.ruleSet();
  assert.deepEqual(rs?.property, sf('api-p'), 'the API\'s property level replaces the config\'s whole');
  assert.deepEqual(rs?.domains, { 'other.example': sf('api-d'), 'shop.example': sf('config-d') }, 'other scopes add up');
  assert.deepEqual(rs?.paths, [{ path: '/admin', security_filter: sf('config-a') }]);
  assert.deepEqual(s.filterLevels().map((l) => `${l.level}:${l.source}`), ['domain:other.example:api', 'domain:shop.example:config', 'path:*:/admin:config', 'property:api']);

  s.apply(change('filter', 'property', 3, null));
  assert.deepEqual(s.ruleSet()?.property, sf('config-p'), 'removed through the API: the config\'s level again');
  assert.deepEqual(s.configFilter('property'), sf('config-p'));
});
