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
