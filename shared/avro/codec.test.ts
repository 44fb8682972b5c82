import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avsc from 'avsc';
import type { Type } from 'avsc';
import type { AccessRecord, BlockDecision, SecurityEvent, SecurityEventType } from '../records.js';
import {
  CodecError,
  RecordCodec,
  accessRecordCodec,
  blockDecisionCodec,
  localSchemas,
  schemasDir,
  securityEventCodec,
  type SchemaSource,
  type SchemaVersion,
} from './codec.js';
import { parseSchema } from './schema-source.js';

// The schema table and files read directly, not through the code under test.
interface Entry {
  id: number;
  subject: string;
  version: number;
  file: string;
}
const dir = schemasDir();
const table = JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')) as Entry[];
const schemaJson = (file: string): object => JSON.parse(readFileSync(join(dir, file), 'utf8')) as object;
const avroType = (file: string): Type => avsc.Type.forSchema(schemaJson(file) as Parameters<typeof avsc.Type.forSchema>[0], { wrapUnions: 'never' });
function current(subject: string): Entry {
  const versions = table.filter((e) => e.subject === subject).sort((a, b) => b.version - a.version);
  assert.ok(versions[0], `registry.json has ${subject}`);
  return versions[0];
}
function entry(subject: string, version: number): Entry {
  const e = table.find((x) => x.subject === subject && x.version === version);
  assert.ok(e, `registry.json has ${subject} version ${version}`);
  return e;
}
function frame(id: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, body]);
}
function codecError(reason: string, extra: Partial<CodecError> = {}): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof CodecError, `expected a CodecError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.equal(err.code, `LW_AVRO_${reason.toUpperCase()}`, err.message);
    for (const [k, v] of Object.entries(extra)) assert.equal(err[k as keyof CodecError], v, `${k} of ${err.message}`);
    return true;
  };
}

// Typed as the interfaces with every field, so the compiler fails this file
// when a field is added to shared/records.ts and not here (and the schema
// test below then fails until the .avsc has it too).
const fullAccess: AccessRecord = {
  ts: 1_718_000_123_456,
  node: 'edge-fra-1',
  deployment: 'boutique-ünïcödé',
  client_ip: '2001:db8:85a3::8a2e:370:7334',
  method: 'PROPFIND',
  host: 'xn--bcher-kva.example',
  path: '/商品/카테고리/😀/a b',
  query: 'q=%E2%9C%93&empty=&x=1',
  status: 599,
  bytes: 2 ** 40,
  request_time: 12.345,
  upstream_time: 0.001,
  user_agent: 'Mozilla/5.0 (Ж; 中文) "quoted" \\ backslash\ttab',
  referer: 'https://例え.jp/パス?q=1',
  country: 'JP',
  asn: 4_294_967_295,
  as_org: 'Ünïcode "Networks", Inc.',
  auth_user: 'josé',
  request_id: 'f'.repeat(32),
  blocked_by: 'blocklist',
  filter_alert: 'ua-scanners',
  extra: { ssl_protocol: 'TLSv1.3', 'ключ': 'значение', '': 'empty key', empty_value: '' },
};
const sparseAccess: AccessRecord = {
  ts: 0,
  node: '',
  deployment: '',
  client_ip: '203.0.113.7',
  method: '',
  host: '',
  path: '',
  query: '',
  status: 0,
  bytes: 0,
  request_time: 0,
  upstream_time: null,
  user_agent: '',
  referer: '',
  country: null,
  asn: null,
  as_org: null,
  auth_user: null,
  request_id: '',
  blocked_by: null,
  filter_alert: null,
  extra: {},
};
const fullEvent: SecurityEvent = {
  id: 'ev-203.0.113.7-rate-1718000000000',
  ts: 8_640_000_000_000_000, // the last instant a JS Date can hold
  type: 'scan_detected',
  detector: 'signature:sqli-union',
  ip: '::ffff:0:0:1',
  deployment: 'shop',
  count: 2 ** 40,
  window_start: 1_718_000_000_000,
  window_end: 1_718_000_120_000,
  sample_paths: ['/.env', '/wp-login.php', '/ü/😀', ''],
  details: { threshold: '100', user_agent: 'sqlmap/1.7', 'ключ': '' },
  country: 'BR',
  asn: 64_500,
  as_org: 'Exemplo Telecom',
};
const fullDecision: BlockDecision = {
  ip: '2001:db8::/64',
  action: 'unblock',
  reason: 'Raté limité — 😤',
  source: 'filter',
  created_at: 1_718_000_000_000,
  expires_at: 1_718_086_400_000,
  deployment: 'shop',
  escalation_level: 7,
  actor: 'api:ops',
};

test('the current schemas have exactly the fields of shared/records.ts', () => {
  for (const [subject, sample] of [
    ['AccessRecord', fullAccess],
    ['SecurityEvent', fullEvent],
    ['BlockDecision', fullDecision],
  ] as const) {
    // BlockDecision's `feed` field is the wire form of source feed:<name> (see blockDecisionCodec).
    const fields = (schemaJson(current(subject).file) as { fields: { name: string }[] }).fields.map((f) => f.name).filter((f) => !(subject === 'BlockDecision' && f === 'feed'));
    assert.deepEqual([...fields].sort(), Object.keys(sample).sort(), subject);
  }
});

test('AccessRecord round-trips every field: unicode, empty strings, nulls, 2^40, IPv6', () => {
  for (const rec of [fullAccess, sparseAccess]) {
    const decoded = accessRecordCodec.decode(accessRecordCodec.encode(rec));
    assert.deepEqual(decoded, rec);
    // Decoded records are plain objects, interchangeable with literals.
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  }
});

test('SecurityEvent round-trips every field and every event type', () => {
  const types: SecurityEventType[] = ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected'];
  for (const type of types) {
    const ev = { ...fullEvent, type };
    assert.deepEqual(securityEventCodec.decode(securityEventCodec.encode(ev)), ev);
  }
  const sparse: SecurityEvent = { ...fullEvent, deployment: '', count: 1, sample_paths: [], details: {} };
  assert.deepEqual(securityEventCodec.decode(securityEventCodec.encode(sparse)), sparse);
});

test('BlockDecision round-trips every action, source and nullable field', () => {
  for (const action of ['block', 'unblock'] as const) {
    for (const source of ['auto', 'manual', 'filter', 'feed:firehol_level1', 'feed:x'] as const) {
      const d = { ...fullDecision, action, source };
      assert.deepEqual(blockDecisionCodec.decode(blockDecisionCodec.encode(d)), d);
    }
  }
  const permanent: BlockDecision = { ...fullDecision, ip: '198.51.100.0/24', expires_at: null, deployment: null, reason: '', escalation_level: 0 };
  assert.deepEqual(blockDecisionCodec.decode(blockDecisionCodec.encode(permanent)), permanent);
  // A person's decision names them; one nobody made has no actor, on the wire "" (v1 has no such field).
  const byHand: BlockDecision = { ...fullDecision, action: 'unblock', source: 'manual', actor: 'api:alice' };
  assert.deepEqual(blockDecisionCodec.decode(blockDecisionCodec.encode(byHand)), byHand);
  const { actor: _actor, ...byNobody } = fullDecision;
  assert.equal('actor' in blockDecisionCodec.decode(blockDecisionCodec.encode({ ...byNobody, source: 'auto' })), false);
});

test('a feed decision is the symbol feed and the name on the wire; a v1 reader takes it as manual', () => {
  const d: BlockDecision = { ...fullDecision, action: 'block', source: 'feed:spamhaus-drop' };
  const buf = blockDecisionCodec.encode(d);
  const wire = blockDecisionCodec.type.decode(buf, 5).value as { source: string; feed: string };
  assert.equal(wire.source, 'feed');
  assert.equal(wire.feed, 'spamhaus-drop');
  const v1 = localSchemas().byId(4) ?? assert.fail('BlockDecision v1 (id 4)');
  const old = parseSchema(v1.schema);
  const asV1 = old.decode(buf, 5, old.createResolver(blockDecisionCodec.type)).value as { source: string };
  assert.equal(asV1.source, 'manual');
});

test('Confluent framing: magic byte 0, big-endian id of the current version, plain Avro body', () => {
  for (const [codec, subject, value] of [
    [accessRecordCodec, 'AccessRecord', fullAccess],
    [securityEventCodec, 'SecurityEvent', fullEvent],
    [blockDecisionCodec, 'BlockDecision', fullDecision],
  ] as const) {
    const cur = current(subject);
    const buf = (codec as RecordCodec<object>).encode(value);
    assert.equal(buf[0], 0, `${subject} magic byte`);
    assert.deepEqual([...buf.subarray(1, 5)], [(cur.id >>> 24) & 0xff, (cur.id >>> 16) & 0xff, (cur.id >>> 8) & 0xff, cur.id & 0xff], `${subject} schema id bytes`);
    assert.equal(codec.schemaId, cur.id);
    // What any Avro implementation writes for the schema file: a Confluent
    // deserializer holding the .avsc reads our bytes.
    assert.deepEqual(buf.subarray(5), avroType(cur.file).toBuffer(value), `${subject} body`);
  }
});

test('a record written with AccessRecord version 0 decodes to the current shape with defaults', () => {
  const v0 = entry('AccessRecord', 0);
  const { country: _c, filter_alert: _f, extra: _e, asn: _a, as_org: _o, ...old } = fullAccess;
  const buf = frame(v0.id, avroType(v0.file).toBuffer(old));
  const defaults = { country: null, asn: null, as_org: null, filter_alert: null, extra: {} };
  assert.deepEqual(accessRecordCodec.decode(buf), { ...old, ...defaults });
  // Twice: the second goes through the cached resolver.
  assert.deepEqual(accessRecordCodec.decode(buf), { ...old, ...defaults });
});

test('a version 0 reader reads what the current codec writes (forward compatibility)', () => {
  const v0Type = avroType(entry('AccessRecord', 0).file);
  const curType = avroType(current('AccessRecord').file);
  const body = accessRecordCodec.encode(fullAccess).subarray(5);
  const { country: _c, filter_alert: _f, extra: _e, asn: _a, as_org: _o, ...expected } = fullAccess;
  assert.deepEqual({ ...(v0Type.fromBuffer(body, v0Type.createResolver(curType)) as object) }, expected);
});

test('an unknown enum symbol from a newer writer reads as the enum default', () => {
  const cur = localSchemas().latest('SecurityEvent');
  const schema = structuredClone(cur.schema) as { fields: { name: string; type: { symbols?: string[] } }[] };
  const typeField = schema.fields.find((f) => f.name === 'type');
  assert.ok(typeField?.type.symbols);
  typeField.type.symbols.push('credential_stuffing');
  const newer: SchemaVersion = { id: 900, subject: 'SecurityEvent', version: cur.version + 1, schema };
  // A SchemaSource other than the local table: what a registry client would be.
  const source: SchemaSource = {
    latest: () => cur,
    byId: (id) => (id === newer.id ? newer : id === cur.id ? cur : undefined),
  };
  const codec = new RecordCodec<SecurityEvent>('SecurityEvent', source);
  const body = avsc.Type.forSchema(schema as Parameters<typeof avsc.Type.forSchema>[0], { wrapUnions: 'never' }).toBuffer({ ...fullEvent, type: 'credential_stuffing' });
  assert.deepEqual(codec.decode(frame(newer.id, body)), { ...fullEvent, type: 'suspicious' });
});

test('decode rejects a wrong magic byte', () => {
  const buf = accessRecordCodec.encode(fullAccess);
  buf[0] = 1;
  assert.throws(() => accessRecordCodec.decode(buf), codecError('bad_magic'));
  assert.throws(() => accessRecordCodec.decode(Buffer.from('{"ts":1}')), codecError('bad_magic'));
});

test('decode rejects an unknown schema id, naming it', () => {
  const buf = accessRecordCodec.encode(fullAccess);
  buf.writeUInt32BE(0x7fff_fff0, 1);
  assert.throws(() => accessRecordCodec.decode(buf), codecError('unknown_schema_id', { schemaId: 0x7fff_fff0 }));
  // Cached as unknown, still rejected.
  assert.throws(() => accessRecordCodec.decode(buf), codecError('unknown_schema_id'));
});

test('decode rejects the id of another subject', () => {
  const buf = accessRecordCodec.encode(fullAccess);
  buf.writeUInt32BE(current('BlockDecision').id, 1);
  assert.throws(() => accessRecordCodec.decode(buf), codecError('incompatible_schema', { schemaId: current('BlockDecision').id }));
});

test('decode rejects every truncation of a record as truncated', () => {
  for (const [codec, value] of [
    [accessRecordCodec, fullAccess],
    [securityEventCodec, fullEvent],
    [blockDecisionCodec, fullDecision],
  ] as const) {
    const buf = (codec as RecordCodec<object>).encode(value);
    for (let len = 0; len < buf.length; len++) {
      assert.throws(() => codec.decode(buf.subarray(0, len)), codecError('truncated'), `${codec.subject} cut to ${len} of ${buf.length} bytes`);
    }
  }
});

test('decode rejects trailing bytes and corrupt bodies as invalid_record', () => {
  const buf = securityEventCodec.encode(fullEvent);
  assert.throws(() => securityEventCodec.decode(Buffer.concat([buf, Buffer.from([0])])), codecError('invalid_record'));
  // Field 2 (type) follows the id string and the ts varint; 99 zig-zag encodes to 198 (0xc6 0x01).
  const type = avroType(current('SecurityEvent').file);
  const body = type.toBuffer(fullEvent);
  const idLen = Buffer.byteLength(fullEvent.id);
  const tsLen = avsc.Type.forSchema('long').toBuffer(fullEvent.ts).length;
  const typeAt = 1 + idLen + tsLen; // 1-byte length prefix: the id is shorter than 64 bytes
  const corrupt = Buffer.concat([body.subarray(0, typeAt), Buffer.from([0xc6, 0x01]), body.subarray(typeAt + 1)]);
  assert.throws(() => securityEventCodec.decode(frame(current('SecurityEvent').id, corrupt)), (err: unknown) => {
    codecError('invalid_record')(err);
    assert.match((err as Error).message, /enum index: 99/);
    return true;
  });
});

test('encode rejects an invalid record with invalid_record naming the field', () => {
  const cases: [unknown, string][] = [
    [{ ...fullAccess, status: '200' }, 'status'],
    [{ ...fullAccess, status: 200.5 }, 'status'],
    [{ ...fullAccess, bytes: 2 ** 60 }, 'bytes'],
    [{ ...fullAccess, node: undefined }, 'node'],
    [{ ...fullAccess, country: 49 }, 'country'],
    [{ ...fullAccess, extra: { ok: 'x', bad: 1 } }, 'extra.bad'],
    [{ ...fullAccess, extra: null }, 'extra'],
  ];
  for (const [value, field] of cases) {
    assert.throws(() => accessRecordCodec.encode(value as AccessRecord), (err: unknown) => {
      codecError('invalid_record', { field })(err);
      assert.match((err as Error).message, new RegExp(`field ${field.replace('.', '\\.')}:`));
      return true;
    });
  }
  assert.throws(() => securityEventCodec.encode({ ...fullEvent, type: 'bogus' as SecurityEventType }), codecError('invalid_record', { field: 'type' }));
  assert.throws(() => securityEventCodec.encode({ ...fullEvent, sample_paths: ['/ok', 3 as unknown as string] }), codecError('invalid_record', { field: 'sample_paths.1' }));
  assert.throws(() => blockDecisionCodec.encode({ ...fullDecision, action: 'ban' as 'block' }), codecError('invalid_record', { field: 'action' }));
  assert.throws(() => accessRecordCodec.encode(null as unknown as AccessRecord), codecError('invalid_record', { field: undefined }));
});

test('encoded buffers are independent of each other and of later encodes', () => {
  const a = accessRecordCodec.encode(fullAccess);
  const copy = Buffer.from(a);
  accessRecordCodec.encode(sparseAccess);
  blockDecisionCodec.encode(fullDecision);
  assert.deepEqual(a, copy);
});

test('a record larger than the scratch buffer round-trips', () => {
  const big: AccessRecord = { ...fullAccess, user_agent: 'ü'.repeat(300_000), extra: { blob: 'x'.repeat(100_000) } };
  const buf = accessRecordCodec.encode(big);
  assert.ok(buf.length > 700_000);
  assert.deepEqual(accessRecordCodec.decode(buf), big);
});

test('encodeBatch gives the same bytes as encode, across scratch growth', () => {
  const values: AccessRecord[] = [];
  for (let i = 0; i < 2000; i++) {
    values.push({ ...(i % 2 ? fullAccess : sparseAccess), ts: i, path: `/p/${i}`, user_agent: i === 1500 ? 'z'.repeat(70_000) : 'ua' });
  }
  const batch = accessRecordCodec.encodeBatch(values);
  assert.equal(batch.length, values.length);
  for (const [i, buf] of batch.entries()) {
    const v = values[i];
    assert.ok(v);
    assert.deepEqual(buf, accessRecordCodec.encode(v), `record ${i}`);
    assert.deepEqual(accessRecordCodec.decode(buf), v, `record ${i}`);
  }
  assert.deepEqual(accessRecordCodec.encodeBatch([]), []);
  assert.throws(() => accessRecordCodec.encodeBatch([fullAccess, { ...fullAccess, method: 1 as unknown as string }]), codecError('invalid_record', { field: 'method' }));
});
