// Differential test of the ingester's shipped parse + encode path against the
// reference: over 1,000,000+ lines of the traffic generator (json and combined,
// benign clients and every attacker kind, the four framings a line arrives
// in) plus hostile lines (garbageLine: random bytes, real lines mutated), the
// shipped path (the generated fast path, then the hand-written Avro writer)
// and the reference (the format's matcher alone, then avsc's generic writer)
// must agree on every line:
//
// - both accept it or both reject it, with the same reason and detail;
// - accepted: the records, geo-annotated as the pipeline does, encode to the
//   same Avro bytes, and the shipped bytes decode (avsc's reader) to the
//   reference record, field by field.
//
// Bounded by its line count (about half a minute on a quiet core). The seed is
// fixed so a failure replays; LOGWARDEN_DIFF_SEED picks another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { createRawLineParser } from '../../shared/access-log/formats/index.js';
import { createLineEncoder, type EncodedLine } from '../../shared/access-log/line-encoder.js';
import { compileTrustedProxies, type LineResult, type RecordContext } from '../../shared/access-log/record.js';
import type { AccessRecord } from '../../shared/records.js';
import { geoDatabase, GeoMemo } from '../../shared/geo/index.js';
import { LineFormatter, syslogTime } from '../../loadtest/generator/format.js';
import { Rng } from '../../loadtest/generator/prng.js';
import { TrafficGenerator } from '../../loadtest/generator/traffic.js';
import { garbageLine } from './testing/garbage.js';

const SEED = Number(process.env.LOGWARDEN_DIFF_SEED ?? 0x646966);
const LINES_PER_FORMAT = 500_000;
/** One line in HOSTILE_EVERY is replaced by a hostile one made from the lines before it. */
const HOSTILE_EVERY = 10;
const MAX_LINE = 16_384;
/** Lines arrive this long after they are logged; one in AHEAD_EVERY comes from a node whose clock runs AHEAD_MS ahead. */
const ARRIVAL_MS = 250;
const AHEAD_EVERY = 20;
const AHEAD_MS = 90_000;

const ctx: RecordContext = {
  deployments: { 'shop.example.com': 'shop', 'api.example.com': 'api', 'www.example.org': 'www' },
  // Loopback and a private range trusted: X-Forwarded-For is walked for lines from them.
  trustedProxies: compileTrustedProxies(['127.0.0.0/8', '10.0.0.0/8', '2001:db8:ffff::/48']),
  defaultNode: 'edge-0',
};

const FIELDS: ReadonlyArray<keyof AccessRecord> = [
  'ts', 'node', 'deployment', 'client_ip', 'method', 'host', 'path', 'query', 'status', 'bytes', 'request_time', 'upstream_time',
  'user_agent', 'referer', 'country', 'asn', 'as_org', 'auth_user', 'request_id', 'blocked_by', 'filter_alert',
];

/** A string as avsc's reader gives it back: text that is not well-formed UTF-16 does not survive UTF-8 as itself. */
const wellFormed = (v: unknown): boolean => typeof v !== 'string' || !/\p{Surrogate}/u.test(v) || (v as string & { isWellFormed(): boolean }).isWellFormed();

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
};

/** The first field where the decoded record differs from the reference record, or undefined. */
function firstDifference(decoded: AccessRecord, ref: AccessRecord): string | undefined {
  for (const k of FIELDS) {
    const want = ref[k] ?? null; // asn and as_org may be absent on a parsed record; decoded records have null
    const got = decoded[k] ?? null;
    if (!Object.is(got, want) && wellFormed(want)) return `${k}: ${show(got)} != ${show(want)}`;
  }
  const gk = Object.keys(decoded.extra);
  const rk = Object.keys(ref.extra);
  if (gk.length !== rk.length) return `extra: ${show(decoded.extra)} != ${show(ref.extra)}`;
  for (const k of rk) {
    if (decoded.extra[k] !== ref.extra[k] && wellFormed(ref.extra[k]) && wellFormed(k)) return `extra.${k}: ${show(decoded.extra[k])} != ${show(ref.extra[k])}`;
  }
  return undefined;
}

/** The line as it arrives: syslog from nginx, without HOSTNAME, an RFC 5424 relay, or a bare log-file line. */
function frame(i: number, msg: Buffer, ts: number, node: string): { raw: Buffer; framed: boolean } {
  switch (i % 4) {
    case 0:
      return { raw: Buffer.concat([Buffer.from(`<190>${syslogTime(ts)} ${node} nginx: `), msg]), framed: true };
    case 1:
      return { raw: Buffer.concat([Buffer.from(`<190>${syslogTime(ts)} nginx: `), msg]), framed: true };
    case 2:
      return { raw: Buffer.concat([Buffer.from(`<165>1 ${new Date(ts).toISOString()} ${node} nginx - - [x@1 a="b\\]"] `), msg, Buffer.from('\n')]), framed: true };
    default:
      return { raw: msg, framed: false };
  }
}

