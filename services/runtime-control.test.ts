// How the control plane's run-time settings and whitelist become the detectors'
// configuration (runtime.ts restarts the detectors with these on a change).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../shared/config/load.js';
import { ControlState } from '../shared/control/state.js';
import type { ControlChange } from '../shared/records.js';
import { withSecurityOverrides } from '../shared/control/settings.js';
import { detectorWhitelist } from './runtime.js';

let version = 1;
function change(kind: ControlChange['kind'], id: string, doc: unknown): ControlChange {
  return { kind, id, version: version++, deleted: doc === null, document: doc === null ? '' : JSON.stringify(doc), actor: 'test', updated_at: 0 };
}

test('security overrides apply with durations converted; unknown or mistyped keys are ignored', () => {
  const config = loadConfig({ text: 'security: { not_found_threshold: 10 }', env: {} });
  const state = new ControlState();
  assert.equal(withSecurityOverrides(config, state), config, 'no overrides: the config as loaded');
  state.apply(change('setting', 'security', { not_found_threshold: 25, auto_block_duration: '2h', detection_window: '30s', auto_block_enabled: false, bogus: 1, rate_threshold: 'many' }));
  const c = withSecurityOverrides(config, state);
  assert.equal(c.security.not_found_threshold, 25);
  assert.equal(c.security.auto_block_duration_ms, 2 * 3_600_000);
  assert.equal(c.security.detection_window_ms, 30_000);
  assert.equal(c.security.auto_block_enabled, false);
  assert.equal(c.security.rate_threshold, config.security.rate_threshold, 'a value of the wrong type is ignored');
  assert.ok(!('bogus' in c.security));
  assert.equal(config.security.not_found_threshold, 10, 'the loaded config is not changed');
});

test('only whitelist entries for every deployment reach the detectors, by type', () => {
  const state = new ControlState();
  const entry = (id: string, type: string, value: string, deployment = '') => change('whitelist', id, { id, type, value, description: '', deployment, created_at: 0, created_by: '' });
  state.apply(entry('a', 'ip', '192.0.2.1'));
  state.apply(entry('b', 'cidr', '10.0.0.0/8'));
  state.apply(entry('c', 'path', '/health'));
  state.apply(entry('d', 'ip', '192.0.2.2', 'shop'));
  assert.deepEqual(detectorWhitelist(state), { ips: ['192.0.2.1'], cidrs: ['10.0.0.0/8'], paths: ['/health'] });
  state.apply(change('whitelist', 'a', null));
  assert.deepEqual(detectorWhitelist(state).ips, []);
});
