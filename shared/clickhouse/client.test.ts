// The connection wrapper against a real engine: embedded chdb, or the server
// at CLICKHOUSE_URL (shared/clickhouse/testing.ts chooses).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openClickHouse } from './client.js';
import { migrate } from './migrate.js';
import { ClickHouseLayerError, ClickHouseRejectedError, ClickHouseUnavailableError, isRetryable } from './errors.js';
import { ipText, quoteIdentifier } from './sql.js';
import { openTestClickHouse, removeTestDataDir, testClickHouseMode, testClickHouseOptions } from './testing.js';

const embedded = testClickHouseMode() === 'embedded';

after(() => removeTestDataDir());

async function withTable<T>(base: string, ddl: (table: string) => string, fn: (t: Awaited<ReturnType<typeof openTestClickHouse>>) => Promise<T>): Promise<T> {
  const t = await openTestClickHouse(base);
  try {
    await t.ch.command(ddl(t.ch.table('t')));
    return await fn(t);
  } finally {
    await t.dispose();
  }
}

const MERGE_TREE_WITH_DEDUP = 'ENGINE = MergeTree ORDER BY tuple() SETTINGS non_replicated_deduplication_window = 100';

test('opens with the database created and set as the default', async () => {
  const t = await openTestClickHouse('default_db');
  try {
    assert.equal(t.ch.mode, testClickHouseMode());
    const [row] = await t.ch.query<{ db: string; n: string | number }>(
      'SELECT currentDatabase() AS db, (SELECT count() FROM system.databases WHERE name = {name:String}) AS n',
      { name: t.options.database },
    );
    assert.equal(row?.db, t.options.database);
    assert.equal(Number(row?.n), 1);
    assert.equal(await t.ch.ping(), true);
  } finally {
    await t.dispose();
  }
  assert.equal(await t.ch.ping(), false, 'a closed connection does not answer');
});

test('bound parameters carry injection-looking strings literally', async () => {
  const evil = "x'); DROP TABLE t; -- \\' \" `{s:String}` \n\t☃";
  await withTable('params', (t) => `CREATE TABLE ${t} (id UInt32, s String, tags Array(String)) ${MERGE_TREE_WITH_DEDUP}`, async ({ ch }) => {
    await ch.insert('t', [
      { id: 1, s: evil, tags: [evil, 'plain'] },
      { id: 2, s: 'other', tags: [] },
    ]);
    const rows = await ch.query<{ id: number; s: string; tags: string[] }>(
      `SELECT id, s, tags FROM ${ch.table('t')} WHERE s = {s:String} ORDER BY id`,
      { s: evil },
    );
    assert.deepEqual(rows, [{ id: 1, s: evil, tags: [evil, 'plain'] }]);
    const [n] = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')} WHERE has(tags, {s:String})`, { s: evil });
    assert.equal(Number(n?.n), 1);
    // The table the string names is still there.
    const [all] = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')}`);
    assert.equal(Number(all?.n), 2);
  });
});

test('insert with the same dedup token twice writes once; without a token nothing is deduplicated', async () => {
  await withTable('dedup', (t) => `CREATE TABLE ${t} (k String, v UInt32) ${MERGE_TREE_WITH_DEDUP}`, async ({ ch }) => {
    const count = async (k: string): Promise<number> => {
      const [r] = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')} WHERE k = {k:String}`, { k });
      return Number(r?.n);
    };
    // A token with quote and backslash: it is spliced into SETTINGS, so it must be escaped right.
    const token = "sink:events:0:100-199 'q' \\b";
    await ch.insert('t', [{ k: 'a', v: 1 }, { k: 'a', v: 2 }], { dedupToken: token });
    await ch.insert('t', [{ k: 'a', v: 1 }, { k: 'a', v: 2 }], { dedupToken: token });
    assert.equal(await count('a'), 2, 'the retried batch was dropped');

    // A token does not stick to later inserts (chdb would keep a SET for the session).
    await ch.insert('t', [{ k: 'b', v: 1 }]);
    await ch.insert('t', [{ k: 'b', v: 1 }]);
    assert.equal(await count('b'), 2, 'identical inserts without a token both count');

    await ch.insert('t', [{ k: 'c', v: 1 }], { dedupToken: 'other' });
    assert.equal(await count('c'), 1, 'a different token inserts');
    await ch.insert('t', []);
    assert.equal(await count('a') + (await count('b')) + (await count('c')), 5);
  });
});

