// Syslog headers as nginx and relays write them.
//
// nginx (ngx_syslog.c) sends one UDP datagram per line, RFC 3164 style:
//   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG        (HOSTNAME absent with `nohostname`)
// relays such as rsyslog may forward RFC 5424:
//   <PRI>1 2026-11-21T06:00:44.123Z HOST APP PROCID MSGID [SD...] MSG
// Parsing is by hand, not by regular expression: this runs for every request
// of the fleet.

export interface SyslogHeader {
  facility: number;
  severity: number;
  /** Epoch ms from the header when it carries one (RFC 3164 has no year nor zone: see below). */
  timestamp: number | undefined;
  hostname: string;
  tag: string;
}

export type SyslogParse = { ok: true; header: SyslogHeader; message: string } | { ok: false; detail: string };

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

export function parseSyslog(line: string, now: number = Date.now()): SyslogParse {
  if (line.charCodeAt(0) !== 60 /* < */) return { ok: false, detail: 'no <PRI>' };
  let i = 1;
  let pri = 0;
  while (i < line.length && i <= 4 && isDigit(line.charCodeAt(i))) pri = pri * 10 + (line.charCodeAt(i++) - 48);
  if (i === 1 || line.charCodeAt(i) !== 62 /* > */ || pri > 191) return { ok: false, detail: 'bad <PRI>' };
  i++;
  const facility = pri >> 3;
  const severity = pri & 7;
  if (line.charCodeAt(i) === 49 /* 1 */ && line.charCodeAt(i + 1) === 32) return parse5424(line, i + 2, facility, severity);
  return parse3164(line, i, facility, severity, now);
}

/** Two digits at i ("06"), a space-padded day (" 1") when `padded`; -1 otherwise. */
function two(line: string, i: number, padded = false): number {
  const a = line.charCodeAt(i);
  const b = line.charCodeAt(i + 1) - 48;
  if (b < 0 || b > 9) return -1;
  if (padded && a === 32) return b;
  return isDigit(a) ? (a - 48) * 10 + b : -1;
}

// The stamp of consecutive lines is nearly always the same second: its epoch
// ms is kept, as long as `now` (which picks the year) has not moved far.
let lastStamp = '';
let lastStampMs = 0;
let lastStampNow = 0;

function parse3164(line: string, start: number, facility: number, severity: number, now: number): SyslogParse {
  // "Mmm dd hh:mm:ss " — the day is space-padded ("Nov  1").
  let ts: number;
  if (lastStamp !== '' && line.startsWith(lastStamp, start) && Math.abs(now - lastStampNow) < 3_600_000) {
    ts = lastStampMs;
  } else {
    const month = MONTHS[line.slice(start, start + 3)];
    if (month === undefined || line.charCodeAt(start + 3) !== 32 || line.charCodeAt(start + 15) !== 32) {
      return { ok: false, detail: 'bad RFC 3164 timestamp' };
    }
    const day = two(line, start + 4, true);
    const hh = two(line, start + 7);
    const mm = two(line, start + 10);
    const ss = two(line, start + 13);
    if (!(day >= 1 && day <= 31 && hh >= 0 && hh <= 23 && mm >= 0 && mm <= 59 && ss >= 0 && ss <= 60) || line[start + 9] !== ':' || line[start + 12] !== ':') {
      return { ok: false, detail: 'bad RFC 3164 timestamp' };
    }
    // No year and no zone: the sender's local time, assumed to be ours; the year is
    // the one that puts the stamp nearest to now (a line from Dec 31 read on Jan 1).
    const year = new Date(now).getFullYear();
    ts = new Date(year, month, day, hh, mm, ss).getTime();
    if (ts - now > 183 * 86_400_000) ts = new Date(year - 1, month, day, hh, mm, ss).getTime();
    else if (now - ts > 183 * 86_400_000) ts = new Date(year + 1, month, day, hh, mm, ss).getTime();
    lastStamp = line.slice(start, start + 16);
    lastStampMs = ts;
    lastStampNow = now;
  }

  let i = start + 16;
  const t1End = line.indexOf(' ', i);
  if (t1End < 0) return { ok: false, detail: 'no tag' };
  if (line.charCodeAt(t1End - 1) === 58 /* : */ && t1End > i) {
    return { ok: true, header: { facility, severity, timestamp: ts, hostname: '', tag: stripPid(line.slice(i, t1End - 1)) }, message: line.slice(t1End + 1) };
  }
  const t1 = line.slice(i, t1End);
  i = t1End + 1;
  const t2End = line.indexOf(' ', i);
  if (t2End > i && line.charCodeAt(t2End - 1) === 58) {
    return { ok: true, header: { facility, severity, timestamp: ts, hostname: t1, tag: stripPid(line.slice(i, t2End - 1)) }, message: line.slice(t2End + 1) };
  }
  return { ok: false, detail: 'no "TAG:" after the timestamp' };
}

