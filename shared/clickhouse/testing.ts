// ClickHouse for tests: the real embedded engine (chdb) by default, or the
// server at CLICKHOUSE_URL (with CLICKHOUSE_USER, CLICKHOUSE_PASSWORD and
// CLICKHOUSE_CLUSTER when needed) so the same tests run against both.
//
// Embedded: one temporary data dir per process (chdb binds one per process,
// and node's test runner gives each test file its own process). Each test
// gets its own database in it, so tests stay independent in both modes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClickHouse, type ClickHouse, type ClickHouseOptions } from './client.js';

let dataDir: string | undefined;

function processDataDir(): string {
  if (!dataDir) {
    const dir = mkdtempSync(join(tmpdir(), 'logwarden-ch-test-'));
    dataDir = dir;
    // A safety net for a test file that forgets removeTestDataDir().
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return dataDir;
}

/** "server" when CLICKHOUSE_URL is set, else "embedded". */
export function testClickHouseMode(): 'server' | 'embedded' {
  return process.env.CLICKHOUSE_URL ? 'server' : 'embedded';
}

/** A database name no other test (or test run) uses. */
export function uniqueDatabase(base: string): string {
  const clean = base.replace(/[^A-Za-z0-9_]/g, '_');
  return `lwtest_${clean}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`;
}

/** Connection options for a test database (embedded or CLICKHOUSE_URL). */
export function testClickHouseOptions(database: string): ClickHouseOptions {
  const env = process.env;
  if (env.CLICKHOUSE_URL) {
    return {
      url: env.CLICKHOUSE_URL,
      username: env.CLICKHOUSE_USER,
      password: env.CLICKHOUSE_PASSWORD,
      cluster: env.CLICKHOUSE_CLUSTER || undefined,
      database,
      dataDir: processDataDir(),
    };
  }
  return { database, dataDir: processDataDir() };
}

export interface TestClickHouse {
  ch: ClickHouse;
  options: ClickHouseOptions;
  /** Drop the test database and close the connection. */
  dispose(): Promise<void>;
}

/** Open a fresh, empty database for one test. */
export async function openTestClickHouse(base: string): Promise<TestClickHouse> {
  const options = testClickHouseOptions(uniqueDatabase(base));
  const ch = await openClickHouse(options);
  return {
    ch,
    options,
    async dispose() {
      try {
        const onCluster = ch.cluster ? ` ON CLUSTER \`${ch.cluster}\`` : '';
        await ch.command(`DROP DATABASE IF EXISTS \`${ch.database}\`${onCluster} SYNC`);
      } finally {
        await ch.close();
      }
    },
  };
}

/** Remove this process's embedded data dir; call once every connection is closed. */
export function removeTestDataDir(): void {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
}

/**
 * The ClickHouse server variables of this process, for a test's loadConfig env:
 * tests pass a clean env (no stray LOGWARDEN_* override), yet must follow
 * CLICKHOUSE_URL when the suite runs against a server.
 */
export function clickHouseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...extra };
  for (const k of ['CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD']) if (process.env[k]) env[k] = process.env[k];
  return env;
}
