// Saved queries as data: `*.sql` files in schemas/clickhouse/soc/ (shipped)
// and in soc.saved_queries_dir (the operator's), each one SELECT with a header
// of `-- key: value` comment lines before the SQL:
//
//   -- title: Who scanned us today?
//   -- description: Addresses with scan_detected events since midnight UTC ...
//   -- param: days UInt32 = 7 | how many days back
//   -- param: ip IPv6 | the address (no default: required)
//
// A parameter is used in the SQL as `{name:Type}` and bound by ClickHouse
// (never spliced); the header's type must be the placeholder's. A name the
// operator's folder also has replaces the shipped query of that name. The
// query runs through the same sandbox as ad-hoc SQL (sandbox.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../../../shared/config/errors.js';

export interface SavedParam {
  name: string;
  type: string;
  default?: string;
  description: string;
}

export interface SavedQuery {
  name: string;
  title: string;
  description: string;
  params: SavedParam[];
  sql: string;
  source: 'shipped' | 'operator';
}

export const SAVED_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Parameter types a saved query may declare (ClickHouse type names as written in the placeholder). */
export const PARAM_TYPES: ReadonlySet<string> = new Set(['String', 'IPv6', 'IPv4', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Int32', 'Int64', 'Float64', 'Date', 'DateTime', 'DateTime64(3)']);

/** A bad saved-query file stops the start, like a bad config key (the operator's folder is config). */
function savedQueryError(message: string): ConfigError {
  return new ConfigError('saved queries', [{ path: 'soc.saved_queries_dir', reason: message }]);
}

/** Parse one file's text; throws a ConfigError naming the file and the line. */
export function parseSavedQuery(name: string, text: string, source: SavedQuery['source']): SavedQuery {
  const bad = (msg: string): never => {
    throw savedQueryError(`saved query ${name}: ${msg}`);
  };
  if (!SAVED_NAME.test(name)) bad('the file name must be lower-case letters, digits, _ or - (then .sql)');
  const header: Record<string, string> = {};
  const params: SavedParam[] = [];
  for (const line of text.split('\n')) {
    const m = /^--\s*(title|description|param):\s*(.*)$/.exec(line.trimEnd());
    if (!m) continue;
    const [, key = '', value = ''] = m;
    if (key !== 'param') {
      header[key] = header[key] ? `${header[key]} ${value}` : value;
      continue;
    }
    const p = /^([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z0-9]+(?:\(\d+\))?)(?:\s*=\s*([^|]*?))?\s*(?:\|\s*(.*))?$/.exec(value);
    if (!p) return bad(`bad param line "${value}" (want: -- param: NAME Type [= default] [| description])`);
    const [, pname = '', type = '', def, description = ''] = p;
    if (!PARAM_NAME.test(pname)) bad(`bad parameter name ${pname}`);
    if (!PARAM_TYPES.has(type)) bad(`parameter ${pname}: type ${type} is not one of ${[...PARAM_TYPES].join(', ')}`);
    params.push({ name: pname, type, ...(def === undefined ? {} : { default: def }), description });
  }
  if (!header.title) bad('the header has no "-- title:" line');
  const sql = text.split('\n').filter((l) => !/^\s*--/.test(l)).join('\n').trim();
  if (sql === '') bad('no SQL after the header');
  const used = new Map<string, string>();
  for (const m of sql.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*):([^}]+)\}/g)) used.set(m[1] as string, (m[2] as string).trim());
  for (const [pname, type] of used) {
    const declared = params.find((p) => p.name === pname);
    if (!declared) bad(`the SQL uses {${pname}:${type}} but the header declares no such param`);
    else if (declared.type !== type) bad(`param ${pname} is declared ${declared.type} but used as ${type}`);
  }
  for (const p of params) if (!used.has(p.name)) bad(`param ${p.name} is declared but not used in the SQL`);
  return { name, title: header.title ?? '', description: header.description ?? '', params, sql, source };
}

function loadDir(dir: string, source: SavedQuery['source']): SavedQuery[] {
  if (!existsSync(dir)) {
    if (source === 'operator') throw savedQueryError(`soc.saved_queries_dir ${dir} does not exist`);
    return [];
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => parseSavedQuery(basename(f, '.sql'), readFileSync(join(dir, f), 'utf8'), source));
}

/** The shipped queries, then the operator's (same name: the operator's wins), sorted by name. */
export function loadSavedQueries(shippedDir: string, operatorDir: string): Map<string, SavedQuery> {
  const out = new Map<string, SavedQuery>();
  for (const q of loadDir(shippedDir, 'shipped')) out.set(q.name, q);
  if (operatorDir) for (const q of loadDir(operatorDir, 'operator')) out.set(q.name, q);
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** The values to bind: given ones, else defaults; a missing required one or an unknown one is named. */
export function bindParams(q: SavedQuery, given: Readonly<Record<string, unknown>>): { params: Record<string, unknown> } | { error: string; field: string } {
  const params: Record<string, unknown> = {};
  for (const k of Object.keys(given)) {
    if (!q.params.some((p) => p.name === k)) return { error: `${q.name} has no parameter ${k} (it has: ${q.params.map((p) => p.name).join(', ') || 'none'})`, field: `params.${k}` };
  }
  for (const p of q.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) return { error: `parameter ${p.name} (${p.type}) is required`, field: `params.${p.name}` };
    params[p.name] = v;
  }
  return { params };
}
