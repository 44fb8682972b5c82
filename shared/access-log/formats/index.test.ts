import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { accessRecordCodec } from '../../avro/codec.js';
import { recordFromJson, type RecordContext } from '../record.js';
import { COMBINED_FORMAT, SHIPPED_JSON_FORMAT, createLineParser, createRawLineParser, tokenize, validateLogFormat } from './index.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const ctx: RecordContext = { deployments: {}, trustedProxies: [], defaultNode: 'n' };

test('SHIPPED_JSON_FORMAT is the log_format of the shipped nginx snippet', () => {
  const conf = readFileSync(`${root}lua/conf/logwarden-http.conf`, 'utf8');
  const m = /log_format\s+logwarden_json\s+escape=json\s+((?:'[^']*'\s*)+);/.exec(conf);
  assert.ok(m, 'log_format logwarden_json escape=json found in lua/conf/logwarden-http.conf');
  const joined = [...(m[1] as string).matchAll(/'([^']*)'/g)].map((p) => p[1]).join('');
  assert.equal(joined, SHIPPED_JSON_FORMAT);
  // And as an operator could paste it into the config, quoted parts and all.
  assert.equal(validateLogFormat(`escape=json ${m[1] as string};`), undefined);
});

test('variable names end where nginx ends them', () => {
  const t = tokenize('$remote_addr-$status.${request_time}s$http_user_agent');
  assert.ok(Array.isArray(t));
  assert.deepEqual(
    t.map((x) => [x.literal, x.variable]),
    [['', 'remote_addr'], ['-', 'status'], ['.', 'request_time'], ['s', 'http_user_agent'], ['', '']],
  );
});

test('createLineParser refuses what validateLogFormat refuses', () => {
  assert.throws(() => createLineParser('$remote_addr$status', ctx), /adjacent/);
  assert.throws(() => createLineParser('$remote_addr [$time_local]', ctx), /\$status/);
  assert.doesNotThrow(() => createLineParser('combined', ctx));
  assert.doesNotThrow(() => createLineParser(COMBINED_FORMAT, ctx));
});

test('"combined" and its template spelled out parse alike', () => {
  const line = '203.0.113.9 - - [21/Nov/2026:06:00:44 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"';
  assert.deepEqual(createLineParser('combined', ctx)(line, undefined, 0), createLineParser(COMBINED_FORMAT, ctx)(line, undefined, 0));
});

test('a cut line is cut on a UTF-8 character boundary', () => {
  const parse = createRawLineParser({ format: 'combined', ctx, maxLineBytes: 300, oversize: 'truncate', syslog: false });
  const head = '203.0.113.9 - - [21/Nov/2026:06:00:44 +0000] "GET /a HTTP/1.1" 200 5 "-" "';
  // Escaped as nginx would not, but raw multibyte text is what a relay or escape=none sends.
  for (let pad = 0; pad < 4; pad++) {
    const r = parse(Buffer.from(`${head}${'x'.repeat(pad)}${'日'.repeat(200)}"`), 0);
    assert.ok(r.ok, `pad ${pad}`);
    assert.ok(!r.record.user_agent.includes('\uFFFD'), `pad ${pad}: no replacement character from the cut`);
    assert.equal(r.record.extra.truncated, '1');
    assert.ok(Buffer.byteLength(r.record.user_agent) <= 300 - Buffer.byteLength(head));
  }
});

/** xorshift32: a fixed seed makes every run test the same lines. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

test('the shipped layout before logwarden_challenge parses as the JSON fallback does, through a matcher of its own', () => {
  const line = '{"ts":"1795240844.123","node":"edge-1","deployment":"","client_ip":"203.0.113.9","xff":"","method":"GET","host":"shop.example","uri":"/a?b=1","status":"200","bytes":"512","request_time":"0.004","upstream_time":"0.003","user_agent":"curl/8.5.0","referer":"","country":"DE","auth_user":"","request_id":"7f3a9c","blocked_by":"","filter_alert":"x-1"}';
  const r = createLineParser('json', ctx)(line, undefined, 1_795_240_900_000);
  assert.ok(r.ok);
  assert.deepEqual(r, recordFromJson(line, undefined, ctx, 1_795_240_900_000));
  assert.equal(r.record.filter_alert, 'x-1');
});

test('hostile input: mutated lines never throw, and every record they make encodes', () => {
  const rand = rng(0x5eed1234);
  const base: Array<[string, string]> = [
    ['json', '{"ts":"1795240844.123","node":"edge-1","deployment":"","client_ip":"203.0.113.9","xff":"","method":"GET","host":"shop.example","uri":"/a?b=1","status":"200","bytes":"512","request_time":"0.004","upstream_time":"0.003","user_agent":"curl/8.5.0","referer":"","country":"DE","auth_user":"","request_id":"7f3a9c","blocked_by":"","filter_alert":""}'],
    ['combined', '203.0.113.9 - bob [21/Nov/2026:06:00:44 +0000] "GET /a/../b%2e?x=1 HTTP/1.1" 200 512 "https://r/" "Mozilla/5.0 \\xC3\\xA9"'],
    ['escape=none $remote_addr [$time_local] "$request" $status "$http_user_agent" "$http_referer"', '203.0.113.9 [21/Nov/2026:06:00:44 +0000] "GET / HTTP/1.1" 200 "ua" "ref"'],
    ['$remote_addr $host [$time_iso8601] "$request_method $uri$is_args$args $server_protocol" $status $bytes_sent $request_time "$upstream_response_time" x=$x', '::1 h [2026-11-21T06:00:44+00:00] "GET /p?q HTTP/1.1" 200 10 0.001 "0.001" x=y'],
  ];
  const nasty = ['"', '\\', '\\x', '\\x2', '\\u00', '\u0000', ' ', '[', ']', '%', '%2e%2e/', '..', '/', '\uFFFD', '日', '\n', '{', '}', ',', ':', '-', '$'];
  let accepted = 0;
  let rejected = 0;
  for (const [format, line] of base) {
    const fast = createLineParser(format, ctx);
    const slow = createLineParser(format, ctx, { fastPath: false });
    for (let k = 0; k < 2500; k++) {
      let s = line;
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * (s.length + 1));
        const op = rand();
        if (op < 0.4) s = s.slice(0, at) + (nasty[Math.floor(rand() * nasty.length)] as string) + s.slice(at);
        else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 5));
        else if (op < 0.85) s = s.slice(0, at);
        else s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x3000)) + s.slice(at);
      }
      const r = fast(s, undefined, 1_795_240_900_000);
      assert.deepEqual(r, slow(s, undefined, 1_795_240_900_000), `fast path and matcher disagree on ${JSON.stringify(s)}`);
      if (r.ok) {
        accepted++;
        assert.doesNotThrow(() => accessRecordCodec.encode(r.record), JSON.stringify(s));
      } else {
        rejected++;
        assert.ok(['bad_format', 'bad_ip', 'empty'].includes(r.reason), `${r.reason} for ${JSON.stringify(s)}`);
        assert.ok(!r.detail.startsWith('parser error'), `${r.detail} for ${JSON.stringify(s)}`);
      }
    }
  }
  // Both outcomes are exercised, not just one.
  assert.ok(accepted > 1000 && rejected > 1000, `accepted ${accepted}, rejected ${rejected}`);
});

test('backtracking is bounded on a line built to make it explode', () => {
  const parse = createLineParser('escape=none $remote_addr "$http_user_agent" "$http_referer" $status', ctx);
  const line = `203.0.113.9 ${'"a" '.repeat(5000)}x`;
  const r = parse(line, undefined, 0);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.reason, 'bad_format');
    assert.match(r.detail, /gave up after \d+ backtracking steps/);
  }
  // A typed variable after the quoted one finds the split that raw quotes hide.
  const typed = createLineParser('escape=none $remote_addr "$http_user_agent" $status "$http_referer"', ctx);
  const ok = typed('203.0.113.9 "say "a" "b" ok" 200 "ref"', undefined, 0);
  assert.ok(ok.ok);
  assert.equal(ok.record.user_agent, 'say "a" "b" ok');
  assert.equal(ok.record.status, 200);
  assert.equal(ok.record.referer, 'ref');
});

test('a line cut inside a number does not make a wrong number', () => {
  const parse = createLineParser('$remote_addr [$time_local] $status $body_bytes_sent "$http_user_agent"', ctx);
  const cutInStatus = parse('203.0.113.9 [21/Nov/2026:06:00:44 +0000] 20', undefined, 0);
  assert.equal(cutInStatus.ok, false);
  const cutAfterStatus = parse('203.0.113.9 [21/Nov/2026:06:00:44 +0000] 404', undefined, 0);
  assert.ok(cutAfterStatus.ok, 'three digits are a whole status');
  assert.equal(cutAfterStatus.record.status, 404);
  const cutInBytes = parse('203.0.113.9 [21/Nov/2026:06:00:44 +0000] 200 15', undefined, 0);
  assert.ok(cutInBytes.ok);
  assert.equal(cutInBytes.record.bytes, 0);
  assert.equal(cutInBytes.record.extra.truncated, '1');
});
