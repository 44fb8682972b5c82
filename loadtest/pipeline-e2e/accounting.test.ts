// The end-to-end bench's own accounting: counts and lag from offsets, the
// verdict of a step, the rate search, the relay's framing, the corpus's line
// fields and benign share. The bench itself is the proof of the pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lag, nextRate, quantile, total, verdict, type StepCounts } from './accounting.js';
import { clientHash, fields, kept, shareFor, writeMsec } from './corpus.js';
import { frame, frameAll, LineSplitter, unframeOctets } from './relay.js';

const off = (pairs: Array<[number, number]>): Array<{ partition: number; offset: string }> => pairs.map(([partition, o]) => ({ partition, offset: String(o) }));

test('total and lag: end − committed per partition; an uncommitted partition lags by all it holds', () => {
  const ends = off([[0, 100], [1, 50], [2, 7]]);
  assert.equal(total(ends), 157);
  assert.equal(lag(ends, off([[0, 100], [1, 40]])), 10 + 7);
  assert.equal(lag(ends, []), 157);
  // A committed offset past the end (a topic read while it grew) is no negative lag.
  assert.equal(lag(off([[0, 5]]), off([[0, 9]])), 0);
});

const ok: StepCounts = {
  rate: 1000, planned: 60_000, senderLateP99Ms: 20, sent: 60_000, sendSeconds: 60, onTopic: 60_000, rejected: 0, stored: 60_000,
  lagAtEnd: { detector: 200, sink: 4_000 }, attackers: 6, blocked: 6,
};

test('verdict: a clean step passes; each way of failing is named', () => {
  assert.deepEqual(verdict(ok, 5), { pass: true, reasons: [] });
  const cases: Array<[Partial<StepCounts>, RegExp]> = [
    [{ onTopic: 59_990 }, /ingest: 10 of 60000 lines not on the topic/],
    [{ onTopic: 59_990, rejected: 10 }, /ingest: 10 lines rejected/],
    [{ stored: 59_000 }, /sink: 1000 of 60000 records not stored/],
    [{ blocked: 5 }, /enforcement: 1 of 6 attackers/],
    [{ lagAtEnd: { detector: 0, sink: 5_001 } }, /sink: lag 5001 records \(5\.0 s of traffic\) > 5 s/],
    [{ senderLateP99Ms: 1_500 }, /sender behind/],
    [{ sent: 59_000, onTopic: 59_000, stored: 59_000 }, /sender behind: 59000 of 60000/],
  ];
  for (const [change, reason] of cases) {
    const v = verdict({ ...ok, ...change }, 5);
    assert.equal(v.pass, false, JSON.stringify(change));
    assert.ok(v.reasons.some((r) => reason.test(r)), `${JSON.stringify(change)}: ${v.reasons.join('; ')}`);
  }
});

test('nextRate: coarse steps until one fails, then one bisection', () => {
  const steps = [2000, 4000, 8000];
  assert.equal(nextRate(steps, [], true), 2000);
  assert.equal(nextRate(steps, [{ rate: 2000, pass: true }], true), 4000);
  assert.equal(nextRate(steps, [{ rate: 2000, pass: true }, { rate: 4000, pass: false }], true), 3000);
  assert.equal(nextRate(steps, [{ rate: 2000, pass: true }, { rate: 4000, pass: false }, { rate: 3000, pass: true }], true), undefined);
  assert.equal(nextRate(steps, [{ rate: 2000, pass: true }, { rate: 4000, pass: false }], false), undefined);
  // All passed: the search is over at the highest step.
  assert.equal(nextRate(steps, steps.map((rate) => ({ rate, pass: true })), true), undefined);
  // The first failed: half of it.
  assert.equal(nextRate(steps, [{ rate: 2000, pass: false }], true), 1000);
});

test('quantile: nearest rank', () => {
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.99), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('relay framing: octet counting reads back as the lines; newline framing ends each line', () => {
  const lines = ['<190>Nov 21 06:00:00 edge-1 nginx: {"ts":"1795240800.000"}', 'é and a space', 'last'].map((l) => Buffer.from(l));
  const framed = frameAll(lines, 'octet');
  assert.equal(frame(Buffer.from('abc'), 'octet').toString(), '3 abc');
  // The count is of bytes, not characters.
  assert.equal(frame(Buffer.from('é'), 'octet').toString(), '2 é');
  const back = unframeOctets(framed);
  assert.deepEqual(back.msgs.map(String), lines.map(String));
  assert.equal(back.rest.length, 0);
  const cut = unframeOctets(framed.subarray(0, framed.length - 3));
  assert.equal(cut.msgs.length, 2, 'a frame cut short is left for later');
  assert.equal(frame(Buffer.from('abc'), 'newline').toString(), 'abc\n');
});

test('LineSplitter: lines across chunks, CRLF, empty lines skipped, the tail at the end', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from('one\r\ntw')).map(String), ['one']);
  assert.deepEqual(s.push(Buffer.from('o\n\nthr')).map(String), ['two']);
  assert.deepEqual(s.end().map(String), ['thr']);
  assert.deepEqual(s.end(), []);
});

test('corpus: $msec and the address read from a line; $msec rewritten in place at the same width', () => {
  const line = Buffer.from('<190>Nov 21 06:00:00 edge-ams-2 nginx: {"ts":"1795240800.120","node":"edge-ams-2","client_ip":"188.249.197.241","xff":""}');
  const f = fields(line);
  assert.deepEqual(f && { ts: f.ts, ip: f.ip }, { ts: 1_795_240_800_120, ip: '188.249.197.241' });
  writeMsec(line, (f as NonNullable<typeof f>).tsAt, 1_796_000_000_007);
  assert.match(line.toString(), /\{"ts":"1796000000\.007","node"/);
  assert.equal(fields(Buffer.from('no json here')), undefined);
});

test('corpus: attackers always kept, benign clients by a stable hash; the share meets the rate', () => {
  const attackers = new Set(['7.7.7.7']);
  assert.equal(kept('7.7.7.7', attackers, 0), true);
  assert.equal(kept('1.2.3.4', attackers, 0), false);
  assert.equal(kept('1.2.3.4', attackers, 1), true);
  assert.equal(clientHash('1.2.3.4'), clientHash('1.2.3.4'));
  // Over many addresses, the share kept is close to the share asked.
  let n = 0;
  for (let i = 0; i < 10_000; i++) if (clientHash(`10.${i >> 8}.${i & 255}.1`) < 0.3) n++;
  assert.ok(n > 2_700 && n < 3_300, `${n} of 10000 kept at 0.3`);
  assert.equal(shareFor(1000, 60, { attackerLines: 0, benignLines: 120_000 }), 0.5);
  assert.equal(shareFor(1000, 60, { attackerLines: 600, benignLines: 118_800 }), 0.5);
  assert.equal(shareFor(5000, 60, { attackerLines: 0, benignLines: 120_000 }), 1);
});
