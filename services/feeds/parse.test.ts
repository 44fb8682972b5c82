import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrsOf, mergeIntervals } from '../../shared/ip.js';
import { parseFeed } from './parse.js';

const merged = (body: string, format: 'plain' | 'csv' = 'plain', column = 1): string[] => mergeIntervals(parseFeed(body, format, column).intervals).flatMap(cidrsOf);

test('plain: FireHOL .netset and Spamhaus DROP as their files are written', () => {
  const netset = '#\n# firehol_level1\n#\n# Maintainer      : FireHOL\n0.0.0.0/8\n1.10.16.0/20\n1.19.0.0/16\n223.254.0.0/16\n';
  assert.deepEqual(merged(netset), ['0.0.0.0/8', '1.10.16.0/20', '1.19.0.0/16', '223.254.0.0/16']);
  const drop = '; Spamhaus DROP List 2026/12/06 - (c) 2026 The Spamhaus Project\n; Last-Modified: Sat, 5 Dec 2026 12:00:00 GMT\n1.10.16.0/20 ; SBL256894\n2.56.192.0/22 ; SBL459831\r\n';
  assert.deepEqual(merged(drop), ['1.10.16.0/20', '2.56.192.0/22']);
  const r = parseFeed('192.0.2.1   # trailing comment\n\n   \n2001:db8::1\tsome words\n', 'plain');
  assert.equal(r.intervals.length, 2);
  assert.equal(r.lines, 2);
});

test('csv: the configured column, quotes dropped, a header row skipped, # comments', () => {
  const body = '# export\nfirst_seen,ip,asn\n2026-12-01,"198.51.100.7",64500\n2026-12-02, 203.0.113.0/24 ,64501\n';
  assert.deepEqual(merged(body, 'csv', 2), ['198.51.100.7', '203.0.113.0/24']);
  assert.equal(parseFeed(body, 'csv', 2).invalid, 0, 'the header is no invalid line');
});

test('a few bad lines are counted and skipped; a body that is not a list is refused whole', () => {
  const lines = Array.from({ length: 20 }, (_, i) => `10.0.${i}.1`);
  const r = parseFeed([...lines, 'garbage', '300.1.1.1'].join('\n'), 'plain');
  assert.equal(r.intervals.length, 20);
  assert.equal(r.invalid, 2);
  assert.equal(r.firstInvalid, 'garbage');
  const refused = (body: string, format: 'plain' | 'csv' = 'plain', column = 1): void => {
    assert.throws(() => parseFeed(body, format, column), (err: { code?: string }) => err.code === 'LW_FEED_PARSE_FAILED', JSON.stringify(body.slice(0, 40)));
  };
  refused('<!DOCTYPE html>\n<html><body>Rate limited</body></html>\n');
  refused('');
  refused('# only comments\n; and more\n');
  refused([...lines.slice(0, 5), 'a', 'b'].join('\n'));
  refused('ip,score\n10.0.0.1,5\n', 'csv', 2);
});