test('a token deduplicates a whole insert whatever its body size: a body past the parallel-parsing chunk (10 MiB) is one block', async () => {
  await withTable('dedup_large', (t) => `CREATE TABLE ${t} (k String, pad String) ${MERGE_TREE_WITH_DEDUP}`, async ({ ch }) => {
    // ~16 MiB of body, past the 10 MiB chunks ClickHouse parses in parallel: every insert is
    // parsed and squashed into one block (ClickHouse.insert's settings), so the token names
    // the whole insert.
    const pad = 'x'.repeat(256);
    const rows = (n: number): Array<{ k: string; pad: string }> => Array.from({ length: n }, (_, i) => ({ k: `r${i}`, pad }));
    await ch.insert('t', rows(60_000), { dedupToken: 'sink:large:0-59999' });
    // The same offsets redelivered as a batch of another size (a capture toggle between
    // deliveries): the token names the insert, so none of it may be stored again.
    await ch.insert('t', rows(70_000), { dedupToken: 'sink:large:0-59999' });
    const [r] = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')}`);
    assert.equal(Number(r?.n), 60_000);
  });
});

test('a token deduplicates a whole insert past ClickHouse\'s block size: a redelivery with more rows stores none of them', async () => {
  await withTable('dedup_rows', (t) => `CREATE TABLE ${t} (k UInt32) ${MERGE_TREE_WITH_DEDUP}`, async ({ ch }) => {
    // Past min_insert_block_size_rows (1,048,449) ClickHouse cuts an insert into blocks, and
    // the token then names each block: before every insert was made one block, the second
    // delivery below stored its 51,551 rows past the first block.
    const rows = (n: number): Array<{ k: number }> => Array.from({ length: n }, (_, i) => ({ k: i }));
    await ch.insert('t', rows(1_000_000), { dedupToken: 'sink:rows:0-999999' });
    await ch.insert('t', rows(1_100_000), { dedupToken: 'sink:rows:0-999999' });
    const [r] = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')}`);
    assert.equal(Number(r?.n), 1_000_000);
  });
});

test('compact and keyed insert bodies store the same values: defaults, nulls, bigints, maps', async () => {
  await withTable(
    'compact',
    (t) => `CREATE TABLE ${t} (k String, v UInt32 DEFAULT 7, n Nullable(String), big UInt64, m Map(String, String), a Array(String)) ${MERGE_TREE_WITH_DEDUP}`,
    async ({ ch }) => {
      // Same keys in every row: the compact body, with a bigint beyond 2^53 (the replacer fallback).
      await ch.insert('t', [
        { k: 'a', v: 1, n: null, big: 2n ** 63n + 1n, m: { x: '1' }, a: ['p', "q'"] },
        { k: 'b', v: 2, n: 'x', big: 5n, m: {}, a: [] },
      ]);
      // Different keys (an undefined value counts as absent): keyed rows, so v takes its DEFAULT.
      await ch.insert('t', [
        { k: 'c', v: undefined, n: 'y', big: 0, m: {}, a: [] },
        { k: 'd', n: null, big: 1, m: { z: '' }, a: ['r'] },
      ]);
      const rows = await ch.query<{ k: string; v: number; n: string | null; big: string; m: Record<string, string>; a: string[] }>(
        `SELECT k, v, n, toString(big) AS big, m, a FROM ${ch.table('t')} ORDER BY k`,
      );
      assert.deepEqual(rows, [
        { k: 'a', v: 1, n: null, big: '9223372036854775809', m: { x: '1' }, a: ['p', "q'"] },
        { k: 'b', v: 2, n: 'x', big: '5', m: {}, a: [] },
        { k: 'c', v: 7, n: 'y', big: '0', m: {}, a: [] },
        { k: 'd', v: 7, n: null, big: '1', m: { z: '' }, a: ['r'] },
      ]);
    },
  );
});

