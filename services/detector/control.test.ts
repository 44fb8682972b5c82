// How the whitelist is composed for everyone who honours it (shared/control/whitelist.ts;
// index.ts restarts the detectors with it, and the run-time settings, on a change).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlState } from '../../shared/control/state.js';
import type { ControlChange } from '../../shared/records.js';
import { composeWhitelist } from '../../shared/control/whitelist.js';

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
