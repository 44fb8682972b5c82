import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostChange } from './report-host.js';

const xeon = { cpu: 'Intel(R) Xeon(R) Processor', cores: 2, os: 'Debian GNU/Linux 12 (bookworm) (Linux 6.18.44-fc-v1300 x64)', node: 'v20.20.2', load_average_at_start: '1.25' };

test('another CPU, core count or kernel is a change of host; the load average or Node is not', () => {
  const epyc = { ...xeon, cpu: 'AMD EPYC', os: 'Debian GNU/Linux 12 (bookworm) (Linux 6.18.44-fc-v1272 x64)' };
  assert.deepEqual(hostChange({ commit: '024c343', machine: xeon }, epyc), {
    commit: '024c343',
    differs: ['cpu Intel(R) Xeon(R) Processor → AMD EPYC', 'os Debian GNU/Linux 12 (bookworm) (Linux 6.18.44-fc-v1300 x64) → Debian GNU/Linux 12 (bookworm) (Linux 6.18.44-fc-v1272 x64)'],
  });
  assert.deepEqual(hostChange({ commit: 'abc', machine: xeon }, { ...xeon, cores: 4 })?.differs, ['cores 2 → 4']);
  assert.equal(hostChange({ commit: 'abc', machine: xeon }, { ...xeon, node: 'v22.1.0', load_average_at_start: '9.00' }), undefined);
});

test('no previous report, or one without a machine table, says nothing', () => {
  assert.equal(hostChange(undefined, xeon), undefined);
  assert.equal(hostChange(null, xeon), undefined);
  assert.equal(hostChange({ commit: 'abc' }, xeon), undefined);
  assert.equal(hostChange('not json', xeon), undefined);
  assert.deepEqual(hostChange({ machine: { cpu: 'Other' } }, xeon), { commit: 'unknown', differs: ['cpu Other → Intel(R) Xeon(R) Processor'] });
});