test('optimizeOnInsert false: the rows go in as sent, collapsed later by merges and by readers; the token still deduplicates', async () => {
  await withTable(
    'ooi',
    (t) => `CREATE TABLE ${t} (k String, n UInt64) ENGINE = SummingMergeTree(n) ORDER BY k SETTINGS non_replicated_deduplication_window = 100`,
    async ({ ch }) => {
      // No merges: the rows each insert wrote stay as they are.
      await ch.command(`SYSTEM STOP MERGES ${ch.table('t')}`);
      const rows = [{ k: 'a', n: 1 }, { k: 'a', n: 2 }, { k: 'b', n: 5 }];
      await ch.insert('t', rows, { dedupToken: 'raw', optimizeOnInsert: false });
      await ch.insert('t', rows, { dedupToken: 'raw', optimizeOnInsert: false });
      await ch.insert('t', rows, { dedupToken: 'collapsed' });
      const sums = await ch.query<{ k: string; n: string | number }>(`SELECT k, sum(n) AS n FROM ${ch.table('t')} GROUP BY k ORDER BY k`);
      assert.deepEqual(sums.map((r) => [r.k, Number(r.n)]), [['a', 6], ['b', 10]], 'the retried insert was dropped; readers see the same sums');
      // Rows as stored: 3 as sent, then the default insert's collapsed to 2.
      const raw = await ch.query<{ n: string | number }>(`SELECT count() AS n FROM ${ch.table('t')}`);
      assert.equal(Number(raw[0]?.n), 5);
    },
  );
});

test('IPv4 goes into an IPv6 column mapped, and ipText() gives it back dotted', async () => {
  await withTable('ips', (t) => `CREATE TABLE ${t} (ip IPv6, label String) ${MERGE_TREE_WITH_DEDUP}`, async ({ ch }) => {
    await ch.insert('t', [
      { ip: '203.0.113.7', label: 'v4' },
      { ip: '2001:db8::1', label: 'v6' },
      { ip: '::ffff:198.51.100.9', label: 'mapped' },
    ]);
    const rows = await ch.query<{ raw: string; shown: string; label: string }>(
      `SELECT toString(ip) AS raw, ${ipText('ip')} AS shown, label FROM ${ch.table('t')} ORDER BY label`,
    );
    assert.deepEqual(rows, [
      { raw: '::ffff:198.51.100.9', shown: '198.51.100.9', label: 'mapped' },
      { raw: '::ffff:203.0.113.7', shown: '203.0.113.7', label: 'v4' },
      { raw: '2001:db8::1', shown: '2001:db8::1', label: 'v6' },
    ]);
    const hit = await ch.query<{ label: string }>(`SELECT label FROM ${ch.table('t')} WHERE ip = {ip:IPv6}`, { ip: '203.0.113.7' });
    assert.deepEqual(hit, [{ label: 'v4' }], 'binding dotted IPv4 as IPv6 matches the mapped value');
  });
});

