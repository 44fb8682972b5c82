// Fuzzing the ingester's decode path: the syslog header parser, both log
// formats the project ships (`json`, `combined`), the LineDecoder and the
// IngestPipeline, on random bytes and on real lines mutated (bit flips,
// truncation, splices, quotes and braces removed or doubled, huge lines, NUL,
// invalid UTF-8, long runs of escapes).
//
// Properties: nothing throws out of the public API; every line either makes a
// record the Avro codec encodes, or is rejected with a reason and reaches the
// dead-letter topic; accepted + rejected == offered. The run is bounded by its
// input count (a few seconds here), not by a timer.
//
// The seed changes every run, so that runs add up to more inputs; it is printed,
// and every failure message carries it. Replay with LOGWARDEN_FUZZ_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessRecordCodec } from '../../shared/avro/codec.js';
import { MemoryBus } from '../../shared/bus/memory.js';
import { loadConfig } from '../../shared/config/load.js';
import { normalizeIp } from '../../shared/ip.js';
import { topicNames } from '../../shared/topics.js';
import { LineFormatter, syslogTime } from '../../loadtest/generator/format.js';
import { Rng } from '../../loadtest/generator/prng.js';
import { generateTraffic } from '../../loadtest/generator/traffic.js';
import type { RejectReason } from '../../shared/access-log/record.js';
import { LineDecoder, type Source } from '../../shared/access-log/decode.js';
import { IngestPipeline } from './pipeline.js';
import { parseSyslog } from '../../shared/access-log/syslog.js';
import { garbageLine } from './testing/garbage.js';