function stripPid(tag: string): string {
  const b = tag.indexOf('[');
  return b < 0 ? tag : tag.slice(0, b);
}

function parse5424(line: string, start: number, facility: number, severity: number): SyslogParse {
  const fields: string[] = [];
  let i = start;
  for (let f = 0; f < 5; f++) {
    const end = line.indexOf(' ', i);
    if (end < 0) return { ok: false, detail: 'truncated RFC 5424 header' };
    fields.push(line.slice(i, end));
    i = end + 1;
  }
  const [stamp = '-', host = '-', app = '-'] = fields;
  let timestamp: number | undefined;
  if (stamp !== '-') {
    timestamp = Date.parse(stamp);
    if (Number.isNaN(timestamp)) return { ok: false, detail: 'bad RFC 5424 timestamp' };
  }
  // STRUCTURED-DATA: "-" or one or more [id k="v" ...] elements, where "]" may be escaped inside values.
  if (line[i] === '-') {
    i += 1;
  } else if (line[i] === '[') {
    let inQuotes = false;
    while (i < line.length) {
      const c = line[i];
      if (c === '\\') i += 2;
      else {
        if (c === '"') inQuotes = !inQuotes;
        else if (c === ']' && !inQuotes && line[i + 1] !== '[') {
          i++;
          break;
        }
        i++;
      }
    }
  } else {
    return { ok: false, detail: 'bad RFC 5424 structured data' };
  }
  let message = line[i] === ' ' ? line.slice(i + 1) : line.slice(i);
  if (message.charCodeAt(0) === 0xfeff) message = message.slice(1);
  return {
    ok: true,
    header: { facility, severity, timestamp, hostname: host === '-' ? '' : host, tag: app === '-' ? '' : app },
    message,
  };
}

/**
 * A line of a file a relay wrote, without the <PRI> a datagram carries:
 * rsyslog's traditional file format ("Dec  6 09:00:00 HOST TAG: MSG") or its
 * high-precision one and syslog-ng's ISO form ("2026-12-06T09:00:00.123+00:00 HOST TAG: MSG").
 * Facility and severity are unknown (user.notice is assumed).
 */
export function parseSyslogFileLine(line: string, now: number = Date.now()): SyslogParse {
  const c = line.charCodeAt(0);
  if (c === 60 /* < */) return parseSyslog(line, now);
  if (c >= 48 && c <= 57) return parseIsoPrefixed(line);
  return parse3164(line, 0, 1, 5, now);
}

function parseIsoPrefixed(line: string): SyslogParse {
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp2 < 0) return { ok: false, detail: 'truncated ISO syslog prefix' };
  const timestamp = Date.parse(line.slice(0, sp1));
  if (Number.isNaN(timestamp)) return { ok: false, detail: 'bad ISO syslog timestamp' };
  const colon = line.indexOf(': ', sp2 + 1);
  if (colon < 0) return { ok: false, detail: 'no "TAG: " after the hostname' };
  return { ok: true, header: { facility: 1, severity: 5, timestamp, hostname: line.slice(sp1 + 1, sp2), tag: stripPid(line.slice(sp2 + 1, colon)) }, message: line.slice(colon + 2) };
}
