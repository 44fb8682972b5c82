// How an insert's rows travel (client.ts's insert()): one Native block when
// every value has an exact binary form (native-format.ts), else the JSON body
// as before. Either way the statement carries insertSettings(), so the rows
// form one block under one deduplication token.
//
// - Server: `INSERT … FORMAT Native` with the block as the HTTP body.
// - Embedded: chdb takes inline insert data only as text (the body is joined
//   to the statement as a string), so the block goes through a file instead:
//   written to `blockDir` (under the data dir), read by
//   `INSERT INTO t (cols) SETTINGS … SELECT * FROM file(path, 'Native')`,
//   removed afterwards. The file holds one block, and the settings squash
//   what the engine reads into one insert block: one token, one block, the
//   same as the inline insert (shared/clickhouse/client.test.ts proves it
//   for both paths). The SELECT converts each column to the table's type by
//   position (LowCardinality is written as its inner type).
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { drainStream, type ClickHouseClient } from '@clickhouse/client';
import { serializeRows } from './json-rows.js';
import { encodeNative, type NativeType } from './native-format.js';
import { quoteIdentifier, stringLiteral } from './sql.js';

/** The body format an insert used. */
export type InsertFormat = 'Native' | 'JSONCompactEachRow' | 'JSONEachRow';

/** Embedded mode: the directory of in-flight block files, emptied (a crash may leave some) and created. */
export function prepareBlockDir(dataDir: string): string {
  const dir = join(dataDir, 'insert-blocks');
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
  return dir;
}

export interface InsertRowsArgs {
  client: ClickHouseClient;
  /** Embedded: where block files go; undefined for a server (the block is the HTTP body). */
  blockDir: string | undefined;
  /** Qualified target table. */
  target: string;
  rows: readonly object[];
  /** insertSettings() of this insert. */
  settings: readonly string[];
  /** The table's column types by name (empty: JSON body). */
  types: ReadonlyMap<string, NativeType>;
}

export async function insertRows(a: InsertRowsArgs): Promise<InsertFormat> {
  if (await insertNative(a)) return 'Native';
  return insertJson(a.client, a.target, a.rows, a.settings);
}

/** The rows as one Native block; false (nothing sent) when some value has no exact Native form. */
export async function insertNative(a: InsertRowsArgs): Promise<boolean> {
  const native = encodeNative(a.rows, a.types);
  if (!native) return false;
  const columnList = native.columns.map(quoteIdentifier).join(', ');
  if (a.blockDir === undefined) {
    const res = await a.client.exec({
      query: `INSERT INTO ${a.target} (${columnList}) SETTINGS ${a.settings.join(', ')} FORMAT Native`,
      values: Readable.from([native.body]),
    });
    await drainStream(res.stream);
    return true;
  }
  const file = join(a.blockDir, `${randomUUID()}.native`);
  await writeFile(file, native.body);
  try {
    // The SELECT's settings too: no schema cache entry per (unique) file name.
    const settings = [...a.settings, 'schema_inference_use_cache_for_file = 0'];
    await a.client.command({
      query: `INSERT INTO ${a.target} (${columnList}) SETTINGS ${settings.join(', ')} SELECT * FROM file(${stringLiteral(file)}, 'Native')`,
    });
  } finally {
    await rm(file, { force: true });
  }
  return true;
}

/** The rows as a JSON body (json-rows.ts): every value has a JSON form. */
export async function insertJson(client: ClickHouseClient, target: string, rows: readonly object[], settings: readonly string[]): Promise<InsertFormat> {
  const { format, columns, body } = serializeRows(rows);
  const columnList = columns ? ` (${columns.map(quoteIdentifier).join(', ')})` : '';
  const res = await client.exec({
    query: `INSERT INTO ${target}${columnList} SETTINGS ${settings.join(', ')} FORMAT ${format}`,
    // One string chunk: chdb joins the body to the statement as text anyway
    // (a Buffer would be decoded back to a string there); HTTP sends it as is.
    values: Readable.from([body]),
  });
  await drainStream(res.stream);
  return format;
}
