// The Native insert path (native-format.ts, insert-rows.ts) against the real
// engine: the same rows stored as through the JSON body, one block under one
// token, the same rollups, and JSON wherever a value has no exact Native form.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '../metrics.js';
import type { SecurityEvent, SecurityEventType } from '../records.js';
import { openClickHouse, type ClickHouse } from './client.js';
import { insertSettings } from './insert-settings.js';
import { insertJson } from './insert-rows.js';
import { migrate } from './migrate.js';
import { encodeNative, parseNativeType, writeIPv6, type NativeType } from './native-format.js';
import { openTestClickHouse, removeTestDataDir, testClickHouseMode } from './testing.js';

after(() => removeTestDataDir());

const MERGE_TREE = 'ENGINE = MergeTree ORDER BY tuple() SETTINGS non_replicated_deduplication_window = 100';

async function nativeRows(table: string): Promise<number> {
  const m = (await registry.getSingleMetric('logwarden_clickhouse_inserted_rows_total')?.get())?.values ?? [];
  return m.filter((v) => v.labels.table === table && v.labels.format === 'Native').reduce((a, v) => a + v.value, 0);
}

function typesOf(columns: Record<string, string>): Map<string, NativeType> {
  return new Map(Object.entries(columns).map(([k, v]) => [k, parseNativeType(v) as NativeType]));
}

const COLUMNS = {
  k: 'String', u8: 'UInt8', i16: 'Int16', u32: 'UInt32', i64: 'Int64', u64: 'UInt64', f: 'Float64',
  ts: "DateTime64(3, 'UTC')", e: "Enum8('a' = 1, 'b' = -2)", ip: 'IPv6', lc: 'LowCardinality(String)',
  n: 'Nullable(String)', lcn: 'LowCardinality(Nullable(String))', nu: 'Nullable(UInt32)', arr: 'Array(String)', m: 'Map(String, String)',
};
const long = 'ü'.repeat(70) + 'x'.repeat(200);
const ROWS = [
  { k: 'a', u8: 255, i16: -32768, u32: 4294967295, i64: -5, u64: 2n ** 64n - 1n, f: -0, ts: 1_700_000_000_123, e: 'a', ip: '203.0.113.7', lc: 'x', n: null, lcn: null, nu: null, arr: [], m: {} },
  { k: 'b\n"\\\'', u8: 0, i16: 7, u32: 0, i64: 9007199254740993n, u64: '18446744073709551614', f: 0.1, ts: 0, e: 'b', ip: '2001:db8::1', lc: '', n: 'é', lcn: 'DE', nu: 7, arr: ['p', long], m: { z: '', [long]: 'v' } },
  { k: '😀 ünï', u8: 1, i16: 0, u32: 1, i64: 0, u64: 0, f: 1e300, ts: 4_102_444_800_000, e: 'a', ip: '::ffff:198.51.100.9', lc: long, n: '', lcn: '', nu: 0, arr: ['😀'], m: { k: '😀' } },
  { k: long, u8: 2, i16: 1, u32: 2, i64: 1, u64: 1, f: -2.5, ts: 1, e: 'b', ip: '::', lc: 'y', n: 'x', lcn: 'y', nu: 1, arr: [''], m: { a: 'b', c: 'd' } },
  { k: 'v6', u8: 3, i16: 2, u32: 3, i64: 2, u64: 2, f: 3, ts: 2, e: 'a', ip: '2001:DB8::1:ffff:1.2.3.4', lc: 'z', n: null, lcn: null, nu: null, arr: [], m: {} },
  { k: 'v6b', u8: 4, i16: 3, u32: 4, i64: 3, u64: 3, f: 4, ts: 3, e: 'a', ip: 'fe80::1:2:3:4:5:6', lc: 'z', n: null, lcn: null, nu: null, arr: [], m: {} },
];

test('encodeNative refuses what it cannot write exactly, so the JSON body carries it', () => {
  const types = typesOf(COLUMNS);
  assert.ok(encodeNative(ROWS, types), 'the sample rows encode');
  const bad: Array<[string, unknown]> = [
    ['ip', 'not-an-ip'], ['ip', '1.2.3.04'], ['ip', '1.2.3.256'], ['ip', 'fe80::1%eth0'], ['ip', '1:2:3:4:5:6:7::8'], ['ip', '1::2::3'], ['e', 'c'], ['e', 1], ['u32', 1.5], ['u32', -1],
    ['u8', 256], ['u8', true], ['k', 5], ['k', 'a\uD800'], ['k', null], ['u64', 2n ** 64n], ['u64', '-1'], ['ts', '2024-01-01'],
    ['ts', 1.5], ['f', Number.NaN], ['arr', 'x'], ['arr', [1]], ['m', { a: 1 }], ['m', []], ['nu', 'x'],
  ];
  for (const [col, value] of bad) {
    assert.equal(encodeNative([ROWS[0] as object, { ...ROWS[1], [col]: value }], types), undefined, `${col} = ${String(value)}`);
  }
  assert.equal(encodeNative([{ k: 'a' }, { k: 'b', u8: 1 }], types), undefined, 'rows with other keys');
  assert.equal(encodeNative([{ k: 'a', other: 1 }], types), undefined, 'a column the table types do not name');
  assert.equal(encodeNative([{ k: 'a', u8: undefined }, { k: 'b', u8: 1 }], types), undefined, 'an undefined value (a JSON body omits it)');
  assert.equal(parseNativeType("DateTime('UTC')"), undefined, 'types without an encoder are left to JSON');
  assert.equal(parseNativeType('Decimal(10, 2)'), undefined);
  const b = Buffer.alloc(16);
  assert.ok(writeIPv6('2001:db8::1.2.3.4', b, 0));
  assert.equal(b.toString('hex'), '20010db8000000000000000001020304');
});

