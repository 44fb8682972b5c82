// Reads a feed's body into address and CIDR entries (strict forms, as
// shared/ip parses them). Two formats:
//
//   plain  one entry a line; "#" and ";" start a comment, the first word is
//          the entry. FireHOL's .netset ("1.2.3.0/24") and Spamhaus DROP
//          ("1.2.3.0/24 ; SBL123") are plain lists.
//   csv    comma-separated; the entry is in `column` (1 = first), quotes
//          around a field are dropped, "#" lines are comments, and a first
//          row whose field is not an address is a header.
//
// A line that holds something else is counted, not applied. When more than a
// tenth of the lines are such, or no entry is found, the body is refused
// whole: an error page, a changed layout or a wrong column must not lift a
// feed's blocks.
import { intervalOf, type Interval } from '../../shared/ip.js';
import { LogwardenError } from '../../shared/errors.js';
import { FEED_ERRORS } from './errors.js';

export interface ParsedFeed {
  intervals: Interval[];
  /** Lines with an entry or something that should have been one (comments and blanks excluded). */
  lines: number;
  invalid: number;
  /** The first invalid line (trimmed, at most 80 characters), for the status. */
  firstInvalid: string | undefined;
}

export const MAX_INVALID_SHARE = 0.1;

export function parseFeed(body: string, format: 'plain' | 'csv', column = 1): ParsedFeed {
  const out: ParsedFeed = { intervals: [], lines: 0, invalid: 0, firstInvalid: undefined };
  let first = true;
  for (const raw of body.split('\n')) {
    let entry: string;
    if (format === 'plain') {
      let end = raw.length;
      const hash = raw.indexOf('#');
      const semi = raw.indexOf(';');
      if (hash >= 0) end = hash;
      if (semi >= 0 && semi < end) end = semi;
      const text = raw.slice(0, end).trim();
      if (text === '') continue;
      entry = text.split(/\s/, 1)[0] as string;
    } else {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      entry = (line.split(',')[column - 1] ?? '').trim().replace(/^"(.*)"$/, '$1').trim();
    }
    const iv = intervalOf(entry);
    const header = first && format === 'csv';
    first = false;
    if (iv) {
      out.intervals.push(iv);
      out.lines++;
    } else if (!header) {
      out.lines++;
      out.invalid++;
      out.firstInvalid ??= raw.trim().slice(0, 80);
    }
  }
  if (out.intervals.length === 0) {
    throw new LogwardenError(FEED_ERRORS.LW_FEED_PARSE_FAILED, out.lines === 0 ? 'no entries' : `no address or CIDR in ${out.lines} lines (first: ${JSON.stringify(out.firstInvalid)})`);
  }
  if (out.invalid > out.lines * MAX_INVALID_SHARE) {
    throw new LogwardenError(FEED_ERRORS.LW_FEED_PARSE_FAILED, `${out.invalid} of ${out.lines} lines are not an address or CIDR (first: ${JSON.stringify(out.firstInvalid)})`);
  }
  return out;
}
