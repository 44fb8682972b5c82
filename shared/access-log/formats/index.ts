// Access-log formats: the entry point of parsing.
//
//   const parse = createLineParser(config.ingest.log_format, ctx);   // once
//   const result = parse(message, syslogHeader, receivedAt);          // per line
//
// `format` is the config value `ingest.log_format`:
//   "json"      the shipped JSON log_format (lua/conf/logwarden-http.conf). The
//               shipped layout goes through a compiled scanner; any other JSON
//               object (keys reordered or added, numbers unquoted) falls back
//               to JSON.parse, so an operator may extend the format freely.
//   "combined"  nginx's predefined format.
//   otherwise   an nginx log_format string, optionally led by
//               `escape=default|json|none`, as one string or as nginx's
//               quoted parts. Compiled once (nginx-format.ts).
// `validateLogFormat` says why a value cannot be compiled, for config
// validation at start. `createRawLineParser` is the whole path from a received
// datagram / TCP frame / file line (bytes) to a result, size limit and syslog
// header included. Nothing here throws on input; each rejected line has a
// reason and a detail.
import { isAscii } from 'node:buffer';
import { LogwardenError } from '../../errors.js';
import { INGEST_ERRORS } from '../errors.js';
import type { LineResult, RecordContext } from '../record.js';
import { recordFromJson } from '../record.js';
import { parseSyslog, parseSyslogFileLine, type SyslogHeader } from '../syslog.js';
import { CompiledFormat, parseFormatSetting, type FormatSpec } from './nginx-format.js';

export { CompiledFormat, parseFormatSetting, tokenize } from './nginx-format.js';

/** The `logwarden_json` log_format of lua/conf/logwarden-http.conf, parts joined (a test keeps them equal). */
export const SHIPPED_JSON_FORMAT =
  '{"ts":"$msec","node":"$hostname","deployment":"$logwarden_deployment",' +
  '"client_ip":"$remote_addr","xff":"$http_x_forwarded_for",' +
  '"method":"$request_method","host":"$host","uri":"$request_uri",' +
  '"status":"$status","bytes":"$body_bytes_sent",' +
  '"request_time":"$request_time","upstream_time":"$upstream_response_time",' +
  '"user_agent":"$http_user_agent","referer":"$http_referer",' +
  '"country":"$logwarden_country","auth_user":"$remote_user",' +
  '"request_id":"$logwarden_request_id","blocked_by":"$logwarden_blocked_by",' +
  '"filter_alert":"$security_filter_alert","logwarden_challenge":"$logwarden_challenge"}';

/** nginx's predefined `combined` (escape=default). */
export const COMBINED_FORMAT = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

export type LineParser = (message: string, header: SyslogHeader | undefined, receivedAt: number) => LineResult;

function specOf(format: string): FormatSpec | { error: string } {
  const f = format.trim();
  if (f === 'json') return { escape: 'json', template: SHIPPED_JSON_FORMAT };
  if (f === 'combined') return { escape: 'default', template: COMBINED_FORMAT };
  return parseFormatSetting(format);
}

