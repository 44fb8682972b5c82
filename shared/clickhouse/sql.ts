// Small SQL helpers shared by the client wrapper, the migrator and the code
// that reads our tables. Values from users never go through these: they are
// bound parameters (`{name:Type}`). What is spliced here is our own,
// validated configuration (database and cluster names, day counts) and
// identifiers we wrote ourselves.
import { ClickHouseLayerError, ClickHouseRejectedError } from './errors.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLUSTER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

export function isClusterName(name: string): boolean {
  return CLUSTER_NAME.test(name);
}

/** Backquoted identifier; throws on anything but [A-Za-z_][A-Za-z0-9_]*. */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new ClickHouseRejectedError(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

/** `db`.`table` from "table" (in `database`) or "db.table". */
export function qualifiedTable(database: string, table: string): string {
  const dot = table.indexOf('.');
  if (dot >= 0) return `${quoteIdentifier(table.slice(0, dot))}.${quoteIdentifier(table.slice(dot + 1))}`;
  return `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;
}

/**
 * A ClickHouse string literal. Only for values that cannot be bound (the
 * SETTINGS clause of an INSERT takes no parameters); everything else binds.
 */
export function stringLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** ` ON CLUSTER `name`` or "", for DDL. */
export function onClusterClause(cluster: string | undefined): string {
  if (!cluster) return '';
  if (!CLUSTER_NAME.test(cluster)) throw new ClickHouseLayerError('LW_CH_BAD_CONFIG', `not a valid cluster name: ${JSON.stringify(cluster)}`);
  return ` ON CLUSTER \`${cluster}\``;
}

/**
 * Addresses live in IPv6 columns; IPv4 is stored mapped (::ffff:a.b.c.d).
 * This read expression gives them back the way records spell them
 * (shared/records.ts): IPv4 dotted, IPv6 compressed. It never throws on
 * either kind (unlike toIPv4(), which rejects a non-mapped address unless
 * short-circuit evaluation happens to skip it).
 *
 * To filter, bind the text as IPv6: `WHERE ip = {ip:IPv6}` accepts "1.2.3.4"
 * and maps it the same way the insert did.
 */
export function ipText(column: string): string {
  return `replaceRegexpOne(IPv6NumToString(${column}), '^::ffff:([0-9]{1,3}(\\\\.[0-9]{1,3}){3})$', '\\\\1')`;
}

/** Epoch milliseconds of a DateTime64(3) column, as records carry time. */
export function epochMs(column: string): string {
  return `toUnixTimestamp64Milli(${column})`;
}

/**
 * Substitute `{{name}}` template variables. Every variable used must be
 * given; a name we do not know is an error, not an empty string, so a typo
 * cannot silently produce different DDL.
 */
export function renderTemplate(sql: string, vars: Readonly<Record<string, string>>): string {
  return sql.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new ClickHouseLayerError('LW_CH_MIGRATION_INVALID', `template variable {{${name}}} is unknown or has no value here`);
    return v;
  });
}

/**
 * Split a script into statements at `;` outside string literals, quoted
 * identifiers and comments. Statements that are only comments are dropped;
 * comments inside a statement are kept (ClickHouse ignores them).
 */
export function splitStatements(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let hasCode = false;
  let i = 0;
  const n = script.length;
  const flush = (end: number): void => {
    const stmt = script.slice(start, end).trim();
    if (hasCode && stmt) out.push(stmt);
    hasCode = false;
  };
  while (i < n) {
    const c = script[i];
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const eol = script.indexOf('\n', i);
      i = eol < 0 ? n : eol + 1;
    } else if (c === '/' && next === '*') {
      const end = script.indexOf('*/', i + 2);
      if (end < 0) throw new ClickHouseLayerError('LW_CH_MIGRATION_INVALID', 'unterminated /* comment');
      i = end + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      // Backslash escapes and a doubled quote are both valid inside all three.
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new ClickHouseLayerError('LW_CH_MIGRATION_INVALID', `unterminated ${c} quote starting at offset ${i}`);
        const d = script[j];
        if (d === '\\') j += 2;
        else if (d === c && script[j + 1] === c) j += 2;
        else if (d === c) break;
        else j += 1;
      }
      hasCode = true;
      i = j + 1;
    } else if (c === ';') {
      flush(i);
      start = i + 1;
      i += 1;
    } else {
      if (c !== undefined && !/\s/.test(c)) hasCode = true;
      i += 1;
    }
  }
  flush(n);
  return out;
}
