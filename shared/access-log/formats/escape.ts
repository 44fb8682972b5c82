// Undoing nginx's log escaping in a field value.
//
// escape=default (also `combined`): `"` → \x22, `\` → \x5C, every byte below
//   0x20 or from 0x7F up → \xHH. UTF-8 text therefore arrives as \xC3\xA9:
//   the escapes are turned back into bytes and the bytes decoded as UTF-8,
//   invalid sequences becoming U+FFFD (kept, never a reason to reject).
// escape=json: `"` → \", `\` → \\, control bytes → \n \r \t \b \f or \u00XX;
//   bytes from 0x80 pass raw (already decoded with the line).
// escape=none: nothing to undo.
//
// Callers test for a backslash first: most values have none.

export type Escape = 'default' | 'json' | 'none';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

let scratch = Buffer.allocUnsafe(4096);

/** Decodes `\xHH` escapes (escape=default). Characters that are not escapes are kept as they are. */
export function decodeDefaultEscapes(v: string): string {
  if (scratch.length < v.length * 3) scratch = Buffer.allocUnsafe(v.length * 3);
  const buf = scratch;
  let n = 0;
  let escapes = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 92 && v.charCodeAt(i + 1) === 120 /* x */) {
      const h = hexVal(v.charCodeAt(i + 2));
      const l = hexVal(v.charCodeAt(i + 3));
      if (h >= 0 && l >= 0) {
        buf[n++] = (h << 4) | l;
        i += 3;
        escapes++;
        continue;
      }
    }
    if (c < 0x80) {
      buf[n++] = c;
    } else {
      // A raw non-ASCII character (escape=none text, or a relay that re-encoded): back to its UTF-8 bytes.
      const cp = v.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      n += buf.write(String.fromCodePoint(cp), n, 'utf8');
    }
  }
  return escapes === 0 ? v : buf.toString('utf8', 0, n);
}

const JSON_SIMPLE: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Decodes JSON string escapes (escape=json). An invalid escape is kept as written. */
export function decodeJsonEscapes(v: string): string {
  let out = '';
  let last = 0;
  for (let i = v.indexOf('\\'); i >= 0; i = v.indexOf('\\', i)) {
    const e = v[i + 1];
    if (e === undefined) break;
    const simple = JSON_SIMPLE[e];
    if (simple !== undefined) {
      out += v.slice(last, i) + simple;
      i += 2;
      last = i;
      continue;
    }
    if (e === 'u' && i + 5 < v.length) {
      let cp = 0;
      let k = 2;
      for (; k < 6; k++) {
        const h = hexVal(v.charCodeAt(i + k));
        if (h < 0) break;
        cp = (cp << 4) | h;
      }
      if (k === 6) {
        // Surrogate halves are joined by string concatenation; a lone one stays (and is written as U+FFFD by the encoder).
        out += v.slice(last, i) + String.fromCharCode(cp);
        i += 6;
        last = i;
        continue;
      }
    }
    i += 2;
  }
  return last === 0 ? v : out + v.slice(last);
}

export function unescapeValue(v: string, escape: Escape): string {
  if (escape === 'none' || !v.includes('\\')) return v;
  return escape === 'json' ? decodeJsonEscapes(v) : decodeDefaultEscapes(v);
}
