import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientKeys, inRanges, ipInRange, isIpOrCidr, networkOfIp, normalizeIp, normalizeIpOrCidr, parseRange, reverseDnsName } from './ip.js';

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

test('a canonical dotted quad is its own normal form; IPv6 answers are the same from the cache', () => {
  for (const a of ['10.0.0.1', '255.255.255.255', '0.0.0.0']) assert.equal(normalizeIp(a), a);
  for (let i = 0; i < 2; i++) {
    assert.equal(normalizeIp('2001:DB8::1'), '2001:db8::1');
    assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('fe80::1%eth0'), undefined);
    assert.equal(normalizeIp(` ${'1:'.repeat(40)}1`), undefined);
  }
});

test('ranges: configuration lists, membership by family, networks of an address', () => {
  for (const ok of ['10.0.0.0/8', '10.0.0.1', '2001:db8::/32', '::1']) assert.equal(isIpOrCidr(ok), true, ok);
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8x', '']) assert.equal(isIpOrCidr(bad), false, bad);
  const ranges = ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'].map(parseRange);
  assert.equal(inRanges('10.9.8.7', ranges), true);
  assert.equal(inRanges('192.0.2.7', ranges), true);
  assert.equal(inRanges('192.0.2.8', ranges), false);
  assert.equal(inRanges('2001:db8::5', ranges), true);
  assert.equal(inRanges('2001:db9::5', ranges), false);
  assert.equal(inRanges('not an address', ranges), false);
  assert.equal(networkOfIp('203.0.113.77', 24, 64), '203.0.113.0/24');
  assert.equal(networkOfIp('2001:db8:1:2:3:4:5:6', 24, 64), '2001:db8:1:2::/64');
});

test('a client is an IPv4 address, or its IPv6 network', () => {
  const keys = new ClientKeys(64);
  assert.equal(keys.of('203.0.113.7'), '203.0.113.7');
  assert.equal(keys.of('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(keys.of('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(keys.of('unix:'), 'unix:');
  assert.equal(new ClientKeys(128).of('2001:db8::1'), '2001:db8::1');
});

test('reverse-DNS names: in-addr.arpa for IPv4, 32 nibbles under ip6.arpa for IPv6', () => {
  assert.equal(reverseDnsName('66.249.66.1'), '1.66.249.66.in-addr.arpa');
  assert.equal(reverseDnsName('::ffff:66.249.66.1'), '1.66.249.66.in-addr.arpa');
  assert.equal(reverseDnsName('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  assert.equal(reverseDnsName('not an address'), undefined);
});
