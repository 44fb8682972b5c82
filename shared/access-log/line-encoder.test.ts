// The one-pass encoder on chosen odd lines: where it answers, the bytes are the
// parser + codec's; where it must leave a line to the parser, it does. The
// bulk comparison (a million generated and hostile lines) is
// services/ingester/parse-differential.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec } from '../avro/codec.js';
import { createRawLineParser } from './formats/index.js';
import { createLineEncoder } from './line-encoder.js';
import { compileTrustedProxies, type RecordContext } from './record.js';

const ctx: RecordContext = { deployments: { 'shop.example.com': 'shop' }, trustedProxies: compileTrustedProxies([]), defaultNode: 'edge-0' };
const AT = Date.UTC(2026, 10, 21, 6, 5);
const HDR = '<190>Nov 21 06:00:44 edge-1 nginx: ';

function both(format: 'json' | 'combined', line: string | Buffer): { enc: Buffer | undefined; ref: Buffer | undefined; reason?: string } {
  const raw = typeof line === 'string' ? Buffer.from(line) : line;
  const opts = { format, ctx, maxLineBytes: 16_384 };
  const enc = createLineEncoder({ ...opts, schemaId: accessRecordCodec.schemaId, syslog: true });
  assert.ok(enc);
  const parsed = createRawLineParser({ ...opts, oversize: 'reject', syslog: true })(raw, AT);
  return { enc: enc(raw, AT)?.value, ref: parsed.ok ? accessRecordCodec.encode(parsed.record) : undefined, reason: parsed.ok ? undefined : parsed.reason };
}

const json = (o: Record<string, string>): string => {
  const base: Record<string, string> = {
    ts: '1795240844.123', node: 'edge-1', deployment: '', client_ip: '203.0.113.7', xff: '', method: 'GET', host: 'shop.example.com', uri: '/a?b=1',
    status: '200', bytes: '512', request_time: '0.010', upstream_time: '0.009', user_agent: 'curl/8.5.0', referer: '', country: '', auth_user: '',
    request_id: 'abc', blocked_by: '', filter_alert: '', logwarden_challenge: '',
  };
  return HDR + JSON.stringify({ ...base, ...o });
};
const combined = (ua: string, req = 'GET /a?b=1 HTTP/1.1', user = '-'): string =>
  `${HDR}203.0.113.7 - ${user} [21/Nov/2026:06:00:44 +0000] "${req}" 200 512 "-" "${ua}"`;

test('one-pass encoder: answers, with the parser + codec bytes, on odd but common lines', () => {
  const cases: Array<['json' | 'combined', string | Buffer]> = [
    ['json', json({})],
    ['json', json({ user_agent: 'Bücherwurm/1.0 日本語 🦀', uri: '/straße/ü?x=é' })],
    ['json', json({ country: 'de', auth_user: 'alice', blocked_by: 'rule', filter_alert: 'x', logwarden_challenge: 'pass' })],
    ['json', json({ ts: '', upstream_time: '-', bytes: '-', request_time: '', status: '000', node: '-', deployment: 'other' })],
    ['json', json({ uri: '/a/../b/%2e%2e/c//d?x', client_ip: '2001:DB8::0:1' })],
    ['json', json({ uri: '', method: '', host: '-' })],
    ['json', json({ user_agent: 'x'.repeat(9000) })],
    ['combined', combined('Mozilla/5.0')],
    ['combined', combined('B\\xC3\\xBCcherwurm \\x22probe\\x22 \\x5C')],
    ['combined', combined('-', '\\x16\\x03\\x01\\x02\\x00', 'b\\xC3\\xB6b')],
    ['combined', combined('-', 'GET /%2e%2e/etc/passwd HTTP/1.1')],
    ['combined', combined('-', 'GET /x\\x22y HTTP/1.1')],
    ['combined', combined('-', '-')],
    ['combined', combined('-', 'GARBAGE')],
    ['combined', combined('ua', 'GET /only-uri')],
    ['combined', `${combined('ü raw')}\r\n`],
  ];
  for (const [format, line] of cases) {
    const { enc, ref } = both(format, line);
    assert.ok(ref, `the parser accepts ${line.toString().slice(0, 120)}`);
    assert.ok(enc, `the encoder answers ${line.toString().slice(0, 120)}`);
    assert.ok(enc.equals(ref), `same bytes for ${line.toString().slice(0, 120)}: ${JSON.stringify(accessRecordCodec.decode(enc))} vs ${JSON.stringify(accessRecordCodec.decode(ref))}`);
  }
});

