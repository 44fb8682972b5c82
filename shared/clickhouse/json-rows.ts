// Rows as a JSON insert body: the format every value has, used when a
// Native block cannot carry the rows exactly (native-format.ts).
import { isIdentifier } from './sql.js';

// bigint has no JSON form; ClickHouse parses a quoted integer into any Int/UInt column.
const bigintReplacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

function jsonLine(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    // Only a bigint makes a plain row throw; the replacer costs ~40% on every row, so it is the fallback.
    if (err instanceof TypeError) return JSON.stringify(value, bigintReplacer);
    throw err;
  }
}

/** An insert body: the format, the column list it needs (if any), and the rows. */
export interface InsertBody {
  format: 'JSONCompactEachRow' | 'JSONEachRow';
  columns: readonly string[] | undefined;
  body: string;
}

/**
 * Rows as JSONCompactEachRow (one JSON array per row, named columns) when every
 * row has the same defined keys, else JSONEachRow. Same values, same JSON
 * parsing rules for each value: only the row framing differs. Compact is what
 * makes inserts fast: ClickHouse matches no key names per value (~25% less
 * parse time on event rows) and JSON.stringify builds no objects' key
 * strings (~2x faster here). A key whose value is undefined counts as absent
 * (JSON.stringify drops it, and ClickHouse then uses the column default), so
 * rows that differ in that respect keep the keyed format.
 */
export function serializeRows(rows: readonly object[]): InsertBody {
  const first = rows[0] as Record<string, unknown> | undefined;
  const columns = first ? Object.keys(first).filter((k) => first[k] !== undefined) : [];
  let compact = columns.length > 0 && columns.every(isIdentifier);
  if (compact) {
    const n = columns.length;
    const values: unknown[] = new Array<unknown>(n);
    let body = '';
    for (const row of rows as readonly Record<string, unknown>[]) {
      // Same count of keys and every column defined = the same key set.
      if (Object.keys(row).length !== n) {
        compact = false;
        break;
      }
      for (let i = 0; i < n; i++) {
        const v = row[columns[i] as string];
        if (v === undefined) {
          compact = false;
          break;
        }
        values[i] = v;
      }
      if (!compact) break;
      body += jsonLine(values) + '\n';
    }
    if (compact) return { format: 'JSONCompactEachRow', columns, body };
  }
  let body = '';
  for (const row of rows) body += jsonLine(row) + '\n';
  return { format: 'JSONEachRow', columns: undefined, body };
}
