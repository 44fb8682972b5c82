// nginx's time variables as epoch milliseconds. Parsed by hand with a
// one-entry cache: consecutive lines nearly always carry the same second.

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function utc(y: number, mo: number, d: number, hh: number, mm: number, ss: number, offsetMin: number): number | undefined {
  if (y < 1970 || mo < 0 || mo > 11 || d < 1 || d > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return undefined;
  const t = Date.UTC(y, mo, d, hh, mm, ss);
  // Date.UTC rolls "31/Feb" over into March: refuse instead.
  if (new Date(t).getUTCDate() !== d) return undefined;
  return t - offsetMin * 60_000;
}

function offset(s: string, at: number, colon: boolean): number | undefined {
  const sign = s[at] === '+' ? 1 : s[at] === '-' ? -1 : 0;
  const h = digits(s, at + 1, 2);
  const m = digits(s, at + (colon ? 4 : 3), 2);
  if (sign === 0 || h < 0 || m < 0 || h > 23 || m > 59 || (colon && s[at + 3] !== ':')) return undefined;
  return sign * (h * 60 + m);
}

let lastLocal = '';
let lastLocalMs: number | undefined;
/** "21/Nov/2026:06:00:" and " +0000" of the last good stamp, and the epoch ms of its minute. */
let lastMinute = '';
let lastZone = '';
let lastMinuteMs = 0;

/** $time_local: "21/Nov/2026:06:00:44 +0000". */
export function parseTimeLocal(s: string): number | undefined {
  if (s === lastLocal) return lastLocalMs;
  let ms: number | undefined;
  if (s.length === 26 && s[2] === '/' && s[6] === '/' && s[11] === ':' && s[14] === ':' && s[17] === ':' && s[20] === ' ') {
    const sec = digits(s, 18, 2);
    if (lastMinute !== '' && s.startsWith(lastMinute) && s.endsWith(lastZone)) {
      if (sec >= 0 && sec <= 60) ms = lastMinuteMs + sec * 1000;
    } else {
      const mo = MONTHS[s.slice(3, 6)];
      const off = offset(s, 21, false);
      if (mo !== undefined && off !== undefined) {
        const minute = utc(digits(s, 7, 4), mo, digits(s, 0, 2), digits(s, 12, 2), digits(s, 15, 2), 0, off);
        if (minute !== undefined && sec >= 0 && sec <= 60) {
          ms = minute + sec * 1000;
          lastMinute = s.slice(0, 18);
          lastZone = s.slice(20);
          lastMinuteMs = minute;
        }
      }
    }
  }
  lastLocal = s;
  lastLocalMs = ms;
  return ms;
}

let lastIso = '';
let lastIsoMs: number | undefined;

/** $time_iso8601: "2026-11-21T06:00:44+00:00" (also accepts "Z" and fractional seconds, as relays rewrite it). */
export function parseTimeIso8601(s: string): number | undefined {
  if (s === lastIso) return lastIsoMs;
  let ms: number | undefined;
  if (s.length === 25 && s[4] === '-' && s[7] === '-' && s[10] === 'T' && s[13] === ':' && s[16] === ':') {
    const off = offset(s, 19, true);
    if (off !== undefined) ms = utc(digits(s, 0, 4), digits(s, 5, 2) - 1, digits(s, 8, 2), digits(s, 11, 2), digits(s, 14, 2), digits(s, 17, 2), off);
  } else if (s.length >= 20 && s.length <= 35 && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(s)) {
    const t = Date.parse(s);
    ms = Number.isFinite(t) && t >= 0 ? t : undefined;
  }
  lastIso = s;
  lastIsoMs = ms;
  return ms;
}
