// How the whitelist (shared/control/whitelist.ts) and the security_filter rule set
// become the detectors' (index.ts restarts the detectors with them, and the run-time
// settings, on a change).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordFromJson } from '../../shared/access-log/record.js';
import { loadConfig } from '../../shared/config/load.js';
import { configRuleSet } from '../../shared/config/security-filter.js';
import { ControlState } from '../../shared/control/state.js';
import type { ControlChange } from '../../shared/records.js';
import { composeWhitelist } from '../../shared/control/whitelist.js';
import { engineConfig } from './config.js';
import { DetectionEngine } from './engine.js';

let version = 1;
function change(kind: ControlChange['kind'], id: string, doc: unknown): ControlChange {
  return { kind, id, version: version++, deleted: doc === null, document: doc === null ? '' : JSON.stringify(doc), actor: 'test', updated_at: 0 };
}

test('the whitelist composes the config file\'s and the control plane\'s entries, for every deployment and for one', () => {
  const state = new ControlState();
  const entry = (id: string, type: string, value: string, deployment = '') => change('whitelist', id, { id, type, value, description: '', deployment, created_at: 0, created_by: '' });
  state.apply(entry('a', 'ip', '192.0.2.1'));
  state.apply(entry('b', 'cidr', '10.0.0.0/8'));
  state.apply(entry('c', 'path', '/health'));
  state.apply(entry('d', 'ip', '192.0.2.2', 'shop'));
  const config = { ips: ['198.51.100.9'], cidrs: ['172.16.0.0/12'], paths: ['/status'] };
  const wl = composeWhitelist(config, state);
  assert.deepEqual(wl.global, { ips: ['192.0.2.1', '198.51.100.9'], cidrs: ['10.0.0.0/8', '172.16.0.0/12'], paths: ['/health', '/status'] });
  assert.deepEqual(wl.deployments, { shop: { ips: ['192.0.2.2'], cidrs: [], paths: [] } });
  assert.deepEqual(wl.entries.find((e) => e.value === '198.51.100.9')?.description, 'config detection.whitelist');
  state.apply(change('whitelist', 'a', null));
  assert.deepEqual(composeWhitelist({ ips: [], cidrs: [], paths: [] }, state).global.ips, []);
});

test('the detectors evaluate the rule set the nodes are given: the config\'s levels, a level set through the API replacing the config\'s', () => {
  const config = loadConfig({
    text: 'security:\n  security_filter: { enabled: true, filter_rules: [{ id: from-config, match: { user_agents: ["BadBot*"] } }] }\n',
    env: {},
  });
  const state = new ControlState(configRuleSet(config));
  /** The detectors' verdict on one request nginx did not judge: the rule of its suspicious event, if any. */
  const alertOf = (userAgent: string): string | undefined => {
    const engine = new DetectionEngine(engineConfig(config, composeWhitelist(config.detection.whitelist, state), state.ruleSet()));
    const line = JSON.stringify({ ts: '1795240800.000', client_ip: '198.51.100.5', method: 'GET', host: 'shop.example', uri: '/', status: '200', user_agent: userAgent, country: '' });
    const r = recordFromJson(line, undefined, { deployments: {}, trustedProxies: [], defaultNode: '' }, 0);
    assert.ok(r.ok);
    engine.process(r.record);
    engine.flushAll();
    return engine.drain().events.find((e) => e.detector.startsWith('filter:'))?.detector;
  };
  assert.equal(alertOf('BadBot/1.0'), 'filter:from-config');
  state.apply(change('filter', 'property', { level: 'property', security_filter: { enabled: true, filter_rules: [{ id: 'from-api', match: { user_agents: ['EvilBot*'] } }] }, updated_at: 0 }));
  assert.equal(alertOf('BadBot/1.0'), undefined, 'the API\'s property level replaced the config\'s');
  assert.equal(alertOf('EvilBot/1.0'), 'filter:from-api');
  assert.deepEqual(state.nodeRules().security_filter, state.ruleSet(), 'the same set the nodes get');
  state.apply(change('filter', 'property', null));
  assert.equal(alertOf('BadBot/1.0'), 'filter:from-config', 'removed through the API: the config\'s again');
});