test('bad SQL and bad data are rejected, not retryable', async () => {
  await withTable('rejected', (t) => `CREATE TABLE ${t} (n UInt8) ${MERGE_TREE_WITH_DEDUP}`, async ({ ch }) => {
    await assert.rejects(ch.query('SELEC 1'), (err: unknown) => {
      assert.ok(err instanceof ClickHouseRejectedError);
      assert.equal(err.code, 'LW_CH_REJECTED');
      assert.equal(err.clickhouseCode, 62); // SYNTAX_ERROR
      assert.equal(isRetryable(err), false);
      return true;
    });
    await assert.rejects(ch.query(`SELECT * FROM ${ch.table('missing')}`), (err: unknown) => {
      assert.ok(err instanceof ClickHouseRejectedError);
      assert.equal(err.clickhouseCode, 60); // UNKNOWN_TABLE
      return true;
    });
    await assert.rejects(ch.insert('t', [{ n: 'not a number' }]), (err: unknown) => {
      assert.ok(err instanceof ClickHouseRejectedError, String(err));
      assert.equal(isRetryable(err), false);
      return true;
    });
    assert.throws(() => ch.table('t; DROP'), /not a plain SQL identifier/);
  });
});

test('close waits for calls in flight, is idempotent, and refuses later calls', async () => {
  const t = await openTestClickHouse('close');
  const running = t.ch.query<{ n: string | number }>('SELECT count() AS n, sum(sipHash64(number)) AS h FROM numbers(3000000)');
  const closing = t.ch.close();
  await assert.rejects(t.ch.query('SELECT 1'), (err: unknown) => err instanceof ClickHouseLayerError && err.code === 'LW_CH_CLOSED');
  const [row] = await running;
  assert.equal(Number(row?.n), 3_000_000);
  await closing;
  await t.ch.close();
  // The engine is still healthy for the next connection (a close under a
  // running call would have aborted it); that one also drops the database.
  const again = await openClickHouse(t.options);
  const [one] = await again.query<{ x: number }>('SELECT 1 AS x');
  assert.equal(one?.x, 1);
  await again.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(t.options.database)} SYNC`);
  await again.close();
});

test('invalid options fail before connecting', async () => {
  await assert.rejects(openClickHouse({ database: 'bad-name', dataDir: '/nonexistent' }), (err: unknown) => {
    return err instanceof ClickHouseLayerError && err.code === 'LW_CH_BAD_CONFIG' && /database/.test(err.message);
  });
  await assert.rejects(openClickHouse({ database: 'x', dataDir: '/nonexistent', cluster: 'c1' }), (err: unknown) => {
    return err instanceof ClickHouseLayerError && err.code === 'LW_CH_BAD_CONFIG' && /cluster needs clickhouse.url/.test(err.message);
  });
  await assert.rejects(openClickHouse({ database: 'x', dataDir: '', url: 'ftp://127.0.0.1' }), (err: unknown) => {
    return err instanceof ClickHouseLayerError && err.code === 'LW_CH_BAD_CONFIG';
  });
});

// Server mode's failure paths need no server: a closed loopback port and a
// listener that never answers stand in for a ClickHouse that is down or hung.
async function listen(onConnection: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return { server, port: addr.port };
}

test('server mode: connection refused is "unavailable", retryable', async () => {
  const { server, port } = await listen((s) => s.destroy());
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(
    openClickHouse({ url: `http://127.0.0.1:${port}`, database: 'lw', dataDir: '' }),
    (err: unknown) => {
      assert.ok(err instanceof ClickHouseUnavailableError, String(err));
      assert.equal(isRetryable(err), true);
      assert.match(err.message, /ECONNREFUSED|connect/i);
      return true;
    },
  );
});

