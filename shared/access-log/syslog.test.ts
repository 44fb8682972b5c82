import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSyslog } from './syslog.js';

const NOW = new Date(2026, 10, 21, 6, 30, 0).getTime();

test('RFC 3164 as nginx sends it, with and without hostname', () => {
  const a = parseSyslog('<190>Nov 21 06:00:44 edge-1 nginx: {"a":1}', NOW);
  assert.ok(a.ok);
  assert.deepEqual(a.header, { facility: 23, severity: 6, timestamp: new Date(2026, 10, 21, 6, 0, 44).getTime(), hostname: 'edge-1', tag: 'nginx' });
  assert.equal(a.message, '{"a":1}');
  const b = parseSyslog('<190>Nov  1 06:00:44 nginx: x y', NOW);
  assert.ok(b.ok);
  assert.equal(b.header.hostname, '');
  assert.equal(b.header.tag, 'nginx');
  assert.equal(b.header.timestamp, new Date(2026, 10, 1, 6, 0, 44).getTime());
  assert.equal(b.message, 'x y');
  const c = parseSyslog('<13>Nov 21 06:00:44 host app[1234]: hello', NOW);
  assert.ok(c.ok);
  assert.equal(c.header.tag, 'app');
});

test('RFC 3164 has no year: the nearest one is taken', () => {
  const jan1 = new Date(2027, 0, 1, 0, 0, 5).getTime();
  const r = parseSyslog('<190>Dec 31 23:59:59 h nginx: m', jan1);
  assert.ok(r.ok);
  assert.equal(new Date(r.header.timestamp as number).getFullYear(), 2026);
});

test('RFC 5424 from relays, with structured data and BOM', () => {
  const r = parseSyslog('<165>1 2026-11-21T06:00:44.123Z edge-2 nginx 77 ID47 [ex@32473 a="x\\]y" b="2"][b@1 c="3"] \uFEFFmsg here', NOW);
  assert.ok(r.ok);
  assert.deepEqual(r.header, { facility: 20, severity: 5, timestamp: Date.UTC(2026, 10, 21, 6, 0, 44, 123), hostname: 'edge-2', tag: 'nginx' });
  assert.equal(r.message, 'msg here');
  const nil = parseSyslog('<165>1 - - - - - - {"x":1}', NOW);
  assert.ok(nil.ok);
  assert.equal(nil.header.timestamp, undefined);
  assert.equal(nil.message, '{"x":1}');
});

test('hostile headers are refused with a reason, never thrown', () => {
  const bad = [
    '', 'no pri', '<>Nov 21 06:00:44 h t: m', '<999>Nov 21 06:00:44 h t: m', '<1900>Nov 21 06:00:44 h t: m', '<190>Foo 21 06:00:44 h t: m',
    '<190>Nov 21 26:00:44 h t: m', '<190>Nov 21 06:00:44', '<190>Nov 21 06:00:44 host', '<190>Nov 21 06:00:44 a b c',
    '<165>1 notatime h a p m - x', '<165>1 2026-11-21T06:00:44Z h', '<165>1 - h a p m x', '\u0000<190>', '<190>\u0000\u0000',
  ];
  for (const line of bad) {
    const r = parseSyslog(line, NOW);
    assert.equal(r.ok, false, JSON.stringify(line));
  }
});

test('the cached RFC 3164 stamp never answers for another stamp or another year', () => {
  const at = (line: string, now: number) => {
    const r = parseSyslog(line, now);
    assert.ok(r.ok, line);
    return r.header.timestamp;
  };
  const a = '<190>Nov 21 06:00:44 h nginx: m';
  const b = '<190>Nov 21 06:00:45 h nginx: m';
  const c = '<190>Nov  1 06:00:44 h nginx: m';
  for (const line of [a, b, a, c, c, b]) {
    const [, mon, day, hh, mm, ss] = /^<\d+>(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)/.exec(line) as RegExpExecArray;
    assert.equal(mon, 'Nov');
    assert.equal(at(line, NOW), new Date(2026, 10, Number(day), Number(hh), Number(mm), Number(ss)).getTime(), line);
  }
  // The same stamp read a year apart belongs to two different years.
  const dec31 = '<190>Dec 31 23:59:59 h nginx: m';
  assert.equal(new Date(at(dec31, new Date(2027, 0, 1, 0, 0, 5).getTime()) as number).getFullYear(), 2026);
  assert.equal(new Date(at(dec31, new Date(2027, 11, 31, 23, 0, 0).getTime()) as number).getFullYear(), 2027);
});

test('a bad stamp after a good one is still refused', () => {
  assert.ok(parseSyslog('<190>Nov 21 06:00:44 h nginx: m', NOW).ok);
  for (const line of ['<190>Nov 21 06:00:4x h nginx: m', '<190>Nov 21 06:0:44 h nginx: m', '<190>Nov 32 06:00:44 h nginx: m', '<190>Nov  0 06:00:44 h nginx: m']) {
    assert.equal(parseSyslog(line, NOW).ok, false, line);
  }
});

test('tag forms: with pid, empty message, message with colons', () => {
  const r = parseSyslog('<190>Nov 21 06:00:44 edge-1 nginx[77]: a: b: c', NOW);
  assert.ok(r.ok);
  assert.equal(r.header.tag, 'nginx');
  assert.equal(r.header.hostname, 'edge-1');
  assert.equal(r.message, 'a: b: c');
  const e = parseSyslog('<190>Nov 21 06:00:44 edge-1 nginx: ', NOW);
  assert.ok(e.ok);
  assert.equal(e.message, '');
});
