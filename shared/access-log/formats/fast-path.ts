// A straight-line parser generated for one compiled format: the common case
// only, as fast as the engine allows.
//
// CompiledFormat's matcher is the reference: it backtracks, keeps lines cut
// short, handles escaped quotes. This function covers a line with nothing
// unusual (every literal at its first occurrence, every typed value well
// formed, no backslash with escape=json) and answers undefined for anything
// else, which then goes to the
// matcher; so its only duty is to agree with the matcher where it answers
// (the parsing table and the fuzz test run both and compare). Being generated, it has no
// loop over variables, no table lookups and no switch: each value is a
// `slice` between two native `indexOf` results, assigned straight into the
// LineFields literal. The code holds only JSON-quoted literals and fixed
// text; variable names never reach it unquoted.
import { buildRecord, msecToMs, type LineFields, type LineResult, type RecordContext } from '../record.js';
import type { SyslogHeader } from '../syslog.js';
import { unescapeValue, type Escape } from './escape.js';
import { splitRequestLine } from './request-line.js';
import { parseTimeIso8601, parseTimeLocal } from './time.js';
import { Kind, Target } from './variables.js';

export type FastParse = (line: string, header: SyslogHeader | undefined, ctx: RecordContext, receivedAt: number) => LineResult | undefined;

export interface FastPathLayout {
  escape: Escape;
  prefix: string;
  lits: readonly string[];
  kinds: readonly Kind[];
  strictQuoted: readonly boolean[];
  targets: readonly Target[];
  names: readonly string[];
  methodFromRequest: boolean;
  uriFromRequest: boolean;
  checkKind: (kind: Kind, line: string, start: number, end: number) => boolean;
}

const FIELD_OF: Partial<Record<Target, keyof LineFields>> = {
  [Target.ClientIp]: 'client_ip',
  [Target.Xff]: 'xff',
  [Target.Realip]: 'realip',
  [Target.AuthUser]: 'auth_user',
  [Target.Method]: 'method',
  [Target.Uri]: 'uri',
  [Target.Status]: 'status',
  [Target.Bytes]: 'bytes',
  [Target.RequestTime]: 'request_time',
  [Target.UpstreamTime]: 'upstream_time',
  [Target.UserAgent]: 'user_agent',
  [Target.Referer]: 'referer',
  [Target.Host]: 'host',
  [Target.Node]: 'node',
  [Target.RequestId]: 'request_id',
  [Target.Deployment]: 'deployment',
  [Target.Country]: 'country',
  [Target.BlockedBy]: 'blocked_by',
  [Target.FilterAlert]: 'filter_alert',
};

/** Field order of `emptyFields()`, so generated literals share its shape. */
const FIELD_ORDER: ReadonlyArray<keyof LineFields> = [
  'ts', 'node', 'deployment', 'client_ip', 'xff', 'realip', 'method', 'host', 'uri', 'status', 'bytes', 'request_time', 'upstream_time',
  'user_agent', 'referer', 'country', 'auth_user', 'request_id', 'blocked_by', 'filter_alert',
];

export function generateFastPath(l: FastPathLayout): FastParse {
  const n = l.targets.length;
  const q = (s: string): string => JSON.stringify(s);
  const body: string[] = [];
  // escape=json: an escaped quote (\") would end a value early here, so such lines go to the matcher.
  // escape=default: quotes are \x22, the split holds; values with a backslash are unescaped.
  if (l.escape === 'json') body.push(`if (line.indexOf("\\\\") >= 0) return undefined;`);
  const unescape = l.escape === 'default';
  if (unescape) body.push(`const bs = line.indexOf("\\\\") >= 0;`);
  if (l.prefix !== '') body.push(`if (!line.startsWith(${q(l.prefix)})) return undefined;`);
  body.push(`let pos = ${l.prefix.length};`, 'let e = 0;');
  for (let i = 0; i < n; i++) {
    const lit = l.lits[i] as string;
    if (i === n - 1) {
      if (lit === '') body.push('e = line.length;');
      else body.push(`if (!line.endsWith(${q(lit)})) return undefined;`, `e = line.length - ${lit.length};`, 'if (e < pos) return undefined;');
    } else {
      body.push(`e = line.indexOf(${q(lit)}, pos);`, 'if (e < 0) return undefined;');
    }
    if (l.strictQuoted[i]) body.push(`if (line.indexOf('"', pos) !== e) return undefined;`);
    else if (l.kinds[i] !== Kind.Text) body.push(`if (!checkKind(${l.kinds[i]}, line, pos, e)) return undefined;`);
    if (unescape) body.push(`const r${i} = line.slice(pos, e);`, `const v${i} = bs ? unescapeValue(r${i}, "default") : r${i};`);
    else body.push(`const r${i} = line.slice(pos, e);`, `const v${i} = r${i};`);
    body.push(`pos = e + ${lit.length};`);
  }

  const fields = new Map<keyof LineFields, string>();
  const extra: string[] = [];
  const after: string[] = [];
  let uriPath: string | undefined;
  let args: string | undefined;
  for (let i = 0; i < n; i++) {
    const t = l.targets[i] as Target;
    const v = `v${i}`;
    const field = FIELD_OF[t];
    if (field !== undefined) fields.set(field, v);
    switch (t) {
      case Target.Realip:
        extra.push(`"realip_remote_addr": ${v}`);
        break;
      case Target.TsMsec:
        fields.set('ts', `msecToMs(${v})`);
        break;
      case Target.TsLocal:
        fields.set('ts', `parseTimeLocal(${v})`);
        break;
      case Target.TsIso:
        fields.set('ts', `parseTimeIso8601(${v})`);
        break;
      case Target.Request:
        body.push(`const rq${i} = splitRequestLine(${v});`);
        after.push(`if (!rq${i}.wellFormed) extra.request = r${i};`);
        if (l.methodFromRequest) fields.set('method', `rq${i}.method`);
        if (l.uriFromRequest) fields.set('uri', `rq${i}.uri`);
        break;
      case Target.UriPath:
        uriPath = v;
        break;
      case Target.Args:
        args = v;
        break;
      case Target.Extra: {
        const name = l.names[i] as string;
        if (name !== '__proto__') extra.push(`${q(name)}: ${v} === "-" ? "" : ${v}`);
        break;
      }
      default:
        break;
    }
  }
  if (uriPath !== undefined) fields.set('uri', args === undefined ? uriPath : `(${args} !== "" && ${args} !== "-" ? ${uriPath} + "?" + ${args} : ${uriPath})`);
  body.push(`const extra = { ${extra.join(', ')} };`, ...after);
  body.push(`const f = { ${FIELD_ORDER.map((k) => `${k}: ${fields.get(k) ?? (k === 'ts' ? 'undefined' : '""')}`).join(', ')} };`);
  body.push('return buildRecord(f, extra, header, ctx, receivedAt);');

  const source = `"use strict";\nreturn function fastParse(line, header, ctx, receivedAt) {\n  ${body.join('\n  ')}\n};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('buildRecord', 'msecToMs', 'parseTimeLocal', 'parseTimeIso8601', 'splitRequestLine', 'checkKind', 'unescapeValue', source) as (
    ...helpers: unknown[]
  ) => FastParse;
  return factory(buildRecord, msecToMs, parseTimeLocal, parseTimeIso8601, splitRequestLine, l.checkKind, unescapeValue);
}