/** Why `format` cannot be used as `ingest.log_format`, or undefined when it can. */
export function validateLogFormat(format: string): string | undefined {
  const spec = specOf(format);
  if ('error' in spec) return spec.error;
  try {
    new CompiledFormat(spec);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The shipped layout before `logwarden_challenge` was added: a node whose
 * snippet predates it still logs it, and is parsed as fast (not by the JSON
 * fallback, which costs twice as much a line).
 */
const PREVIOUS_SHIPPED_JSON_FORMAT = SHIPPED_JSON_FORMAT.replace(',"logwarden_challenge":"$logwarden_challenge"}', '}');

const EMPTY: LineResult = { ok: false, reason: 'empty', detail: 'empty message' };

/**
 * A parser for one format; throws (with validateLogFormat's message) when the
 * format cannot be compiled. The parser never throws: a bug surfacing on some
 * input is answered as bad_format with the error in the detail.
 */
export function createLineParser(format: string, ctx: RecordContext, options: { fastPath?: boolean } = {}): LineParser {
  const spec = specOf(format);
  if ('error' in spec) throw new LogwardenError(INGEST_ERRORS.LW_INGEST_LOG_FORMAT_INVALID, `log_format: ${spec.error}`);
  const compiled = new CompiledFormat(spec, options);
  const shipped = format.trim() === 'json';
  const previous = shipped ? new CompiledFormat({ escape: 'json', template: PREVIOUS_SHIPPED_JSON_FORMAT }, options) : undefined;
  const parse: LineParser = previous
    ? (message, header, receivedAt) => {
        const r = compiled.parse(message, header, ctx, receivedAt, false) ?? previous.parse(message, header, ctx, receivedAt, false);
        if (r !== undefined) return r;
        const truncated = compiled.lastTruncated;
        const j = recordFromJson(message, header, ctx, receivedAt);
        // Not JSON, but the shipped layout up to a cut: keep what the line holds.
        if (!j.ok && j.reason === 'bad_format' && truncated) return compiled.buildTruncated(message, header, ctx, receivedAt);
        return j;
      }
    : (message, header, receivedAt) =>
        compiled.parse(message, header, ctx, receivedAt, true) ?? { ok: false, reason: 'bad_format', detail: compiled.failure };
  return (message, header, receivedAt) => {
    if (message.length === 0) return EMPTY;
    try {
      return parse(message, header, receivedAt);
    } catch (err) {
      return { ok: false, reason: 'bad_format', detail: `parser error: ${(err as Error).message}` };
    }
  };
}

export interface RawLineOptions {
  /** `ingest.log_format`. */
  format: string;
  ctx: RecordContext;
  /** `ingest.max_line_bytes`: longer lines are rejected (too_long) or cut, per `oversize`. */
  maxLineBytes: number;
  oversize: 'reject' | 'truncate';
  /**
   * Lines carry a syslog header (UDP/TCP); false for log files, which nginx writes without one;
   * 'file' for files a relay wrote (a header without <PRI>: see parseSyslogFileLine).
   */
  syslog: boolean | 'file';
  /** false: without the generated fast path (tests compare both). */
  fastPath?: boolean;
}

/** Buffer's own latin1 decoder, without Buffer#toString's argument handling. */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Buffer, start: number, end: number) => string }).latin1Slice;

/**
 * The whole path from received bytes to a result: one trailing newline
 * (LF or CRLF) removed, empty and oversized lines answered, UTF-8 decoded
 * (invalid bytes become U+FFFD and are kept), syslog header parsed, message
 * parsed. A cut line is cut on a UTF-8 character boundary.
 */
export function createRawLineParser(options: RawLineOptions): (raw: Buffer, receivedAt: number) => LineResult {
  const parse = createLineParser(options.format, options.ctx, { fastPath: options.fastPath });
  const max = options.maxLineBytes;
  return (raw, receivedAt) => {
    let bytes = raw;
    const n = bytes.length;
    if (n > 0 && bytes[n - 1] === 10) bytes = bytes.subarray(0, n > 1 && bytes[n - 2] === 13 ? n - 2 : n - 1);
    if (bytes.length === 0) return { ok: false, reason: 'empty', detail: 'empty line' };
    if (bytes.length > max) {
      if (options.oversize === 'reject') return { ok: false, reason: 'too_long', detail: `${bytes.length} bytes > max_line_bytes ${max}` };
      let cut = max;
      while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
      bytes = bytes.subarray(0, cut);
    }
    const line = bytes.toString('utf8');
    if (!options.syslog) return parse(line, undefined, receivedAt);
    const s = options.syslog === 'file' ? parseSyslogFileLine(line, receivedAt) : parseSyslog(line, receivedAt);
    if (!s.ok) return { ok: false, reason: 'bad_syslog_header', detail: s.detail };
    // The message (always the line's tail) as a string of its own rather than a slice of the
    // line: the format's parser runs some forty searches and slices on it, and on a slice each
    // costs more (json lines: 8–17 % of parse on the shared machine; combined lines: no change).
    // Only for ASCII bytes, where characters and bytes line up and latin1 decodes as UTF-8 does.
    const m = s.message;
    return parse(isAscii(bytes) ? latin1Slice.call(bytes, bytes.length - m.length, bytes.length) : m, s.header, receivedAt);
  };
}
