// The parsing tables in shared/access-log/testdata/parse/, run whole: every
// format, hostile lines included. Each case goes through the same path as a
// received line (bytes → size rule → UTF-8 → syslog header → format), with
// the generated fast path and without it, and each accepted record must
// encode as an Avro AccessRecord.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { accessRecordCodec } from '../../avro/codec.js';
import { compileTrustedProxies, type LineResult, type RecordContext } from '../record.js';
import { createRawLineParser, validateLogFormat } from './index.js';

const dir = fileURLToPath(new URL('../../../../shared/access-log/testdata/parse/', import.meta.url));

/** A part of a line given as bytes ("c3 28") or as a repeated string. */
type Part = string | { hex: string } | { repeat: string; times: number };

interface Case {
  case: string;
  format: string;
  line?: string;
  parts?: Part[];
  syslog?: boolean;
  max_line_bytes?: number;
  oversize?: 'reject' | 'truncate';
  trusted_proxies?: string[];
  deployments?: Record<string, string>;
  /** Record fields to compare; `ts_iso` compares `ts` with an ISO time; `extra` is compared whole ({} when not given). */
  expect?: Record<string, unknown>;
  reject?: string;
}

/** Arrival time of every line: 2026-11-21T06:01:40Z, a minute after the lines' own time. */
const RECEIVED_AT = 1_795_240_900_000;

const namedFormats = JSON.parse(readFileSync(`${dir}formats.json`, 'utf8')) as Record<string, string>;

function load(file: string): Case[] {
  return readFileSync(dir + file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Case);
}

function bytesOf(c: Case): Buffer {
  if (c.line !== undefined) return Buffer.from(c.line, 'utf8');
  return Buffer.concat(
    (c.parts ?? []).map((p) => {
      if (typeof p === 'string') return Buffer.from(p, 'utf8');
      if ('hex' in p) return Buffer.from(p.hex.replace(/\s+/g, ''), 'hex');
      return Buffer.from(p.repeat.repeat(p.times), 'utf8');
    }),
  );
}

function run(c: Case, fastPath: boolean): LineResult {
  const ctx: RecordContext = {
    deployments: c.deployments ?? { 'shop.example': 'shop' },
    trustedProxies: compileTrustedProxies(c.trusted_proxies ?? []),
    defaultNode: 'fallback',
  };
  const parse = createRawLineParser({
    format: namedFormats[c.format] ?? c.format,
    ctx,
    maxLineBytes: c.max_line_bytes ?? 65_536,
    oversize: c.oversize ?? 'reject',
    syslog: c.syslog ?? false,
    fastPath,
  });
  return parse(bytesOf(c), RECEIVED_AT);
}

function check(c: Case, r: LineResult): void {
  const label = `${c.format}: ${c.case}`;
  if (c.reject !== undefined) {
    assert.equal(r.ok, false, `${label}: expected ${c.reject}, got a record`);
    if (!r.ok) {
      assert.equal(r.reason, c.reject, `${label}: ${r.detail}`);
      assert.ok(r.detail.length > 0, `${label}: a rejection says why`);
    }
    return;
  }
  assert.ok(r.ok, `${label}: rejected as ${r.ok ? '' : `${r.reason} (${r.detail})`}`);
  const { ts_iso: tsIso, extra = {}, ...fields } = c.expect ?? {};
  const rec = r.record as unknown as Record<string, unknown>;
  if (tsIso !== undefined) assert.equal(rec.ts, Date.parse(tsIso as string), `${label}: ts`);
  for (const [k, v] of Object.entries(fields)) assert.deepEqual(rec[k], v, `${label}: ${k}`);
  assert.deepEqual(rec.extra, extra, `${label}: extra`);
  // Whatever the line held, the record is a valid AccessRecord.
  const decoded = accessRecordCodec.decode(accessRecordCodec.encode(r.record));
  assert.deepEqual(decoded, r.record, `${label}: Avro round trip`);
}

for (const file of ['json.jsonl', 'combined.jsonl', 'custom.jsonl']) {
  const cases = load(file);
  test(`parsing table ${file} (${cases.length} cases)`, () => {
    assert.ok(cases.length > 10);
    for (const c of cases) {
      const fast = run(c, true);
      check(c, fast);
      // The generated fast path answers only where it agrees with the reference matcher.
      assert.deepEqual(fast, run(c, false), `${c.format}: ${c.case}: fast path and matcher disagree`);
    }
  });
}

test('log_format settings: refused with a reason, or accepted', () => {
  const t = JSON.parse(readFileSync(`${dir}log-formats.json`, 'utf8')) as { invalid: Array<[string, string]>; valid: string[] };
  for (const [format, reason] of t.invalid) {
    const err = validateLogFormat(format);
    assert.ok(err !== undefined && err.includes(reason), `${JSON.stringify(format)}: ${err}`);
  }
  for (const format of [...t.valid, ...Object.values(namedFormats)]) assert.equal(validateLogFormat(format), undefined, format);
});
