import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intervalOf, mergeRanges, RangeIndex } from './ranges.js';

test('overlapping, contained and adjacent entries merge into the fewest CIDR blocks, in normal form', () => {
  assert.deepEqual(mergeRanges(['10.0.0.0/25', '10.0.0.128/25', '10.0.0.7']), ['10.0.0.0/24']);
  assert.deepEqual(mergeRanges(['10.0.0.0/8', '10.1.2.3', '10.255.0.0/16']), ['10.0.0.0/8']);
  assert.deepEqual(mergeRanges(['192.0.2.1', '192.0.2.2', '192.0.2.3']), ['192.0.2.1', '192.0.2.2/31']);
  assert.deepEqual(mergeRanges(['192.0.2.1/32', '192.0.2.1']), ['192.0.2.1']);
  // Host bits cleared, as normalizeIpOrCidr does.
  assert.deepEqual(mergeRanges(['198.51.100.77/24']), ['198.51.100.0/24']);
  assert.deepEqual(mergeRanges(['2001:db8::/33', '2001:db8:8000::/33', '2001:db8::1']), ['2001:db8::/32']);
  assert.deepEqual(mergeRanges(['2001:db8::1', '2001:db8::1/128']), ['2001:db8::1']);
  // IPv4-mapped IPv6 folds to IPv4.
  assert.deepEqual(mergeRanges(['::ffff:203.0.113.0/120', '203.0.113.9']), ['203.0.113.0/24']);
  assert.deepEqual(mergeRanges(['0.0.0.0/1', '128.0.0.0/1']), ['0.0.0.0/0']);
  assert.deepEqual(mergeRanges(['not-an-ip', '010.0.0.1', '10.0.0.0/33']), []);
  // An unaligned span becomes several blocks.
  assert.deepEqual(mergeRanges(['10.0.0.1', '10.0.0.2/31', '10.0.0.4/30']), ['10.0.0.1', '10.0.0.2/31', '10.0.0.4/30']);
  assert.deepEqual(mergeRanges(['10.0.0.0', '10.0.0.1', '10.0.0.2/31', '10.0.0.4/30']), ['10.0.0.0/29']);
});

test('RangeIndex: overlap with any of a few ranges, per family', () => {
  const wl = new RangeIndex(['10.20.3.4', '172.16.0.0/12', '2001:db8::/64']);
  const iv = (s: string) => intervalOf(s) ?? assert.fail(s);
  assert.equal(wl.overlaps(iv('10.20.0.0/16')), true, 'covers a whitelisted address');
  assert.equal(wl.overlaps(iv('10.20.3.4')), true);
  assert.equal(wl.overlaps(iv('10.20.3.5')), false);
  assert.equal(wl.overlaps(iv('172.16.5.0/24')), true, 'inside a whitelisted range');
  assert.equal(wl.overlaps(iv('172.0.0.0/8')), true, 'around a whitelisted range');
  assert.equal(wl.overlaps(iv('172.32.0.0/11')), false);
  assert.equal(wl.overlaps(iv('2001:db8::5')), true);
  assert.equal(wl.overlaps(iv('2001:db8:1::/48')), false);
  assert.equal(wl.overlaps(iv('0.0.0.0/0')), true);
  assert.equal(new RangeIndex([]).overlaps(iv('0.0.0.0/0')), false);
});
