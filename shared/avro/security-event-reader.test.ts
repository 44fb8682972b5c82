// The hand-written SecurityEvent reader reads avsc's values (same fields,
// same key order, same strings) from avsc's bytes, on generated records and
// on the edges of each encoding; bytes it does not read go to avsc (whose
// errors the codec tests check: truncation, trailing bytes, corrupt bodies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localSchemas, securityEventCodec } from './codec.js';
import { fieldSignature } from './access-record-writer.js';
import { readSecurityEvent, SECURITY_EVENT_FIELDS } from './security-event-reader.js';
import type { SecurityEvent, SecurityEventType } from '../records.js';

const TYPES: SecurityEventType[] = ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected', 'challenge'];

/** avsc's value of a body, or its error message. */
function avsc(body: Buffer): { value: unknown; offset: number } | string {
  try {
    return securityEventCodec.type.decode(body, 0);
  } catch (err) {
    return (err as Error).message;
  }
}

/** A small deterministic generator (no Math.random: a failure must be reproducible). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ['', 'a', '/wp-login.php', 'app-1', 'Ünïcödé', '日本語', '😀', 'x'.repeat(47), 'y'.repeat(48), 'z'.repeat(49), 'w'.repeat(300), 'requests', '10.0.0.1'];

function generated(i: number, r: () => number): SecurityEvent {
  const pick = (): string => (r() < 0.2 ? `v${Math.floor(r() * 10_000)}` : PIECES[Math.floor(r() * PIECES.length)] as string) + (r() < 0.1 ? PIECES[Math.floor(r() * PIECES.length)] : '');
  const long = (): number => {
    const k = r();
    if (k < 0.1) return 0;
    if (k < 0.2) return -Math.floor(r() * 2 ** 31);
    if (k < 0.3) return Math.floor(r() * 2 ** 53) * (r() < 0.5 ? -1 : 1);
    if (k < 0.35) return (r() < 0.5 ? -1 : 1) * 9007199254740990;
    return Math.floor(r() * 2 ** 41);
  };
  const details: Record<string, string> = {};
  for (let k = Math.floor(r() * 5); k > 0; k--) details[pick()] = pick();
  return {
    id: `ev-${i}-${pick()}`, ts: long(), type: TYPES[i % TYPES.length] as SecurityEventType, detector: pick(), ip: pick(), deployment: pick(),
    count: long(), window_start: long(), window_end: long(), sample_paths: Array.from({ length: Math.floor(r() * 4) }, pick), details,
    country: r() < 0.5 ? null : pick(), asn: r() < 0.5 ? null : long(), as_org: r() < 0.5 ? null : pick(),
  };
}

test('the codec reads SecurityEvent by hand while the current schema is the one the reader knows', () => {
  assert.equal(fieldSignature(localSchemas().latest('SecurityEvent').schema), SECURITY_EVENT_FIELDS);
  assert.equal(securityEventCodec.handRead, true);
});

test('hand-read values are avsc values, key order included, over 20,000 generated records', () => {
  const r = rng(16);
  for (let i = 0; i < 20_000; i++) {
    const body = securityEventCodec.type.toBuffer(generated(i, r));
    const theirs = avsc(body);
    assert.ok(typeof theirs !== 'string', theirs as string);
    const ours = readSecurityEvent(body, 0);
    assert.deepStrictEqual(ours, theirs.value, `record ${i}`);
    assert.deepStrictEqual(Object.keys(ours as object), Object.keys(theirs.value as object));
    assert.deepStrictEqual(Object.keys((ours as SecurityEvent).details), Object.keys((theirs.value as SecurityEvent).details));
    // And through the codec (Confluent header, then the hand-written reader).
    assert.deepStrictEqual(securityEventCodec.decode(securityEventCodec.encode(theirs.value as SecurityEvent)), theirs.value);
  }
});

test('a repeated string read from the table is the string its bytes say, whatever collided with it before', () => {
  // Thousands of distinct short strings through the 4,096-slot table, each read twice, interleaved.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 10_000; i++) {
      const ev: SecurityEvent = {
        id: 'x', ts: 1, type: 'suspicious', detector: `d${i}`, ip: '::1', deployment: `dep-${i % 7919}`, count: 1, window_start: 0, window_end: 1,
        sample_paths: [`/p/${i}`, `/p/${(i * 31) % 10_000}`], details: { [`k${i % 97}`]: `v${i}` }, country: null, asn: null, as_org: `org ${i % 13}`,
      };
      assert.deepStrictEqual(readSecurityEvent(securityEventCodec.type.toBuffer(ev), 0), ev);
    }
  }
});

test('bytes the reader does not read are left to avsc: truncated, trailing, blocks with sizes, bad indexes, unsafe longs', () => {
  const body = securityEventCodec.type.toBuffer(generated(1, rng(1)));
  for (let len = 0; len < body.length; len++) assert.equal(readSecurityEvent(body.subarray(0, len), 0), undefined, `cut to ${len}`);
  assert.equal(readSecurityEvent(Buffer.concat([body, Buffer.from([0])]), 0), undefined);
  // A minimal record by hand: id "", ts 0, type index, detector "", ip "", deployment "", count 0, windows 0, then the rest.
  const head = (typeIndex: number): number[] => [0, 0, typeIndex * 2, 0, 0, 0, 0, 0, 0];
  const tail = [0, 0, 0, 0, 0];
  const ok = Buffer.from([...head(3), 0, 0, ...tail.slice(2)]);
  assert.deepStrictEqual(readSecurityEvent(ok, 0), (avsc(ok) as { value: unknown }).value);
  // An array in one block with a byte size (count -1, size 2, "a"): avsc reads it; the reader leaves it to avsc.
  const sized = Buffer.from([...head(0), 1, 4, 2, 0x61, 0, 0, ...tail.slice(2)]);
  assert.equal(readSecurityEvent(sized, 0), undefined);
  assert.deepStrictEqual((avsc(sized) as { value: SecurityEvent }).value.sample_paths, ['a']);
  // Enum index 6 (out of range), union index 2: avsc throws, the reader declines.
  assert.equal(readSecurityEvent(Buffer.from([...head(6), 0, 0, ...tail.slice(2)]), 0), undefined);
  assert.equal(typeof avsc(Buffer.from([...head(6), 0, 0, ...tail.slice(2)])), 'string');
  assert.equal(readSecurityEvent(Buffer.from([...head(0), 0, 0, 4, 0, 0]), 0), undefined);
  // A long of 2^53 + 2 (zig-zag 2^54 + 4): avsc refuses it ("potential precision loss"), the reader declines.
  const big = Buffer.from([0, 0x84, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(readSecurityEvent(big, 0), undefined);
  assert.equal(typeof avsc(big), 'string');
});