test('a Native insert stores exactly what the JSON body stores, one token per insert', async () => {
  const t = await openTestClickHouse('native_values');
  try {
    const { ch } = t;
    const ddl = (name: string): string =>
      `CREATE TABLE ${ch.table(name)} (${Object.entries(COLUMNS).map(([k, v]) => `\`${k}\` ${v}`).join(', ')}) ${MERGE_TREE}`;
    await ch.command(ddl('via_json'));
    await ch.command(ddl('via_native'));
    const before = await nativeRows('via_native');
    await insertJson(ch.client, ch.table('via_json'), ROWS, insertSettings('tok', true));
    await ch.insert('via_native', ROWS, { dedupToken: 'tok' });
    await ch.insert('via_native', ROWS, { dedupToken: 'tok' });
    assert.equal((await nativeRows('via_native')) - before, 2 * ROWS.length, 'both inserts went as Native');
    const read = (name: string): Promise<unknown[]> =>
      ch.query(`SELECT *, toString(u64) AS u64s, toString(i64) AS i64s, toString(ip) AS ips FROM ${ch.table(name)} ORDER BY k`);
    const native = await read('via_native');
    assert.equal(native.length, ROWS.length, 'the retry with the same token stored nothing');
    assert.deepEqual(native, await read('via_json'));
    // A token stored through one path is a duplicate through the other (a batch stored as
    // JSON before an upgrade, redelivered after it; a refused part retried as JSON).
    await ch.insert('via_json', ROWS, { dedupToken: 'tok' });
    await insertJson(ch.client, ch.table('via_native'), ROWS, insertSettings('tok', true));
    assert.equal((await read('via_json')).length, ROWS.length, 'JSON first, then Native: stored once');
    assert.equal((await read('via_native')).length, ROWS.length, 'Native first, then JSON: stored once');
    if (testClickHouseMode() === 'embedded') assert.deepEqual(readdirSync(join(ch.dataDir, 'insert-blocks')), [], 'block files are removed');
  } finally {
    await t.dispose();
  }
});

test('a Native insert is one block: 1M rows then 1.1M with the same token store the 1M once', async () => {
  const t = await openTestClickHouse('native_dedup_rows');
  try {
    const { ch } = t;
    await ch.command(`CREATE TABLE ${ch.table('t')} (k UInt32, s LowCardinality(String)) ${MERGE_TREE}`);
    const rows = (n: number): Array<{ k: number; s: string }> => Array.from({ length: n }, (_, i) => ({ k: i, s: `s${i % 7}` }));
    const before = await nativeRows('t');
    await ch.insert('t', rows(1_000_000), { dedupToken: 'sink:rows:0-999999' });
    await ch.insert('t', rows(1_100_000), { dedupToken: 'sink:rows:0-999999' });
    assert.equal((await nativeRows('t')) - before, 2_100_000, 'both went as Native');
    const [r] = await ch.query<{ n: string | number; k: string | number }>(`SELECT count() AS n, uniqExact(k) AS k FROM ${ch.table('t')}`);
    assert.equal(Number(r?.n), 1_000_000);
    assert.equal(Number(r?.k), 1_000_000);
  } finally {
    await t.dispose();
  }
});

test('a value with no exact Native form goes as JSON, and ClickHouse refuses it as before', async () => {
  const t = await openTestClickHouse('native_refusal');
  try {
    const { ch } = t;
    await ch.command(`CREATE TABLE ${ch.table('t')} (ip IPv6, s String) ${MERGE_TREE}`);
    const rows = [{ ip: '10.0.0.1', s: 'ok' }, { ip: 'not-an-ip', s: 'bad' }];
    const viaJson = await insertJson(ch.client, ch.table('t'), rows, insertSettings('j', true)).then(() => undefined, (e: unknown) => e);
    const viaInsert = await ch.insert('t', rows, { dedupToken: 'n' }).then(() => undefined, (e: unknown) => e);
    assert.ok(viaInsert instanceof Error, 'refused');
    assert.equal((viaInsert as { clickhouseCode?: number }).clickhouseCode, Number((viaJson as { code?: string }).code), 'the same ClickHouse error');
    const [r] = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')}`);
    assert.equal(Number(r?.n), 0, 'nothing of the refused insert is stored');
  } finally {
    await t.dispose();
  }
});

