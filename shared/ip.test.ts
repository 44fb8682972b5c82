import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeIp } from './ip.js';

test('addresses normalise to one spelling', () => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7'],
    [' 10.0.0.1 ', '10.0.0.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['::ffff:198.51.100.4', '198.51.100.4'],
    ['::FFFF:c633:6404', '198.51.100.4'],
    ['::1', '::1'],
  ];
  for (const [input, want] of cases) assert.equal(normalizeIp(input), want, input);
});

test('anything else is not an address', () => {
  for (const bad of ['', '-', '256.1.1.1', '1.2.3', '0x7f.0.0.1', '127.1', '1.2.3.4.5', 'fe80::1%eth0', 'example.com', '1.2.3.4/24', 'x'.repeat(100)]) {
    assert.equal(normalizeIp(bad), undefined, bad);
  }
});
