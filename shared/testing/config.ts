// A test's configuration in one call: a topic prefix and a ClickHouse database
// of its own (so test files never share state), its data directory, quiet
// logs, API tokens by hash, and whatever sections the test needs on top. Built
// as an object and handed to the real loader as YAML (JSON is YAML), so the
// test runs the validation operators get.
import { hashToken } from '../auth/tokens.js';
import { clickHouseEnv } from '../clickhouse/testing.js';
import { loadConfig, type Config } from '../config/load.js';
import { uniqueName } from './kafka.js';

export interface TestConfigOptions {
  dataDir: string;
  /** Real brokers (kafkaBrokers()), or the in-process bus when absent. */
  brokers?: string[];
  /** Bearer tokens by role; only their hashes reach the config. */
  tokens?: { admin?: string; analyst?: string };
  /** Sections merged over the defaults above (kafka, api, ingest, security, nodes, ...). */
  sections?: Record<string, unknown>;
  /** Environment beside CLICKHOUSE_* (a node's secret). */
  env?: NodeJS.ProcessEnv;
}

export function testConfig(name: string, o: TestConfigOptions): Config {
  const s = (o.sections ?? {}) as Record<string, Record<string, unknown> | unknown[] | undefined>;
  const section = (key: string): Record<string, unknown> => (s[key] as Record<string, unknown> | undefined) ?? {};
  const tokens = Object.entries(o.tokens ?? {}).map(([role, token]) => ({ name: role === 'admin' ? 'ops' : 'soc', role, hash: hashToken(token) }));
  const doc: Record<string, unknown> = {
    ...s,
    kafka: { brokers: o.brokers ?? [], topic_prefix: `${uniqueName(name)}.`, ...section('kafka') },
    clickhouse: { database: uniqueName(name).replace(/[^A-Za-z0-9_]/g, '_'), ...section('clickhouse') },
    api: { port: 0, ...(tokens.length > 0 ? { tokens } : {}), ...section('api') },
    data_dir: o.dataDir,
    log_level: 'warn',
  };
  return loadConfig({ text: JSON.stringify(doc), env: clickHouseEnv(o.env) });
}