test('one-pass encoder: leaves unusual and bad lines to the parser', () => {
  const cases: Array<['json' | 'combined', string | Buffer]> = [
    ['json', json({ user_agent: 'say "hi"' })], // a JSON escape
    ['json', json({ status: '2x0' })],
    ['json', json({ client_ip: 'not-an-ip' })],
    ['json', json({ upstream_time: '0.010, 0.020' })],
    ['json', json({}).slice(0, -30)], // truncated
    ['json', `${json({}).slice(0, json({}).indexOf('"country":"') + 11)}}`], // ends right after a key: no value to scan
    ['json', `${json({}).slice(0, json({}).indexOf('"country":"') + 11)}}\n`],
    ['json', json({}).replace('"client_ip"', '"client"')],
    ['json', Buffer.concat([Buffer.from(json({}).slice(0, 80)), Buffer.from([0xff, 0xfe]), Buffer.from(json({}).slice(80))])], // invalid UTF-8
    ['json', `<165>1 2026-11-21T06:00:44Z edge-1 nginx - - - ${json({}).slice(HDR.length)}`],
    ['json', json({}).slice(HDR.length)], // no header where one is expected
    ['combined', combined('ua').replace('[21/Nov', '[99/Nov')],
    ['combined', combined('ua').slice(0, -10)],
    ['combined', combined('a " b')],
    ['combined', combined('ua').replace(' 512 ', ' 5e3 ')],
    ['combined', combined('ua').replace('203.0.113.7', '\\x31.2.3.4')],
  ];
  for (const [format, line] of cases) {
    const { enc } = both(format, line);
    assert.equal(enc, undefined, `the encoder leaves ${line.toString().slice(0, 160)}`);
  }
});

test('one-pass encoder: none for other formats', () => {
  assert.equal(createLineEncoder({ format: '$remote_addr $status', ctx, maxLineBytes: 1000, schemaId: 1, syslog: true }), undefined);
});

test('one-pass encoder: a header seen again, after other nodes and after a year, reads as the parser reads it then', () => {
  const opts = { format: 'json', ctx, maxLineBytes: 16_384 };
  const enc = createLineEncoder({ ...opts, schemaId: accessRecordCodec.schemaId, syslog: true });
  assert.ok(enc);
  const parse = createRawLineParser({ ...opts, oversize: 'reject', syslog: true });
  // No ts in the line: the record's time is the header's, whose year comes from the receive time.
  const line = (node: string): Buffer => Buffer.from(json({ ts: '' }).replace(HDR, `<190>Nov 21 06:00:44 ${node} nginx: `));
  const year = 365 * 86_400_000;
  const steps: Array<[string, number]> = [
    ['edge-1', AT],
    ['edge-2', AT + 1000],
    ['edge-1', AT + 2000], // not the last header: from the headers of the last minute
    ['edge-3', AT + 3000],
    ['edge-1', AT + year], // the same text a year on: parsed again, in that year
    ['edge-2', AT + year + 500],
    ['edge-1', AT + year + 1000],
  ];
  const times = new Set<number>();
  for (const [node, at] of steps) {
    const raw = line(node);
    const ref = parse(raw, at);
    assert.ok(ref.ok);
    const got = enc(raw, at);
    assert.ok(got, `the encoder answers for ${node} at ${new Date(at).toISOString()}`);
    assert.ok(got.value.equals(accessRecordCodec.encode(ref.record)), `same bytes for ${node} at ${new Date(at).toISOString()}`);
    assert.equal(got.ts, ref.record.ts);
    times.add(got.ts);
  }
  assert.equal(times.size, 2, 'one time for the first year, another a year on');
});
