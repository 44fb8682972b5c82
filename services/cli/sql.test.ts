// `logwarden sql` as an analyst runs it: `node dist/services/cli/main.js sql ...`
// as a child process against the real API (startRuntime: api, embedded
// ClickHouse or CLICKHOUSE_URL, in-process bus) running while it queries.
// Table, --json and --csv output, saved queries with --param, exit codes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRuntime, type Runtime } from '../runtime.js';
import { testConfig } from '../../shared/testing/config.js';
import { csvField, parseParams } from './commands/sql.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const ADMIN = 'lw_sql-test-admin-token-0123456789abcdef';
const ANALYST = 'lw_sql-test-analyst-token-0123456789abcdef';
const dataDir = mkdtempSync(join(tmpdir(), 'logwarden-sql-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

test('--param and CSV fields', () => {
  assert.deepEqual(parseParams(['ip=203.0.113.7', 'q=a=b', 'e=']), { ip: '203.0.113.7', q: 'a=b', e: '' });
  assert.throws(() => parseParams(['noequals']), /NAME=VALUE/);
  assert.throws(() => parseParams(['a=1', 'a=2']), /twice/);
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,"b"'), '"a,""b"""');
  assert.equal(csvField('=HYPERLINK("http://x")'), `"'=HYPERLINK(""http://x"")"`);
  assert.equal(csvField(['/a', '/b']), '"[""/a"",""/b""]"');
  assert.equal(csvField(null), '');
});

describe('logwarden sql over the API', () => {
  let rt: Runtime;
  let base: string;

  before(async () => {
    const config = testConfig('sql', { dataDir, tokens: { admin: ADMIN, analyst: ANALYST }, sections: { ingest: { udp: { enabled: false } }, soc: { max_result_rows: 100 } } });
    rt = await startRuntime(config, new Set(['api']));
    base = `http://127.0.0.1:${rt.apiPort}`;
    const now = Date.now();
    const ev = (id: string, ip: string, path: string) => ({
      id, ts: now - 60_000, type: 'scan_detected', detector: 'unique_paths', ip, deployment: 'shop', count: 42, window_start: now - 120_000, window_end: now - 60_000, sample_paths: [path], details: {},
    });
    await rt.ch?.insert('events', [ev('a', '203.0.113.7', '/.env'), ev('b', '203.0.113.7', '=cmd|calc'), ev('c', '198.51.100.9', '/wp-login.php')]);
  });
  after(async () => {
    await rt.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const cli = (args: string[], opts: { token?: string | null; stdin?: string } = {}): Promise<Run> => {
    const token = opts.token === undefined ? ANALYST : opts.token;
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', LOGWARDEN_API_URL: base, ...(token === null ? {} : { LOGWARDEN_TOKEN: token }) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.end(opts.stdin ?? '');
    return new Promise<Run>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  };
  const expectExit = async (args: string[], code: number, opts: Parameters<typeof cli>[1] = {}): Promise<Run> => {
    const r = await cli(args, opts);
    assert.equal(r.code, code, `logwarden ${args.join(' ')} exited ${r.code}, not ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };

  const Q = "SELECT replaceRegexpOne(IPv6NumToString(ip), '^::ffff:', '') AS addr, count() AS n FROM events WHERE deployment = {d:String} GROUP BY addr ORDER BY n DESC, addr";

  test('a query with --param prints a table; --json the API answer; --csv CSV', async () => {
    const table = await expectExit(['sql', Q, '--param', 'd=shop'], 0);
    assert.deepEqual(table.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)), [['addr', 'n'], ['203.0.113.7', '2'], ['198.51.100.9', '1']]);
    assert.match(table.stderr, /2 rows in \d+ ms/);
    const json = JSON.parse((await expectExit(['sql', Q, '--param', 'd=shop', '--json'], 0)).stdout) as { data: { columns: unknown[]; rows: Array<Record<string, unknown>> } };
    assert.deepEqual(json.data.rows.map((r) => [r.addr, Number(r.n)]), [['203.0.113.7', 2], ['198.51.100.9', 1]]);
    const csv = await expectExit(['sql', "SELECT id, sample_paths[1] AS path FROM events ORDER BY id", '--csv'], 0);
    assert.equal(csv.stdout, "id,path\r\na,/.env\r\nb,'=cmd|calc\r\nc,/wp-login.php\r\n");
    const stdin = await expectExit(['sql', '-', '--param', 'd=shop', '--json'], 0, { stdin: Q });
    assert.equal((JSON.parse(stdin.stdout) as { data: { rows: unknown[] } }).data.rows.length, 2);
  });

  test('saved queries: --list, and --saved NAME with --param', async () => {
    const list = await expectExit(['sql', '--list'], 0);
    assert.match(list.stdout, /address_story\s+ip:IPv6 days:UInt32=30 detail_hours:UInt32=24\s+An address's full story/);
    const story = await expectExit(['sql', '--saved', 'address_story', '--param', 'ip=203.0.113.7', '--json'], 0);
    assert.deepEqual((JSON.parse(story.stdout) as { data: { rows: Array<{ kind: string }> } }).data.rows.filter((r) => r.kind !== 'events per hour').map((r) => r.kind), ['event', 'event']);
    await expectExit(['sql', '--saved', 'address_story'], 5);
    await expectExit(['sql', '--saved', 'no_such_query'], 4);
  });

  test('exit codes: usage 2, refused or limited by the API 5, no token 3, API down 1', async () => {
    await expectExit(['sql'], 2);
    await expectExit(['sql', 'SELECT 1', '--param', 'oops'], 2);
    await expectExit(['sql', 'SELECT 1', '--json', '--csv'], 2);
    await expectExit(['sql', 'SELECT 1', '--saved', 'x'], 2);
    const refused = await expectExit(['sql', 'DROP TABLE events'], 5);
    assert.match(refused.stderr, /LW_API_SQL_REFUSED/);
    const limited = await expectExit(['sql', 'SELECT number FROM numbers(1000)'], 5);
    assert.match(limited.stderr, /soc\.max_result_rows/);
    await expectExit(['sql', 'SELECT 1'], 3, { token: null });
    // The admin role reads too.
    await expectExit(['sql', 'SELECT 1'], 0, { token: ADMIN });
  });
});
