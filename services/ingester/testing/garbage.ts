// Hostile input for the ingester's tests: random bytes and real lines mutated
// the ways broken relays, truncating transports and attackers mutate them.
// Deterministic for a given Rng, so a failing seed replays the same inputs.
import type { Rng } from '../../../loadtest/generator/prng.js';

/** Byte sequences that are not UTF-8: a lone lead, a lone continuation, an overlong '/', a UTF-16 surrogate, bytes never used. */
const INVALID_UTF8: readonly Buffer[] = [[0xc3], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xfe, 0xfe], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]].map((b) => Buffer.from(b));

/** Text that means something to one of the parsers on the way (syslog header, JSON, nginx escaping, the path normaliser). */
const TOKENS: readonly string[] = [
  '"', '\\', '\\"', '\\\\', '\\x', '\\x2', '\\xZZ', '\\xC3\\xA9', '\\u', '\\u00', '\\ud800', '\\udc00', '\u0000', ' ', '  ', '\t', '\r', '\n',
  '[', ']', '{', '}', ',', ':', '-', '$', '<', '>', '<190>', '<999>', '1 ', '%', '%2e%2e/', '%25', '%c0%af', '..', '/../', '\uFFFD', '日本',
  '\uD800', '1e999', '-1', '99999999999999999999', 'NaN', '"__proto__":', '"constructor":"x",', 'null', 'true', '[]', '{}', '::', '::ffff:',
  '0.0.0.0', '255.255.255.256', '[::1]', 'Nov 21 06:00:44 ', '2026-11-21T06:00:44Z', '21/Nov/2026:06:00:44 +0000', 'HTTP/1.1', 'GET ',
];

/** Sequences repeated many times: backtracking and escape decoding must stay linear on them. */
const REPEATABLE: readonly string[] = ['\\', '\\x', '\\xC3', '\\u00e9', '\\"', '"', '" "', '%', '%25', '../', '[', '{"a":', '\\\\x', ' - ', '"a" '];

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng.u32() & 0xff;
  return b;
}

const at = (rng: Rng, b: Buffer): number => rng.int(0, b.length);
const join = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** One mutation of `b`; `donors` are other real lines to splice from; `maxLineBytes` sizes the huge ones. */
function mutateOnce(rng: Rng, b: Buffer, donors: readonly Buffer[], maxLineBytes: number): Buffer {
  const i = at(rng, b);
  switch (rng.int(0, 11)) {
    case 0: {
      // bit flips
      const out = Buffer.from(b);
      for (let k = rng.int(1, 4); k > 0 && out.length > 0; k--) {
        const j = rng.int(0, out.length - 1);
        out[j] = (out[j] as number) ^ (1 << rng.int(0, 7));
      }
      return out;
    }
    case 1:
      return b.subarray(0, i); // truncation
    case 2: {
      // a splice: part of another line inserted or put in place of the rest
      const d = rng.pick(donors);
      const j = rng.int(0, d.length);
      const piece = d.subarray(j, j + rng.int(1, 200));
      return rng.chance(0.5) ? join(b.subarray(0, i), piece, b.subarray(i)) : join(b.subarray(0, i), d.subarray(j));
    }
    case 3:
      return join(b.subarray(0, i), b.subarray(Math.min(b.length, i + rng.int(1, 12)))); // a few bytes removed
    case 4:
      return join(b.subarray(0, i), Buffer.from(rng.pick(TOKENS)), b.subarray(i));
    case 5: {
      // every quote, brace or bracket removed or doubled
      const c = rng.pick(['"', '{', '}', '[', ']', '\\']);
      const s = b.toString('latin1');
      return Buffer.from(s.split(c).join(rng.chance(0.5) ? '' : c + c), 'latin1');
    }
    case 6:
      return join(b.subarray(0, i), Buffer.from(rng.pick(REPEATABLE).repeat(rng.int(50, 4000))), b.subarray(i));
    case 7:
      return join(b.subarray(0, i), rng.pick(INVALID_UTF8), b.subarray(i));
    case 8:
      return join(b.subarray(0, i), Buffer.alloc(rng.int(1, 8)), b.subarray(i)); // NULs
    case 9: {
      // huge: past ingest.max_line_bytes, by a little or by a lot
      const extra = rng.chance(0.5) ? rng.int(1, 64) : rng.int(maxLineBytes, 3 * maxLineBytes);
      return join(b.subarray(0, i), Buffer.alloc(extra, rng.pick(['a', ' ', '"', '\\', '日'])), b.subarray(i));
    }
    case 10:
      return join(b.subarray(0, i), randomBytes(rng, rng.int(1, 32)), b.subarray(i));
    default:
      // a line ending inside the line, or CR/LF where they should not be
      return join(b.subarray(0, i), Buffer.from(rng.pick(['\n', '\r\n', '\r', '\n\n'])), b.subarray(i));
  }
}

export function mutate(rng: Rng, line: Buffer, donors: readonly Buffer[], maxLineBytes: number): Buffer {
  let b = line;
  for (let k = rng.int(1, 4); k > 0; k--) b = mutateOnce(rng, b, donors, maxLineBytes);
  return b;
}

/** A garbage line: random bytes (sometimes huge), or a real line mutated. */
export function garbageLine(rng: Rng, real: readonly Buffer[], maxLineBytes: number): Buffer {
  const r = rng.float();
  if (r < 0.15) return randomBytes(rng, rng.int(0, 600));
  if (r < 0.18) return randomBytes(rng, rng.int(maxLineBytes, 2 * maxLineBytes));
  return mutate(rng, rng.pick(real), real, maxLineBytes);
}
