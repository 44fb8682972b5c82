// sql: analyst SQL over the API (POST /api/soc/query), a saved query by name
// (POST /api/soc/queries/NAME/run), or the list of saved queries. Prints a
// table, the API's JSON (--json) or CSV (--csv).
import type { Envelope } from '../api-client.js';
import { UsageError } from '../errors.js';
import { printable, table } from '../table.js';
import { CONNECTION, type ApiCommand } from './common.js';

interface SocAnswer {
  columns: Array<{ name: string; type: string }>;
  rows: Array<Record<string, unknown>>;
  rows_read: number | null;
  elapsed_ms: number;
}

interface Saved {
  name: string;
  title: string;
  params: Array<{ name: string; type: string; default?: string }>;
}

const USAGE = 'sql "SELECT ..." | sql - (the query on stdin) | sql --saved NAME | sql --list   [--param NAME=VALUE ...] [--json | --csv]';

/** --param NAME=VALUE, each once. */
export function parseParams(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list ?? []) {
    const eq = p.indexOf('=');
    const name = eq < 0 ? '' : p.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) throw new UsageError(`--param takes NAME=VALUE (NAME as in the query's {NAME:Type}), not "${p}"`);
    if (name in out) throw new UsageError(`--param ${name} is given twice`);
    out[name] = p.slice(eq + 1);
  }
  return out;
}

/** One CSV field (RFC 4180); a text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading '. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(answer: SocAnswer): string {
  const lines = [answer.columns.map((c) => csvField(c.name)).join(',')];
  for (const r of answer.rows) lines.push(answer.columns.map((c) => csvField(r[c.name])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export const sql: ApiCommand = {
  options: [...CONNECTION, 'saved', 'param', 'csv', 'list'],
  async run(api, args, opts, io) {
    if (opts.json && opts.csv) throw new UsageError('--json and --csv: choose one');
    if (opts.list) {
      if (args.length > 0 || opts.saved !== undefined || opts.param !== undefined) throw new UsageError(`usage: logwarden ${USAGE}`);
      const r = await api.call<Saved[]>('GET', '/api/soc/queries');
      if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
      return io.out(table(['NAME', 'PARAMETERS', 'TITLE'], r.data.map((q) => [q.name, q.params.map((p) => `${p.name}:${p.type}${p.default === undefined ? '' : `=${p.default}`}`).join(' '), q.title])));
    }
    const params = parseParams(opts.param);
    let r: Envelope<SocAnswer>;
    if (opts.saved !== undefined) {
      if (args.length > 0) throw new UsageError(`--saved runs a saved query: no query text too (usage: logwarden ${USAGE})`);
      if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(opts.saved)) throw new UsageError(`--saved takes a saved query's name (logwarden sql --list), not "${opts.saved}"`);
      r = await api.call<SocAnswer>('POST', `/api/soc/queries/${opts.saved}/run`, { body: { params } });
    } else {
      if (args.length !== 1) throw new UsageError(`usage: logwarden ${USAGE}`);
      const text = args[0] === '-' ? io.stdin() : args[0];
      if (text === undefined || text.trim() === '') throw new UsageError('no query: give it as an argument, or pipe it to logwarden sql -');
      r = await api.call<SocAnswer>('POST', '/api/soc/query', { body: { sql: text, params } });
    }
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    if (opts.csv) return io.out(toCsv(r.data));
    const a = r.data;
    if (a.rows.length === 0) io.out(`(no rows; columns: ${a.columns.map((c) => printable(c.name)).join(', ')})\n`);
    else io.out(table(a.columns.map((c) => c.name), a.rows.map((row) => a.columns.map((c) => row[c.name]))));
    io.err(`${a.rows.length} row${a.rows.length === 1 ? '' : 's'} in ${a.elapsed_ms} ms\n`);
  },
};
