// The hand-written AccessRecord writer writes avsc's bytes, on the values a
// parser makes and on the edges of each encoding; values it does not handle
// go to avsc, whose errors name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec, CodecError, localSchemas } from './codec.js';
import { ACCESS_RECORD_FIELDS, fieldSignature, NOT_HANDLED, writeAccessRecord } from './access-record-writer.js';
import type { AccessRecord } from '../records.js';

const base: AccessRecord = {
  ts: 1_795_240_844_123, node: 'edge-1', deployment: 'shop', client_ip: '2001:db8::1', method: 'GET', host: 'shop.example.com',
  path: '/a', query: 'q=1', status: 200, bytes: 1234, request_time: 0.012, upstream_time: 0.01, user_agent: 'Mozilla/5.0',
  referer: '', country: 'DE', asn: 3320, as_org: 'Deutsche Telekom AG', auth_user: null, request_id: 'abc', blocked_by: null,
  filter_alert: null, extra: {},
};

const avsc = (v: unknown): Buffer => accessRecordCodec.type.toBuffer(v);
const ours = (v: unknown): Buffer => accessRecordCodec.encode(v as AccessRecord).subarray(5);

test('the codec writes AccessRecord by hand while the current schema is the one the writer knows', () => {
  assert.equal(fieldSignature(localSchemas().latest('AccessRecord').schema), ACCESS_RECORD_FIELDS);
  assert.equal(accessRecordCodec.handWritten, true);
});

test('hand-written bytes are avsc bytes, at every edge of the encoding', () => {
  const long = (n: number, c = 'x'): string => c.repeat(n);
  const cases: Array<[string, Partial<Record<keyof AccessRecord, unknown>>]> = [
    ['as parsed', {}],
    ['nulls and absent optional fields', { upstream_time: null, country: null, asn: undefined, as_org: undefined, auth_user: null }],
    ['absent fields with defaults', { deployment: undefined, query: undefined, bytes: undefined, request_time: undefined, user_agent: undefined, extra: undefined }],
    ['every union set', { auth_user: 'alice', blocked_by: 'blocklist', filter_alert: 'r1', asn: 4_200_000_000, as_org: 'ÄS Örg' }],
    ['strings at the varint and loop limits', { node: long(63), deployment: long(64), client_ip: long(65), method: long(8191), host: long(8192), path: long(20_000) }],
    ['non-ASCII short and long', { user_agent: 'Bücherwurm/1.0', referer: long(70, 'é'), path: '/日本/😀', query: long(63, 'ü') }],
    ['lone surrogates', { user_agent: 'a\ud800b', referer: `${long(70)}\udc00`, request_id: '\ud83d' }],
    ['longs beyond 32 bits and negatives', { ts: 0, bytes: 2 ** 40 + 1, status: 0, asn: 2 ** 53 - 10 }],
    ['negative and extreme numbers', { ts: -1, status: -2_147_483_648, bytes: -(2 ** 45), request_time: Number.NaN, upstream_time: -0 }],
    ['int limits', { status: 2_147_483_647, request_time: Infinity, upstream_time: 1e308 }],
    ['extra map', { extra: { path_raw: '/a/../a', traversal: '1', 'ünï': 'cödé', empty: '', long: long(300) } }],
  ];
  for (const [name, patch] of cases) {
    const v = { ...base, ...patch };
    assert.deepEqual(ours(v), avsc(v), name);
    assert.ok(writeAccessRecord(Buffer.alloc(256 * 1024), 0, v) > 0, `${name}: written by hand`);
  }
  // A map with inherited keys: avsc writes own keys only.
  const extra = Object.create({ inherited: 'x' }) as Record<string, string>;
  extra.own = 'y';
  assert.deepEqual(ours({ ...base, extra }), avsc({ ...base, extra }));
  const inheritedOnly = Object.create({ inherited: 'x' }) as Record<string, string>;
  assert.deepEqual(ours({ ...base, extra: inheritedOnly }), avsc({ ...base, extra: inheritedOnly }));
});

test('a record larger than the scratch buffer is written whole', () => {
  const v = { ...base, user_agent: 'u'.repeat(200_000), extra: { big: 'é'.repeat(100_000) } };
  assert.deepEqual(ours(v), avsc(v));
  assert.deepEqual(accessRecordCodec.decode(accessRecordCodec.encode(v)), v);
});

test('values avsc refuses are not written by hand, and the error names the field', () => {
  const bad: Array<[string, Partial<Record<keyof AccessRecord, unknown>>]> = [
    ['ts', { ts: 1.5 }], ['ts', { ts: 2 ** 54 }], ['node', { node: undefined }], ['status', { status: 2 ** 31 }], ['status', { status: '200' }],
    ['deployment', { deployment: null }], ['bytes', { bytes: null }], ['request_time', { request_time: '0.1' }], ['upstream_time', { upstream_time: '1' }],
    ['country', { country: 3 }], ['asn', { asn: 1.5 }], ['extra', { extra: [] }], ['extra.k', { extra: { k: 1 } }], ['referer', { referer: null }],
  ];
  for (const [field, patch] of bad) {
    const v = { ...base, ...patch };
    assert.equal(writeAccessRecord(Buffer.alloc(4096), 0, v), NOT_HANDLED, field);
    assert.throws(() => accessRecordCodec.encode(v as AccessRecord), (err: unknown) => err instanceof CodecError && err.field === field, field);
  }
  assert.equal(writeAccessRecord(Buffer.alloc(4096), 0, null), NOT_HANDLED);
});
