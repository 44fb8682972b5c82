// Request path normalisation: the path detectors count unique paths on and
// match signatures against.
//
// Percent-encoding is how a scanner hides `../` from naive matching:
// `%2e%2e%2f`, `..%2f`, double encoding (`%252e%252e%252f`, which a second
// decode in a backend turns into `../`), overlong UTF-8 (`%c0%ae` is a
// forbidden two-byte spelling of `.`) and IIS `%u002e`. Here each of those
// decodes to the character it spells, *before* `.`/`..` segments are
// resolved, so the hidden traversal is both removed from the path (`/a/./b`
// and `/a/b` are one path) and reported (`traversal`), with the other tricks
// flagged so detectors see the attempt and not just its normalised result.
//
// Only characters that need no encoding are decoded (RFC 3986 unreserved,
// plus `/` and `\`): decoding `%3F` or `%23` would change what the path
// means, and `%00` must stay visible. The remaining escapes get upper-case
// hex so `%3a` and `%3A` are one path. Decoding happens at most twice: a
// third layer (`%25252e`) stays as it is, flagged as double encoding.
//
// Most paths contain none of `%`, `\`, `//`, `/.`: they leave through the
// first loop untouched and without allocation.

export interface NormalizedUri {
  /** The normalised path; "" only when the URI was empty (no request line). */
  path: string;
  /** Query string without the '?', verbatim. */
  query: string;
  /** The path as logged, when normalisation changed it. */
  pathRaw: string | undefined;
  /** A `..` segment was present (literal or encoded; also `..\` and `..;`), whether it could climb or not. */
  traversal: boolean;
  /** Percent-escapes of characters that need none were decoded. */
  encoded: boolean;
  /** `%25` followed by an escape: the path was encoded twice (decoded a second time when that spells an unreserved character, `/` or `\`). */
  doubleEncoded: boolean;
  /** Overlong UTF-8 (`%c0%ae`) or `%uXXXX` spelling of an ASCII character. */
  overlong: boolean;
}

