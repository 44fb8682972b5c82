// How the control plane's whitelist becomes the detectors' (index.ts restarts
// the detectors with it, and the run-time settings, on a change).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlState } from '../../shared/control/state.js';
import type { ControlChange } from '../../shared/records.js';
import { detectorWhitelist } from './index.js';

let version = 1;
function change(kind: ControlChange['kind'], id: string, doc: unknown): ControlChange {
  return { kind, id, version: version++, deleted: doc === null, document: doc === null ? '' : JSON.stringify(doc), actor: 'test', updated_at: 0 };
}

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
