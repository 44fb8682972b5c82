import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipInRange, normalizeIp, normalizeIpOrCidr, reverseDnsName } from './ip.js';

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

test('CIDR blocks normalise: host bits cleared, full prefixes folded, mapped blocks folded to IPv4', () => {
  const cases: Array<[string, string | undefined]> = [
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.168.1.100', '192.168.1.100'],
    ['192.168.1.100/32', '192.168.1.100'],
    ['2001:DB8::1/32', '2001:db8::/32'],
    ['2001:db8::1/128', '2001:db8::1'],
    ['::ffff:10.9.0.0/112', '10.9.0.0/16'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.0.0.0/33', undefined],
    ['10.0.0.0/-1', undefined],
    ['10.0.0.0/', undefined],
    ['10.0.0/8', undefined],
    ['::/129', undefined],
    ["1.2.3.4/8' OR 1=1", undefined],
  ];
  for (const [input, want] of cases) assert.equal(normalizeIpOrCidr(input), want, input);
});

test('ipInRange matches addresses in a block, and an address only itself', () => {
  assert.equal(ipInRange('10.200.3.4', '10.0.0.0/8'), true);
  assert.equal(ipInRange('11.0.0.1', '10.0.0.0/8'), false);
  assert.equal(ipInRange('2001:db8::5', '2001:db8::/32'), true);
  assert.equal(ipInRange('10.0.0.1', '2001:db8::/32'), false);
  assert.equal(ipInRange('192.0.2.1', '192.0.2.1'), true);
  assert.equal(ipInRange('192.0.2.2', '192.0.2.1'), false);
});

test('reverse-DNS names: in-addr.arpa for IPv4, 32 nibbles under ip6.arpa for IPv6', () => {
  assert.equal(reverseDnsName('66.249.66.1'), '1.66.249.66.in-addr.arpa');
  assert.equal(reverseDnsName('::ffff:66.249.66.1'), '1.66.249.66.in-addr.arpa');
  assert.equal(reverseDnsName('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  assert.equal(reverseDnsName('not an address'), undefined);
});