const SEED = Number(process.env.LOGWARDEN_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RECEIVED_AT = Date.UTC(2026, 10, 21, 6, 5);
const MAX_LINE = 2048;
const REASONS: ReadonlySet<RejectReason> = new Set(['bad_syslog_header', 'bad_format', 'bad_ip', 'too_long', 'invalid_utf8', 'empty']);
const SOURCES: readonly Source[] = ['udp', 'tcp', 'file'];

/** What a failure message shows of an input: enough to rebuild it by hand too. */
const show = (b: Buffer): string => `seed ${SEED}; input (${b.length} bytes, base64) ${b.subarray(0, 600).toString('base64')}${b.length > 600 ? '…' : ''}`;

/** Real lines of both formats, with the headers nginx and relays put on them, and without (a log file). */
function realLines(format: 'json' | 'combined', n: number): Buffer[] {
  const { events } = generateTraffic({ seed: SEED, lines: n, startMs: Date.UTC(2026, 10, 21, 6) });
  const fmt = new LineFormatter(format === 'json' ? 'json' : 'combined');
  return events.map((r, i) => {
    const msg = fmt.line(r).replace(/\n$/, '');
    switch (i % 4) {
      case 0:
        return Buffer.from(`<190>${syslogTime(r.ts)} ${r.node} nginx: ${msg}`);
      case 1:
        return Buffer.from(`<190>${syslogTime(r.ts)} nginx: ${msg}`); // nohostname
      case 2:
        return Buffer.from(`<165>1 ${new Date(r.ts).toISOString()} ${r.node} nginx - - [x@1 a="b\\]"] ${msg}\n`); // a relay's RFC 5424
      default:
        return Buffer.from(msg); // a log file line
    }
  });
}

test(`fuzz: the syslog header parser answers every input (seed ${SEED})`, (t) => {
  t.diagnostic(`seed ${SEED}`);
  const rng = new Rng(SEED, 1);
  const real = [...realLines('json', 300), ...realLines('combined', 300)];
  let ok = 0;
  for (let k = 0; k < 30_000; k++) {
    const line = garbageLine(rng, real, MAX_LINE).toString('utf8');
    let r: ReturnType<typeof parseSyslog>;
    try {
      r = parseSyslog(line, RECEIVED_AT);
    } catch (err) {
      assert.fail(`parseSyslog threw ${String(err)}; ${show(Buffer.from(line))}`);
    }
    if (r.ok) {
      ok++;
      const h = r.header;
      assert.ok(h.facility >= 0 && h.facility <= 23 && h.severity >= 0 && h.severity <= 7, `PRI out of range; ${show(Buffer.from(line))}`);
      assert.ok(h.timestamp === undefined || Number.isFinite(h.timestamp), `timestamp ${h.timestamp}; ${show(Buffer.from(line))}`);
    } else {
      assert.ok(r.detail.length > 0);
    }
  }
  assert.ok(ok > 3000 && ok < 27_000, `both outcomes exercised (seed ${SEED}): ${ok} headers accepted of 30000`);
});

for (const format of ['json', 'combined'] as const) {
  for (const oversize of ['reject', 'truncate'] as const) {
    test(`fuzz: LineDecoder, ${format} lines, oversize ${oversize}: a record that encodes or a reason (seed ${SEED})`, (t) => {
      t.diagnostic(`seed ${SEED}`);
      const config = loadConfig({ text: `ingest: { log_format: ${format}, max_line_bytes: ${MAX_LINE}, oversize_lines: ${oversize} }`, env: {} });
      const decoder = new LineDecoder(config);
      const rng = new Rng(SEED, format === 'json' ? 2 : 3);
      const real = realLines(format, 600);
      // The real lines themselves first: a fuzz run on a parser that rejects everything would prove nothing.
      for (const line of real) {
        const r = decoder.decode(line, 'file', RECEIVED_AT);
        assert.ok(r.ok, `a real line is rejected (${r.ok ? '' : `${r.reason}: ${r.detail}`}); ${show(line)}`);
      }
      const reasons: Record<string, number> = {};
      let accepted = 0;
      const N = 25_000;
      for (let k = 0; k < N; k++) {
        const raw = garbageLine(rng, real, MAX_LINE);
        const source = rng.pick(SOURCES);
        let r: ReturnType<LineDecoder['decode']>;
        try {
          r = decoder.decode(raw, source, RECEIVED_AT);
        } catch (err) {
          assert.fail(`decode threw ${String(err)}; source ${source}; ${show(raw)}`);
        }
        if (r.ok) {
          accepted++;
          const rec = r.record;
          try {
            accessRecordCodec.encode(rec);
          } catch (err) {
            assert.fail(`the record does not encode: ${String(err)}; ${show(raw)}`);
          }
          assert.equal(normalizeIp(rec.client_ip), rec.client_ip, `client_ip is a normalised address; ${show(raw)}`);
          assert.ok(rec.status >= 0 && rec.status <= 999, `status ${rec.status}; ${show(raw)}`);
          assert.ok(rec.upstream_time === null || Number.isFinite(rec.upstream_time), `upstream_time ${rec.upstream_time}; ${show(raw)}`);
          assert.ok(Number.isFinite(rec.request_time), `request_time ${rec.request_time}; ${show(raw)}`);
        } else {
          reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
          assert.ok(REASONS.has(r.reason), `unknown reason ${r.reason}; ${show(raw)}`);
          // The parsers' safety net answered: a bug the fuzz found, even though nothing crashed.
          assert.ok(!r.detail.startsWith('parser error'), `${r.detail}; ${show(raw)}`);
          if (oversize === 'truncate') assert.notEqual(r.reason, 'too_long', `truncate mode keeps long lines; ${show(raw)}`);
        }
      }
      t.diagnostic(`accepted ${accepted} of ${N}; rejected ${JSON.stringify(reasons)}`);
      assert.ok(accepted > N / 20 && accepted < N - N / 20, `both outcomes exercised (seed ${SEED}): accepted ${accepted} of ${N}`);
      for (const reason of ['bad_syslog_header', 'bad_format', 'empty', ...(oversize === 'reject' ? ['too_long'] : [])]) {
        assert.ok((reasons[reason] ?? 0) > 0, `reason ${reason} exercised (seed ${SEED}): ${JSON.stringify(reasons)}`);
      }
    });
  }
}

test(`fuzz: IngestPipeline publishes or dead-letters every line, none lost (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const bus = new MemoryBus();
  try {
    for (const format of ['json', 'combined'] as const) {
      const topics = topicNames(`fuzz-${format}.`);
      await bus.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 })));
      const config = loadConfig({ text: `ingest: { log_format: ${format}, max_line_bytes: ${MAX_LINE} }\nkafka: { linger: 1ms }`, env: {} });
      const pipeline = new IngestPipeline(config, bus, topics);
      const rng = new Rng(SEED, format === 'json' ? 4 : 5);
      const real = realLines(format, 400);
      const N = 15_000;
      let realOffered = 0;
      for (let k = 0; k < N; k++) {
        const isReal = rng.chance(0.2);
        if (isReal) realOffered++;
        const raw = isReal ? rng.pick(real) : garbageLine(rng, real, MAX_LINE);
        try {
          pipeline.offer(raw, rng.pick(SOURCES), RECEIVED_AT);
        } catch (err) {
          assert.fail(`offer threw ${String(err)}; ${show(raw)}`);
        }
      }
      await pipeline.close();
      const s = pipeline.stats;
      const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
      assert.equal(s.received, N, `seed ${SEED}`);
      assert.deepEqual(s.dropped, {}, `nothing dropped under the memory bound (seed ${SEED})`);
      assert.equal(s.parsed + rejected, N, `accepted + rejected == offered (seed ${SEED}): ${JSON.stringify(s)}`);
      assert.ok(s.parsed >= realOffered, `at least the real lines were accepted (seed ${SEED}): ${s.parsed} < ${realOffered}`);
      assert.equal(s.sent, s.parsed, `seed ${SEED}`);
      const messages = async (topic: string) => {
        const out = [];
        for (const p of await bus.endOffsets(topic)) out.push(...bus.partition(topic, p.partition).messages);
        return out;
      };
      const access = await messages(topics.access);
      const dead = await messages(topics.deadLetter);
      assert.equal(access.length, s.parsed, `every accepted line is on the access topic (seed ${SEED})`);
      assert.equal(dead.length, rejected, `every rejected line is on the dead-letter topic (seed ${SEED})`);
      for (const m of access) accessRecordCodec.decode(m.value);
      const byReason: Record<string, number> = {};
      for (const m of dead) {
        const reason = String(m.headers.reason);
        byReason[reason] = (byReason[reason] ?? 0) + 1;
        assert.ok(m.value.length <= 8192, 'a dead letter keeps at most 8 KiB of its line');
        assert.ok(!String(m.headers.detail).startsWith('cannot encode'), `a parsed line did not encode (seed ${SEED}): ${String(m.headers.detail)}`);
      }
      assert.deepEqual(byReason, s.rejected, `dead letters carry the counted reasons (seed ${SEED})`);
      t.diagnostic(`${format}: ${s.parsed} published, ${rejected} dead-lettered ${JSON.stringify(s.rejected)}`);
    }
  } finally {
    await bus.close();
  }
});