for (const format of ['json', 'combined'] as const) {
  test(`differential: shipped ${format} parse + encode agrees with the reference on ${LINES_PER_FORMAT.toLocaleString('en-US')} generated and hostile lines (seed ${SEED})`, (t) => {
    const options = { format, ctx, maxLineBytes: MAX_LINE, oversize: 'truncate' as const };
    const shipped = { framed: createRawLineParser({ ...options, syslog: true }), bare: createRawLineParser({ ...options, syslog: false }) };
    const reference = {
      framed: createRawLineParser({ ...options, syslog: true, fastPath: false }),
      bare: createRawLineParser({ ...options, syslog: false, fastPath: false }),
    };
    assert.ok(accessRecordCodec.handWritten, 'the AccessRecord codec writes with the hand-written writer');
    // The one-pass encoder (line-encoder.ts): where it answers, its bytes must be the shipped path's.
    const encOptions = { format, ctx, maxLineBytes: MAX_LINE, schemaId: accessRecordCodec.schemaId };
    const encoder = { framed: createLineEncoder({ ...encOptions, syslog: true }), bare: createLineEncoder({ ...encOptions, syslog: false }) };
    assert.ok(encoder.framed && encoder.bare, `${format} has a one-pass encoder`);
    const geo = GeoMemo.of(geoDatabase());
    const annotate = (g: Parameters<GeoMemo['annotate']>[0]): void => geo.annotate(g);
    let encoded = 0;
    let encodedGenerated = 0;
    const fmt = new LineFormatter(format);
    const rng = new Rng(SEED, format === 'json' ? 1 : 2);
    const donors: Buffer[] = [];
    const gen = new TrafficGenerator({ seed: SEED, lines: LINES_PER_FORMAT, startMs: Date.UTC(2026, 10, 21, 6) });
    let buf = Buffer.allocUnsafe(64 * 1024);
    let lines = 0;
    let hostile = 0;
    let accepted = 0;
    let ahead = 0;
    let withAsn = 0;
    const reasons: Record<string, number> = {};
    for (const r of gen) {
      const need = fmt.maxLineBytes(r);
      if (buf.length < need) buf = Buffer.allocUnsafe(need);
      const msg = Buffer.from(buf.subarray(0, fmt.writeLine(r, buf, 0)));
      const line = lines++;
      let { raw, framed } = frame(line, msg, r.ts, r.node);
      if (donors.length < 2000) donors.push(raw);
      else if (line % HOSTILE_EVERY === 0) {
        raw = garbageLine(rng, donors, MAX_LINE);
        framed = raw[0] === 60; // '<': as the decoder picks for a file line
        hostile++;
      }
      const receivedAt = r.ts + (line % AHEAD_EVERY === 1 ? -AHEAD_MS : ARRIVAL_MS);
      const enc: EncodedLine | undefined = (framed ? encoder.framed : encoder.bare)(raw, receivedAt, annotate);
      const a: LineResult = (framed ? shipped.framed : shipped.bare)(raw, receivedAt);
      const b: LineResult = (framed ? reference.framed : reference.bare)(raw, receivedAt);
      const where = (): string => `line ${line} (seed ${SEED}), base64 ${raw.subarray(0, 800).toString('base64')}`;
      if (enc !== undefined && !a.ok) assert.fail(`the one-pass encoder accepted a line the parser rejects (${a.reason}: ${a.detail}): ${where()}`);
      if (!a.ok || !b.ok) {
        assert.deepEqual(a, b, `both reject with the same reason, or both accept: ${where()}`);
        if (!a.ok) reasons[a.reason] = (reasons[a.reason] ?? 0) + 1;
        continue;
      }
      accepted++;
      if (a.record.extra.clock_ahead_ms !== undefined) {
        ahead++;
        assert.equal(a.record.ts, receivedAt, `a line ahead of its arrival takes the arrival: ${where()}`);
      }
      geo.annotate(a.record);
      geo.annotate(b.record);
      if (a.record.asn !== null && a.record.asn !== undefined) withAsn++;
      const bytes = accessRecordCodec.encode(a.record);
      const refBody = accessRecordCodec.type.toBuffer(b.record);
      const decoded = accessRecordCodec.decode(bytes);
      const diff = firstDifference(decoded, b.record);
      if (diff !== undefined) assert.fail(`decoded record differs from the reference, ${diff}: ${where()}`);
      if (!bytes.subarray(5).equals(refBody)) {
        assert.fail(`Avro bytes differ from avsc's (${bytes.length - 5} vs ${refBody.length}): ${where()}; reference ${show(b.record)}`);
      }
      if (enc !== undefined) {
        encoded++;
        if (line % HOSTILE_EVERY !== 0 || donors.length < 2000) encodedGenerated++;
        if (!enc.value.equals(bytes)) {
          const d: string = firstDifference(accessRecordCodec.decode(enc.value), b.record) ?? 'same fields, other bytes';
          assert.fail(`one-pass encoder differs from the parser + codec, ${d}: ${where()}; reference ${show(b.record)}`);
        }
        assert.deepEqual([enc.client_ip, enc.ts, enc.node], [a.record.client_ip, a.record.ts, a.record.node], `key, time and node: ${where()}`);
      }
    }
    t.diagnostic(`${lines} lines (${hostile} hostile): ${accepted} records, ${withAsn} with an AS; rejected ${JSON.stringify(reasons)}; ` +
      `${ahead} ahead of their arrival; one-pass encoder answered ${encoded} (${encodedGenerated} generated, ${encoded - encodedGenerated} hostile), the rest went to the parser`);
    // RFC 5424 framing (a quarter of the lines) always goes to the parser; most of the rest must not.
    assert.ok(encodedGenerated > (lines - hostile) * 0.6, `the one-pass encoder answered ${encodedGenerated} of ${lines - hostile} generated lines`);
    assert.equal(lines, LINES_PER_FORMAT);
    // Every generated line parses, hostile ones mostly not: both outcomes were compared.
    assert.ok(accepted >= lines - hostile, `${accepted} accepted of ${lines} (${hostile} hostile)`);
    assert.ok(Object.keys(reasons).length >= 2, `several reject reasons compared: ${JSON.stringify(reasons)}`);
    assert.ok(withAsn > lines / 2, `the geo fields were written: ${withAsn} records with an AS`);
    // Most lines of a clock ahead are generated ones (not every such line carries its own time: the header's, or none).
    assert.ok(ahead > (lines - hostile) / AHEAD_EVERY / 2, `lines ahead of their arrival compared: ${ahead}`);
  });
}
