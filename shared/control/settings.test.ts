// The control plane's run-time settings over the config file: what the
// detectors run with (security overrides) and whether requests are captured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config/load.js';
import type { ControlChange } from '../records.js';
import { realtimeCapture, withSecurityOverrides } from './settings.js';
import { ControlState } from './state.js';

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

test('capture follows the realtime_capture setting once one exists, the config file until then', () => {
  const on = loadConfig({ text: 'security: { realtime_capture: true }', env: {} });
  const state = new ControlState();
  assert.equal(realtimeCapture(on, state), true, 'no setting: the config file');
  state.apply(change('setting', 'realtime_capture', false));
  assert.equal(realtimeCapture(on, state), false, 'the setting beats the file');
  state.apply(change('setting', 'realtime_capture', true));
  assert.equal(realtimeCapture(loadConfig({ text: '', env: {} }), state), true);
  state.apply(change('setting', 'realtime_capture', 'yes'));
  assert.equal(realtimeCapture(on, state), true, 'a value that is no boolean: the config file');
});