const PERCENT = 37;
const DOT = 46;
const SLASH = 47;
const BACKSLASH = 92;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** Byte of the escape `%XY` at i, or -1. */
function escapeAt(s: string, i: number): number {
  if (i < 0 || i + 2 >= s.length || s.charCodeAt(i) !== PERCENT) return -1;
  const h = hexVal(s.charCodeAt(i + 1));
  const l = hexVal(s.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

/** Value of the IIS escape `%uXXXX` at i, or -1. */
function uEscapeAt(s: string, i: number): number {
  if (i + 5 >= s.length || (s.charCodeAt(i + 1) | 0x20) !== 117 /* u */) return -1;
  let v = 0;
  for (let k = 2; k < 6; k++) {
    const h = hexVal(s.charCodeAt(i + k));
    if (h < 0) return -1;
    v = (v << 4) | h;
  }
  return v;
}

/** Characters decoded from an escape: unreserved (ALPHA DIGIT - . _ ~), `/` and `\`. */
function decodable(b: number): boolean {
  return (
    (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b === 45 || b === 46 || b === 95 || b === 126 || b === SLASH || b === BACKSLASH
  );
}

const HEX = '0123456789ABCDEF';

interface DecodeState {
  encoded: boolean;
  overlong: boolean;
}

/** One decoding pass over `s` (see the header for what is decoded). */
function decodeOnce(s: string, st: DecodeState): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('%'); i >= 0 && i < s.length; i = s.indexOf('%', i)) {
    const b = escapeAt(s, i);
    if (b < 0) {
      // %uXXXX (IIS): only ASCII targets matter here.
      const v = uEscapeAt(s, i);
      if (v >= 0 && v < 0x80 && decodable(v)) {
        out += s.slice(last, i) + String.fromCharCode(v);
        last = i + 6;
        i += 6;
        st.overlong = true;
        continue;
      }
      i++;
      continue;
    }
    if (decodable(b)) {
      out += s.slice(last, i) + String.fromCharCode(b);
      last = i + 3;
      i += 3;
      st.encoded = true;
      continue;
    }
    // Overlong UTF-8: C0/C1 lead + one continuation, or E0 + 80..9F + continuation, spelling an ASCII character.
    if (b === 0xc0 || b === 0xc1) {
      const c1 = escapeAt(s, i + 3);
      if (c1 >= 0x80 && c1 <= 0xbf) {
        const cp = ((b & 0x1f) << 6) | (c1 & 0x3f);
        if (decodable(cp)) {
          out += s.slice(last, i) + String.fromCharCode(cp);
          last = i + 6;
          i += 6;
          st.overlong = true;
          continue;
        }
      }
    } else if (b === 0xe0) {
      const c1 = escapeAt(s, i + 3);
      const c2 = escapeAt(s, i + 6);
      if (c1 >= 0x80 && c1 <= 0x9f && c2 >= 0x80 && c2 <= 0xbf) {
        const cp = ((c1 & 0x3f) << 6) | (c2 & 0x3f);
        if (cp < 0x80 && decodable(cp)) {
          out += s.slice(last, i) + String.fromCharCode(cp);
          last = i + 9;
          i += 9;
          st.overlong = true;
          continue;
        }
      }
    }
    // Kept encoded, with upper-case hex.
    const hi = s.charCodeAt(i + 1);
    const lo = s.charCodeAt(i + 2);
    if ((hi >= 97 && hi <= 102) || (lo >= 97 && lo <= 102)) {
      out += s.slice(last, i) + '%' + HEX[b >> 4] + HEX[b & 15];
      last = i + 3;
    }
    i += 3;
  }
  return last === 0 ? s : out + s.slice(last);
}

/** Second pass: `%25XY` where XY is itself a decodable escape (`%252e` → `.`). */
function decodeDouble(s: string): { s: string; found: boolean } {
  let found = false;
  let out = '';
  let last = 0;
  for (let i = s.indexOf('%25'); i >= 0; i = s.indexOf('%25', i)) {
    if (i + 4 >= s.length || hexVal(s.charCodeAt(i + 3)) < 0 || hexVal(s.charCodeAt(i + 4)) < 0) {
      i += 3;
      continue;
    }
    found = true;
    // Rebuild the inner escape and decode it with the same rules (overlong included).
    const inner = decodeOnce(`%${s.slice(i + 3, i + 5)}`, { encoded: false, overlong: false });
    if (inner.length === 1) {
      out += s.slice(last, i) + inner;
      last = i + 5;
    }
    i += 5;
  }
  return { s: last === 0 ? s : out + s.slice(last), found };
}

function isTraversalSegment(seg: string): boolean {
  if (seg === '..') return true;
  // Not resolved by nginx on Unix, but climbs on Windows backends (`..\`) and Java ones (`..;/`).
  return seg.includes('..') && (seg.startsWith('..\\') || seg.endsWith('\\..') || seg.includes('\\..\\') || seg.startsWith('..;'));
}

/** Splits a request URI into normalised path and query (see the header). */
export function normalizePath(uri: string): NormalizedUri {
  return normalizePathInto(uri, { path: '', query: '', pathRaw: undefined, traversal: false, encoded: false, doubleEncoded: false, overlong: false });
}

/** `normalizePath` writing into `result` (every field), for a caller that reads it at once. */
export function normalizePathInto(uri: string, result: NormalizedUri): NormalizedUri {
  const q = uri.indexOf('?');
  const raw = q < 0 ? uri : uri.slice(0, q);
  result.path = raw;
  result.query = q < 0 ? '' : uri.slice(q + 1);
  result.pathRaw = undefined;
  result.traversal = false;
  result.encoded = false;
  result.doubleEncoded = false;
  result.overlong = false;
  if (raw === '') {
    result.path = uri === '' ? '' : '/';
    return result;
  }
  let slow = raw.charCodeAt(0) === DOT;
  for (let i = 0; i < raw.length && !slow; i++) {
    const c = raw.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH) slow = true;
    else if (c === SLASH) {
      const n = raw.charCodeAt(i + 1);
      slow = n === SLASH || n === DOT;
    }
  }
  if (!slow) return result;

  // Absolute-form request targets ("GET http://host/x"): normalise only the path after the authority.
  let prefix = '';
  let s = raw;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]{0,15}:\/\/[^/]*/.exec(raw);
  if (scheme) {
    prefix = scheme[0];
    s = raw.slice(prefix.length);
  }

  const st: DecodeState = { encoded: false, overlong: false };
  if (s.includes('%')) {
    s = decodeOnce(s, st);
    if (s.includes('%25')) {
      const d = decodeDouble(s);
      s = d.s;
      result.doubleEncoded = d.found;
    }
  }
  result.encoded = st.encoded;
  result.overlong = st.overlong;

  // Collapse `//`, resolve `.` and `..` (RFC 3986 remove_dot_segments; `..` never climbs above the root).
  const segs = s.split('/');
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      result.traversal = true;
      out.pop();
      continue;
    }
    if (!result.traversal && isTraversalSegment(seg)) result.traversal = true;
    out.push(seg);
  }
  const lastSeg = segs[segs.length - 1];
  const trailing = out.length > 0 && (lastSeg === '' || lastSeg === '.' || lastSeg === '..');
  const path = prefix + '/' + out.join('/') + (trailing ? '/' : '');
  result.path = path;
  if (path !== raw) result.pathRaw = raw;
  return result;
}