const TYPES: SecurityEventType[] = ['suspicious', 'rate_limited', 'scan_detected', 'auth_failed', 'blocked_ip', 'challenge'];
const PATHS = ['/wp-login.php', '/.env', '/admin', '/xmlrpc.php', '/.git/config', '/login'];
function event(i: number): SecurityEvent {
  const ts = 1_790_000_000_000 + i * 977 * 61;
  return {
    id: `e-${i}`, ts, type: TYPES[i % 6] as SecurityEventType, detector: `d${i % 4}`,
    ip: i % 5 === 0 ? `2001:db8::${(i % 300).toString(16)}` : `10.0.${(i >> 8) % 4}.${i % 256}`, deployment: `app-${i % 3}`, count: 1 + (i % 50),
    window_start: ts - 60_000, window_end: ts, sample_paths: [PATHS[i % 6] as string, PATHS[(i >> 2) % 6] as string].slice(0, 1 + (i % 2)),
    details: i % 2 ? { requests: String(i % 50) } : {}, country: i % 3 ? 'DE' : null, asn: i % 4 ? 3320 : null, as_org: i % 4 ? 'DTAG' : null,
  };
}

test('events and every rollup hold the same after the JSON path and the Native path over the same rows', async () => {
  const a = await openTestClickHouse('rollups_json');
  let b: ClickHouse | undefined;
  try {
    b = await openClickHouse({ ...a.options, database: `${a.options.database}_n` });
    await migrate(a.ch, { retentionDays: 3650, requestsTtlDays: 1 });
    await migrate(b, { retentionDays: 3650, requestsTtlDays: 1 });
    const before = await nativeRows('events');
    for (let part = 0; part < 3; part++) {
      const rows = Array.from({ length: 7000 }, (_, i) => event(part * 7000 + i));
      const token = `events:0:${part * 7000}-${part * 7000 + 7000}`;
      await insertJson(a.ch.client, a.ch.table('events'), rows, insertSettings(token, false));
      await b.insert('events', rows, { dedupToken: token, optimizeOnInsert: false });
      await b.insert('events', rows, { dedupToken: token, optimizeOnInsert: false }); // a redelivery
    }
    assert.equal((await nativeRows('events')) - before, 6 * 7000, 'every insert went as Native');
    const tables = await a.ch.query<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'events%' AND engine NOT LIKE '%View' ORDER BY name`,
      { db: a.ch.database },
    );
    assert.ok(tables.length >= 7, `events and its rollups: ${tables.map((t) => t.name).join(', ')}`);
    for (const { name } of tables) {
      const dump = async (ch: ClickHouse): Promise<string[]> =>
        (await ch.query(`SELECT * FROM ${ch.table(name)}`)).map((r) => JSON.stringify(r)).sort();
      const x = await dump(a.ch);
      const y = await dump(b);
      assert.ok(x.length > 0, `${name} has rows`);
      assert.deepEqual(y, x, `${name}: same rows`);
    }
  } finally {
    if (b) {
      await b.command(`DROP DATABASE IF EXISTS \`${b.database}\` SYNC`);
      await b.close();
    }
    await a.dispose();
  }
});

test('server mode sends the block as the HTTP body with FORMAT Native; the engine reads those bytes as the rows', async () => {
  const seen: Array<{ query: string; body: Buffer }> = [];
  const columns = [{ name: 'k', type: 'String' }, { name: 'ip', type: 'IPv6' }, { name: 'm', type: 'Map(String, String)' }, { name: 'n', type: 'Nullable(UInt32)' }];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? Buffer.concat(chunks).toString('utf8');
      seen.push({ query, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(/system\.columns/.test(query) ? columns.map((c) => JSON.stringify(c)).join('\n') + '\n' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  const rows = [{ k: 'a', ip: '10.1.2.3', m: { x: 'y' }, n: null }, { k: 'ü', ip: '2001:db8::2', m: {}, n: 5 }];
  const ch = await openClickHouse({ url: `http://127.0.0.1:${addr.port}`, database: 'lwdb', dataDir: '' });
  try {
    await ch.insert('t', rows, { dedupToken: 'tok' });
  } finally {
    await ch.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const insert = seen.at(-1);
  assert.ok(insert);
  assert.match(insert.query, /^INSERT INTO `lwdb`\.`t` \(`k`, `ip`, `m`, `n`\) SETTINGS insert_deduplicate = 1, .*insert_deduplication_token = 'tok'.* FORMAT Native$/);
  // The same bytes, read by the embedded engine (the server path itself needs a ClickHouse server: not run here).
  const t = await openTestClickHouse('native_server_bytes');
  const dir = mkdtempSync(join(tmpdir(), 'lw-native-body-'));
  try {
    const file = join(dir, 'body.native');
    writeFileSync(file, insert.body);
    const back = await t.ch.query(`SELECT k, toString(ip) AS ip_text, m, n, toTypeName(ip) AS ip_type FROM file({f:String}, 'Native')`, { f: file });
    assert.deepEqual(back, [
      { k: 'a', ip_text: '::ffff:10.1.2.3', m: { x: 'y' }, n: null, ip_type: 'IPv6' },
      { k: 'ü', ip_text: '2001:db8::2', m: {}, n: 5, ip_type: 'IPv6' },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await t.dispose();
  }
});