test('server mode: a server that never answers times out as "unavailable"', async () => {
  const sockets: Socket[] = [];
  const { server, port } = await listen((s) => sockets.push(s));
  try {
    await assert.rejects(
      openClickHouse({ url: `http://127.0.0.1:${port}`, database: 'lw', dataDir: '', requestTimeoutMs: 300 }),
      (err: unknown) => err instanceof ClickHouseUnavailableError && isRetryable(err),
    );
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('server mode: a ClickHouse error body is classified by its code', async () => {
  // What ClickHouse answers for a statement it refuses, and for an overload.
  const bodies = [
    { status: 400, body: 'Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR) (version 24.8.1.1)\n', retryable: false },
    { status: 500, body: 'Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS) (version 24.8.1.1)\n', retryable: true },
  ];
  for (const b of bodies) {
    const { server, port } = await listen((s) => {
      s.once('data', () => {
        s.end(`HTTP/1.1 ${b.status} Error\r\nContent-Type: text/plain\r\nX-ClickHouse-Exception-Code: 1\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(b.body)}\r\n\r\n${b.body}`);
      });
    });
    try {
      await assert.rejects(openClickHouse({ url: `http://127.0.0.1:${port}`, database: 'lw', dataDir: '' }), (err: unknown) => {
        assert.ok(err instanceof ClickHouseLayerError, String(err));
        assert.equal(err.retryable, b.retryable, err.message);
        assert.equal(err.clickhouseCode, Number(/Code: (\d+)/.exec(b.body)?.[1]));
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
});

test('isRetryable on raw errors', () => {
  const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
  assert.equal(isRetryable(sys), true);
  assert.equal(isRetryable(new Error('Timeout error.')), true);
  assert.equal(isRetryable(Object.assign(new Error('x'), { code: '241', type: 'MEMORY_LIMIT_EXCEEDED' })), true);
  assert.equal(isRetryable(Object.assign(new Error('x'), { code: '60', type: 'UNKNOWN_TABLE' })), false);
  assert.equal(isRetryable(new Error('Code: 62. DB::Exception: Syntax error (SYNTAX_ERROR)')), false);
  assert.equal(isRetryable(new TypeError('cannot read properties of undefined')), false);
  assert.equal(isRetryable(new Error('wrapped', { cause: sys })), true);
  assert.equal(isRetryable('a string'), false);
});

test('embedded: one process per data dir, one data dir per process', { skip: !embedded && 'embedded only' }, async () => {
  const t = await openTestClickHouse('exclusive');
  try {
    // Another process cannot open a data dir this one has open.
    const clientUrl = new URL('./client.js', import.meta.url).href;
    const script = `
      const { openClickHouse } = await import(${JSON.stringify(clientUrl)});
      try { await openClickHouse({ database: 'other', dataDir: ${JSON.stringify(t.ch.dataDir)} }); console.log(JSON.stringify({ opened: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, retryable: e.retryable, message: e.message })); }`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, LOGWARDEN_LOG_LEVEL: 'silent' },
    });
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { code?: string; retryable?: boolean; message?: string };
    assert.equal(out.code, 'LW_CH_UNAVAILABLE', JSON.stringify(out));
    assert.equal(out.retryable, true);
    assert.match(out.message ?? '', /in use by another process/);

    // And this process cannot open a second data dir while one is open.
    const other = mkdtempSync(join(tmpdir(), 'logwarden-ch-other-'));
    try {
      await assert.rejects(openClickHouse({ ...testClickHouseOptions('other'), dataDir: other }), (err: unknown) => {
        return err instanceof ClickHouseLayerError && err.code === 'LW_CH_EMBEDDED_DIR_BUSY';
      });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  } finally {
    await t.dispose();
  }
});

test('embedded mode without the optional chdb package says what to do', async () => {
  // A child process in which the package cannot be resolved, as after
  // `npm install --omit=optional`.
  const hook = `export async function resolve(s, c, next) {
    if (s === 'chdb' || s.startsWith('chdb/')) { const e = new Error("Cannot find package 'chdb'"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; }
    return next(s, c);
  }`;
  const clientUrl = new URL('./client.js', import.meta.url).href;
  const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-nochdb-'));
  const script = `
    const { register } = await import('node:module');
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    const { openClickHouse } = await import(${JSON.stringify(clientUrl)});
    try { await openClickHouse({ database: 'x', dataDir: ${JSON.stringify(dataDir)} }); console.log(JSON.stringify({ opened: true })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, retryable: e.retryable, message: e.message })); }`;
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, LOGWARDEN_LOG_LEVEL: 'silent' },
    });
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { code?: string; retryable?: boolean; message?: string };
    assert.equal(out.code, 'LW_CH_CHDB_MISSING', JSON.stringify(out));
    assert.equal(out.retryable, false);
    assert.match(out.message ?? '', /needs the optional package chdb \(npm install chdb\), or set clickhouse\.url \/ CLICKHOUSE_URL/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// A stand-in for the ClickHouse HTTP interface that records what it is sent,
// to check server mode's requests without a server (none runs here; set
// CLICKHOUSE_URL to run the other tests against a real one).
interface Captured {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function fakeClickHouse(answer: (req: Captured) => string = () => ''): Promise<{ url: string; seen: Captured[]; close(): Promise<void> }> {
  const seen: Captured[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const captured = { method: req.method ?? '', url: new URL(req.url ?? '/', 'http://x'), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(captured);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(captured.url.pathname === '/ping' ? 'Ok.\n' : answer(captured));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function sqlOf(c: Captured): string {
  return c.url.searchParams.get('query') ?? c.body;
}

test('server mode: requests carry the database, bound parameters and per-insert settings', async () => {
  const fake = await fakeClickHouse((c) => (/^SELECT/.test(sqlOf(c)) ? '{"x":"a\'b"}\n' : ''));
  try {
    const ch = await openClickHouse({ url: fake.url, username: 'lw', password: 'secret', database: 'lwdb', dataDir: '' });
    assert.equal(ch.mode, 'server');
    const [create] = fake.seen;
    assert.equal(sqlOf(create!).trim(), 'CREATE DATABASE IF NOT EXISTS `lwdb`');
    assert.equal(create!.url.searchParams.get('database'), null, 'created through a client bound to no database');

    const rows = await ch.query<{ x: string }>('SELECT {s:String} AS x', { s: "a'b" });
    assert.deepEqual(rows, [{ x: "a'b" }]);
    const select = fake.seen.at(-1)!;
    assert.equal(select.url.searchParams.get('database'), 'lwdb');
    // The value travels as a parameter (escaped as the HTTP interface wants), not in the SQL.
    assert.equal(select.url.searchParams.get('param_s'), "a\\'b");
    assert.match(sqlOf(select), /^SELECT \{s:String\} AS x\s+FORMAT JSONEachRow/);
    const auth = select.headers.authorization ?? select.headers['x-clickhouse-key'];
    assert.ok(auth, 'credentials are sent');

    await ch.insert('t', [{ a: 1, s: 'x' }, { a: 2n, s: 'y' }], { dedupToken: "tok'1" });
    const insert = fake.seen.at(-1)!;
    assert.equal(
      insert.url.searchParams.get('query'),
      "INSERT INTO `lwdb`.`t` (`a`, `s`) SETTINGS insert_deduplicate = 1, deduplicate_blocks_in_dependent_materialized_views = 1, insert_deduplication_token = 'tok\\'1', async_insert = 0, parallel_view_processing = 1, max_insert_block_size = 1000000000000, min_insert_block_size_rows = 1000000000000, min_insert_block_size_bytes = 0, input_format_parallel_parsing = 0 FORMAT JSONCompactEachRow",
    );
    assert.equal(insert.body, '[1,"x"]\n["2","y"]\n');
    // Rows with different keys keep the keyed format (a missing key takes the column default).
    await ch.insert('t', [{ a: 1, s: 'x' }, { a: 2 }], { dedupToken: 'tok2' });
    const keyed = fake.seen.at(-1)!;
    assert.match(keyed.url.searchParams.get('query') ?? '', /^INSERT INTO `lwdb`\.`t` SETTINGS .* FORMAT JSONEachRow$/);
    assert.equal(keyed.body, '{"a":1,"s":"x"}\n{"a":2}\n');
    // A sink's insert, without ClickHouse's collapse-on-insert pass.
    await ch.insert('t', [{ a: 3, s: 'z' }], { dedupToken: 'tok3', optimizeOnInsert: false });
    const raw = fake.seen.at(-1)!;
    assert.match(raw.url.searchParams.get('query') ?? '', /^INSERT INTO `lwdb`\.`t` \(`a`, `s`\) SETTINGS .*, optimize_on_insert = 0 FORMAT JSONCompactEachRow$/);
    assert.equal(raw.body, '[3,"z"]\n');

    assert.equal(await ch.ping(), true);
    await ch.close();
  } finally {
    await fake.close();
  }
});

test('server mode with a cluster: DDL runs ON CLUSTER with Replicated engines', async () => {
  const fake = await fakeClickHouse();
  try {
    const ch = await openClickHouse({ url: fake.url, database: 'lwdb', dataDir: '', cluster: 'prod' });
    await migrate(ch, { retentionDays: 30, requestsTtlDays: 1 });
    await ch.close();
    const ddl = fake.seen.map(sqlOf).filter((q) => /^(CREATE|ALTER|DROP)/.test(q.replace(/^(--[^\n]*\n)+/, '').trim()));
    // The database, schema_migrations, then every statement of every migration.
    assert.ok(ddl.length >= 5, ddl.join('\n---\n'));
    for (const q of ddl) assert.match(q, / ON CLUSTER `prod`/);
    const engines = ddl.flatMap((q) => [...q.matchAll(/ENGINE = (\w+)/g)].map((m) => m[1] as string));
    assert.deepEqual(engines.slice(0, 4), ['ReplicatedReplacingMergeTree', 'ReplicatedMergeTree', 'ReplicatedMergeTree', 'ReplicatedMergeTree']);
    for (const e of engines) assert.match(e, /^Replicated/, 'every table engine is replicated');
    assert.ok(fake.seen.some((c) => /^INSERT INTO `lwdb`.`schema_migrations`/.test(sqlOf(c))));
  } finally {
    await fake.close();
  }
});

// chdb keeps the output a statement wrote before it failed in the connection
// and hands it to the next statement, whoever runs it; the wrapper drains it.
test('a query that fails after streaming rows hands none of them to the next query', async () => {
  const t = await openTestClickHouse('bleed');
  try {
    const { ch } = t;
    const own = 'SELECT toUInt32(number) AS n FROM numbers(3)';
    const expected = [{ n: 0 }, { n: 1 }, { n: 2 }];
    const failing = [
      // Fails on a later row, after 50 blocks of 100 rows were written.
      'SELECT number, throwIf(number = 5000) AS x FROM numbers(10000) SETTINGS max_block_size = 100',
      // An overflow limit with mode throw, after the first blocks.
      'SELECT number FROM numbers(10000) SETTINGS max_block_size = 100, max_result_rows = 1000, result_overflow_mode = \'throw\'',
    ];
    for (const sql of failing) {
      await assert.rejects(ch.query(sql), ClickHouseRejectedError);
      assert.deepEqual(await ch.query(own), expected, sql);
    }
    // Two failures in a row, then a query with bound parameters.
    for (const sql of failing) await assert.rejects(ch.query(sql), ClickHouseRejectedError);
    assert.deepEqual(await ch.query('SELECT toUInt32(number) AS n FROM numbers({k:UInt32})', { k: 3 }), expected);
    // A query already waiting while the failing one runs, and a caller of the raw client.
    const [failed, next, raw] = await Promise.allSettled([
      ch.query(failing[0] as string),
      ch.query(own),
      ch.client.query({ query: own, format: 'JSONEachRow' }).then((rs) => rs.json()),
    ]);
    assert.equal(failed.status, 'rejected');
    assert.deepEqual(next, { status: 'fulfilled', value: expected });
    assert.deepEqual(raw, { status: 'fulfilled', value: expected });
    // A failed command (the same connection) leaves nothing behind either.
    await assert.rejects(ch.command(failing[1] as string), ClickHouseRejectedError);
    assert.deepEqual(await ch.query(own), expected);
  } finally {
    await t.dispose();
  }
});
