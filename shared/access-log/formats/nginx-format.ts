// An nginx `log_format` string compiled once into a line parser.
//
// A format is literal text between variables: lit0 $v1 lit1 $v2 ... $vN litN.
// nginx ends a variable name at the first character outside [A-Za-z0-9_]
// (`${name}` delimits it explicitly), so the literal after each variable is
// known at compile time, and a line is matched left to right: each value runs
// up to the next occurrence of the literal that follows it. No regular
// expression, no per-character work in JavaScript on the common path: the
// scan is `indexOf`/`startsWith`, which V8 runs natively.
//
// Where that first occurrence is the wrong one:
// - quoted values (`"$var"`) with escape=default or escape=json cannot hold a
//   raw `"` (nginx escapes it), so the value ends at the first unescaped quote
//   and that quote must be followed by the literal, else the line is refused;
// - with escape=none a quoted value may hold a raw `"`, and an unquoted one
//   (`$remote_user`) a space: the line's last literal is anchored at the end
//   of the line, and typed variables ($status, $time_local, numbers) are
//   checked as they are matched; when a check fails the previous value is
//   extended to the next occurrence of its literal (bounded backtracking:
//   MAX_BACKTRACK steps, so a hostile line costs at most a few scans).
// A line that ends inside a value (cut by a size limit, or a file's last
// line) is kept as far as it goes, marked extra.truncated = "1".
//
// Values are then unescaped (escape.ts) and mapped onto the record
// (variables.ts, access-log.ts).
import { LogwardenError } from '../../errors.js';
import { INGEST_ERRORS } from '../errors.js';
import type { SyslogHeader } from '../syslog.js';
import { buildRecord, emptyFields, msecToMs, type LineResult, type RecordContext } from '../record.js';
import { decodeDefaultEscapes, decodeJsonEscapes, type Escape } from './escape.js';
import { generateFastPath, type FastParse } from './fast-path.js';
import { splitRequestLine } from './request-line.js';
import { parseTimeIso8601, parseTimeLocal } from './time.js';
import { Kind, Target, extraName, kindOf, resolveTargets, type Resolved } from './variables.js';

export interface FormatSpec {
  escape: Escape;
  template: string;
}

/**
 * The config value as an operator writes it: a template, optionally led by
 * `escape=default|json|none`, optionally as nginx's quoted parts
 * (`'$remote_addr - ...' '"$request" ...'`), which are joined.
 */
export function parseFormatSetting(setting: string): FormatSpec | { error: string } {
  let s = setting.trim();
  let escape: Escape = 'default';
  const m = /^escape=(\S*)\s+/.exec(s);
  if (m) {
    const e = m[1];
    if (e !== 'default' && e !== 'json' && e !== 'none') return { error: `unknown escape=${e} (default, json or none)` };
    escape = e;
    s = s.slice(m[0].length);
  }
  if (s.startsWith("'")) {
    const joined = joinQuotedParts(s);
    if (joined !== undefined) s = joined;
  }
  if (s === '') return { error: 'the log format is empty' };
  return { escape, template: s };
}

/** nginx's quoted string parts, joined; undefined when `s` is not a sequence of them. */
function joinQuotedParts(s: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === ';' && s.slice(i + 1).trim() === '') break;
    if (c !== "'" && c !== '"') return undefined;
    let j = i + 1;
    for (; j < s.length && s[j] !== c; j++) {
      if (s[j] === '\\' && j + 1 < s.length) {
        const n = s[j + 1] as string;
        out += n === 't' ? '\t' : n === 'n' ? '\n' : n === 'r' ? '\r' : n === c || n === '\\' ? n : `\\${n}`;
        j++;
      } else {
        out += s[j];
      }
    }
    if (j >= s.length) return undefined;
    i = j + 1;
  }
  return out;
}

interface Token {
  literal: string;
  /** Variable after the literal; '' for the trailing literal. */
  variable: string;
}

const isNameChar = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;

/**
 * A flat copy of `s`. Strings built with `+=` are ropes in V8: every
 * charCodeAt/startsWith on them walks the rope, which made matching several
 * times slower. Literals are compared on every line, so they are made flat once.
 */
function flat(s: string): string {
  return s.length === 0 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** The template as (literal, variable) pairs, the way nginx's log_format compiler reads it. */
export function tokenize(template: string): Token[] | { error: string } {
  const tokens: Token[] = [];
  let litStart = 0;
  let i = 0;
  while (i < template.length) {
    if (template.charCodeAt(i) !== 36 /* $ */) {
      i++;
      continue;
    }
    const lit = template.slice(litStart, i);
    let name: string;
    if (template[i + 1] === '{') {
      const close = template.indexOf('}', i + 2);
      if (close < 0) return { error: `unclosed "\${" at offset ${i}` };
      name = template.slice(i + 2, close);
      i = close + 1;
    } else {
      let j = i + 1;
      while (j < template.length && isNameChar(template.charCodeAt(j))) j++;
      name = template.slice(i + 1, j);
      i = j;
    }
    if (name === '' || ![...name].every((ch) => isNameChar(ch.charCodeAt(0)))) {
      return { error: `invalid variable name ${JSON.stringify(`$${name}`)} at offset ${i}` };
    }
    tokens.push({ literal: flat(lit), variable: name.toLowerCase() });
    litStart = i;
  }
  tokens.push({ literal: flat(template.slice(litStart)), variable: '' });
  return tokens;
}

const MAX_BACKTRACK = 32;

/** What `match` found. */
const enum Match {
  Full = 0,
  Truncated = 1,
  Failed = 2,
}

/** A format compiled for one escape mode. Not re-entrant (matching state lives on the instance); parsing is synchronous. */
export class CompiledFormat {
  readonly escape: Escape;
  readonly variables: readonly string[];
  private readonly prefix: string;
  /** lits[i] follows variable i. */
  private readonly lits: string[];
  private readonly kinds: Kind[];
  /** The value is between quotes and the escape mode keeps raw quotes out of it. */
  private readonly strictQuoted: boolean[];
  private readonly targets: Target[];
  private readonly names: string[];
  private readonly resolved: Resolved;
  private readonly n: number;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  /** After a Truncated match: variables 0..truncAt-1 are complete, truncAt runs to truncEnd. */
  private truncAt = 0;
  private truncEnd = 0;
  /** Why the last `parse` found no match. */
  failure = '';
  /** The last `parse` met a line cut short (and `allowTruncated` was false): `buildTruncated` can still make its record. */
  lastTruncated = false;
  private readonly fast: FastParse | undefined;

  /** `fastPath: false` leaves out the generated parser (fast-path.ts); tests compare both. */
  constructor(spec: FormatSpec, options: { fastPath?: boolean } = {}) {
    const tokens = tokenize(spec.template);
    if (!Array.isArray(tokens)) throw new LogwardenError(INGEST_ERRORS.LW_INGEST_LOG_FORMAT_INVALID, tokens.error);
    const { vars, lits, prefix, error } = layout(tokens);
    if (error !== undefined) throw new LogwardenError(INGEST_ERRORS.LW_INGEST_LOG_FORMAT_INVALID, error);
    this.escape = spec.escape;
    this.prefix = prefix;
    this.lits = lits;
    this.variables = vars;
    this.n = vars.length;
    this.resolved = resolveTargets(vars);
    if (this.resolved.error !== undefined) throw new LogwardenError(INGEST_ERRORS.LW_INGEST_LOG_FORMAT_INVALID, this.resolved.error);
    this.targets = this.resolved.targets;
    this.names = vars.map(extraName);
    this.kinds = vars.map((v) => kindOf(v));
    this.strictQuoted = vars.map((_, i) => {
      const before = i === 0 ? prefix : (lits[i - 1] as string);
      return spec.escape !== 'none' && before.endsWith('"') && (lits[i] as string).startsWith('"');
    });
    this.starts = new Int32Array(this.n);
    this.ends = new Int32Array(this.n);
    this.fast =
      options.fastPath === false
        ? undefined
        : generateFastPath({
            escape: this.escape,
            prefix,
            lits,
            kinds: this.kinds,
            strictQuoted: this.strictQuoted,
            targets: this.targets,
            names: this.names,
            methodFromRequest: this.resolved.methodFromRequest,
            uriFromRequest: this.resolved.uriFromRequest,
            checkKind,
          });
  }

  /** Parses one message; undefined when the line is not in this format (see `failure`), with `allowTruncated` false also when it is cut short. */
  parse(line: string, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number, allowTruncated: boolean): LineResult | undefined {
    if (this.fast !== undefined) {
      const r = this.fast(line, header, ctx, receivedAt);
      if (r !== undefined) {
        this.lastTruncated = false;
        return r;
      }
    }
    const m = this.match(line);
    this.lastTruncated = m === Match.Truncated;
    if (m === Match.Failed || (m === Match.Truncated && !allowTruncated)) return undefined;
    return this.build(line, m === Match.Truncated, header, ctx, receivedAt);
  }

  /** Builds the record of the last Truncated match (the JSON parser tries JSON.parse in between). */
  buildTruncated(line: string, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number): LineResult {
    return this.build(line, true, header, ctx, receivedAt);
  }

  /** The end of the value starting at `from` for variable i, or -1 when the literal after it is not in the line, or -2 when it cannot end here. */
  private endOf(line: string, i: number, pos: number, from: number): number {
    const lit = this.lits[i] as string;
    const len = line.length;
    const last = i === this.n - 1;
    let end: number;
    if (last) {
      if (lit === '') return from <= len ? len : -2;
      if (!line.endsWith(lit)) return -1;
      end = len - lit.length;
      if (end < from) return -2;
    } else {
      // The native search for the whole literal is cheaper than any check done here char by char.
      end = line.indexOf(lit, from);
      if (end < 0) return -1;
    }
    if (this.strictQuoted[i]) {
      // The first unescaped quote is the only possible end: no raw `"` inside, no second chance.
      if (from !== pos) return -2;
      let q = line.indexOf('"', pos);
      if (this.escape === 'json') {
        while (q > 0 && q < end && line.charCodeAt(q - 1) === 92 && oddBackslashesBefore(line, q)) q = line.indexOf('"', q + 1);
      }
      return q === end ? end : -2;
    }
    return end;
  }

  private match(line: string): Match {
    if (!line.startsWith(this.prefix)) {
      this.failure = `line does not start with ${JSON.stringify(this.prefix)}`;
      return Match.Failed;
    }
    const n = this.n;
    const starts = this.starts;
    const ends = this.ends;
    let i = 0;
    let pos = this.prefix.length;
    let from = pos;
    let steps = 0;
    let backtracked = false;
    let firstFailure = '';
    while (i < n) {
      const end = this.endOf(line, i, pos, from);
      if (end === -1 && !backtracked) {
        // The literal after this value is nowhere in the rest of the line: it was cut here.
        // Unless the value is quoted and its closing quote is there, followed by something else.
        const cut = truncatedEnd(line, pos, this.lits[i] as string);
        if (!(this.strictQuoted[i] && unescapedQuoteBefore(line, pos, cut, this.escape))) {
          this.truncAt = i;
          this.truncEnd = cut;
          starts[i] = pos;
          this.failure = `line ends inside $${this.names[i]}`;
          return Match.Truncated;
        }
      }
      if (end >= 0 && (this.strictQuoted[i] || checkKind(this.kinds[i] as Kind, line, pos, end))) {
        starts[i] = pos;
        ends[i] = end;
        pos = end + (this.lits[i] as string).length;
        from = pos;
        i++;
        continue;
      }
      if (firstFailure === '') {
        firstFailure = end === -2 || (end === -1 && this.strictQuoted[i]) ? `unexpected text after $${this.names[i]}` : `$${this.names[i]} ${JSON.stringify(line.slice(pos, Math.min(end < 0 ? pos + 40 : end, pos + 40)))} is not what that variable holds`;
      }
      // Extend the previous value to the next occurrence of its literal (positions only grow:
      // a literal missing from the rest of the line stays missing, so -1 ends the search).
      if (end === -1 || i === 0 || ++steps > MAX_BACKTRACK) {
        this.failure = steps > MAX_BACKTRACK ? `${firstFailure} (gave up after ${MAX_BACKTRACK} backtracking steps)` : firstFailure;
        return Match.Failed;
      }
      i--;
      backtracked = true;
      pos = starts[i] as number;
      from = (ends[i] as number) + 1;
    }
    return Match.Full;
  }

  private build(line: string, truncated: boolean, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number): LineResult {
    const f = emptyFields();
    const extra: Record<string, string> = {};
    const count = truncated ? this.truncAt + 1 : this.n;
    const escape = this.escape;
    // One scan of the line decides whether any value can need unescaping.
    const escapes = escape !== 'none' && line.includes('\\');
    let uriPath: string | undefined;
    let args = '';
    for (let i = 0; i < count; i++) {
      const start = this.starts[i] as number;
      const end = truncated && i === this.truncAt ? this.truncEnd : (this.ends[i] as number);
      // A number cut short is a wrong number: the cut value of a typed variable is left out
      // ($status is always three digits, so three digits are whole).
      if (truncated && i === this.truncAt && this.kinds[i] !== Kind.Text && !(this.kinds[i] === Kind.Status && end - start === 3)) break;
      const raw = line.slice(start, end);
      const v = escapes && raw.includes('\\') ? (escape === 'json' ? decodeJsonEscapes(raw) : decodeDefaultEscapes(raw)) : raw;
      switch (this.targets[i]) {
        case Target.ClientIp: f.client_ip = v; break;
        case Target.Xff: f.xff = v; break;
        case Target.Realip: f.realip = v; extra.realip_remote_addr = v; break;
        case Target.AuthUser: f.auth_user = v; break;
        case Target.TsMsec: f.ts = msecToMs(v); break;
        case Target.TsLocal: f.ts = parseTimeLocal(v); break;
        case Target.TsIso: f.ts = parseTimeIso8601(v); break;
        case Target.Request: {
          const r = splitRequestLine(v);
          if (this.resolved.methodFromRequest) f.method = r.method;
          if (this.resolved.uriFromRequest) f.uri = r.uri;
          // Kept as logged (escapes included): a TLS ClientHello is more use as \x16\x03\x01 than as U+FFFD.
          if (!r.wellFormed) extra.request = raw;
          break;
        }
        case Target.Method: f.method = v; break;
        case Target.Uri: f.uri = v; break;
        case Target.UriPath: uriPath = v; break;
        case Target.Args: args = v; break;
        case Target.Status: f.status = v; break;
        case Target.Bytes: f.bytes = v; break;
        case Target.RequestTime: f.request_time = v; break;
        case Target.UpstreamTime: f.upstream_time = v; break;
        case Target.UserAgent: f.user_agent = v; break;
        case Target.Referer: f.referer = v; break;
        case Target.Host: f.host = v; break;
        case Target.Node: f.node = v; break;
        case Target.RequestId: f.request_id = v; break;
        case Target.Deployment: f.deployment = v; break;
        case Target.Country: f.country = v; break;
        case Target.BlockedBy: f.blocked_by = v; break;
        case Target.FilterAlert: f.filter_alert = v; break;
        case Target.Drop: break;
        default: {
          const name = this.names[i] as string;
          if (name !== '__proto__') extra[name] = v === '-' ? '' : v;
        }
      }
    }
    if (uriPath !== undefined) f.uri = args !== '' && args !== '-' ? `${uriPath}?${args}` : uriPath;
    if (truncated) {
      if (f.status === '' || f.client_ip === '') return { ok: false, reason: 'bad_format', detail: `${this.failure}, before $${f.client_ip === '' ? 'remote_addr' : 'status'}` };
      extra.truncated = '1';
    }
    return buildRecord(f, extra, header, ctx, receivedAt);
  }
}

function oddBackslashesBefore(line: string, q: number): boolean {
  let k = q - 1;
  while (k >= 0 && line.charCodeAt(k) === 92) k--;
  return (q - 1 - k) % 2 === 1;
}

function unescapedQuoteBefore(line: string, from: number, end: number, escape: Escape): boolean {
  let q = line.indexOf('"', from);
  if (escape === 'json') while (q > 0 && q < end && line.charCodeAt(q - 1) === 92 && oddBackslashesBefore(line, q)) q = line.indexOf('"', q + 1);
  return q >= 0 && q < end;
}

/** End of a value cut short: the line's end, less a tail that is the start of the literal that should follow. */
function truncatedEnd(line: string, pos: number, lit: string): number {
  const len = line.length;
  for (let j = Math.min(lit.length - 1, len - pos); j > 0; j--) {
    if (line.endsWith(lit.slice(0, j))) return len - j;
  }
  return len;
}

/** Checks the value of a typed variable; text variables hold anything. */
function checkKind(kind: Kind, line: string, start: number, end: number): boolean {
  switch (kind) {
    case Kind.Text:
      return true;
    case Kind.Status: {
      const n = end - start;
      if (n < 1 || n > 3) return false;
      for (let i = start; i < end; i++) {
        const c = line.charCodeAt(i);
        if (c < 48 || c > 57) return false;
      }
      return true;
    }
    case Kind.Integer:
    case Kind.Decimal: {
      // "-" (escape=default) and "" (escape=json) both mean unset.
      if (end === start || (end - start === 1 && line.charCodeAt(start) === 45)) return true;
      if (end - start > 24) return false;
      for (let i = start; i < end; i++) {
        const c = line.charCodeAt(i);
        if ((c < 48 || c > 57) && !(kind === Kind.Decimal && c === 46)) return false;
      }
      return true;
    }
    case Kind.List: {
      // $upstream_response_time and friends: "0.010, 0.020 : 0.005", "-", "".
      for (let i = start; i < end; i++) {
        const c = line.charCodeAt(i);
        if (!((c >= 48 && c <= 57) || c === 46 || c === 44 || c === 58 || c === 32 || c === 45)) return false;
      }
      return true;
    }
    case Kind.TimeLocal:
      return end - start === 26 && line.charCodeAt(start + 2) === 47 && line.charCodeAt(start + 6) === 47 && line.charCodeAt(start + 20) === 32;
    case Kind.TimeIso:
      return end - start >= 20 && end - start <= 35 && line.charCodeAt(start + 10) === 84 /* T */;
    case Kind.Protocol:
      return end === start || (end - start === 1 && line.charCodeAt(start) === 45) || (end - start <= 10 && line.startsWith('HTTP/', start));
  }
}

/** Folds `$uri$is_args$args` into one value and checks that every variable is followed by a literal. */
function layout(tokens: Token[]): { vars: string[]; lits: string[]; prefix: string; error?: string } {
  const prefix = tokens[0]?.literal ?? '';
  const vars: string[] = [];
  const lits: string[] = [];
  for (let t = 0; t < tokens.length - 1; t++) {
    let name = (tokens[t] as Token).variable;
    const next = tokens[t + 1] as Token;
    const next2 = tokens[t + 2];
    // nginx's idiom for "the URI with its query": $uri (or $document_uri), then "?" only when there are arguments, then the arguments.
    if (
      (name === 'uri' || name === 'document_uri') && next.literal === '' && next.variable === 'is_args' &&
      next2 !== undefined && next2.literal === '' && (next2.variable === 'args' || next2.variable === 'query_string')
    ) {
      name = 'uri$is_args$args';
      t += 2;
    }
    const after = tokens[t + 1] as Token;
    if (after.literal === '' && after.variable !== '') {
      return { vars, lits, prefix, error: `$${name} and $${after.variable} are adjacent with nothing between them: a line cannot be split there` };
    }
    vars.push(name);
    lits.push(after.literal);
  }
  return { vars, lits, prefix };
}
