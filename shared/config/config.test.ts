import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, ConfigError, type ConfigIssue } from './load.js';
import { parseDuration, formatDuration } from './duration.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const noEnv = {};

function issuesOf(text: string, env: NodeJS.ProcessEnv = noEnv): ConfigIssue[] {
  try {
    loadConfig({ text, env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('the config was accepted');
}

test('defaults are FlatRun security defaults, durations in ms', () => {
  const c = loadConfig({ text: '', env: noEnv });
  assert.deepEqual(c.security, {
    enabled: true,
    realtime_capture: false,
    scan_interval_ms: 30_000,
    retention_days: 30,
    rate_threshold: 100,
    auto_block_enabled: true,
    auto_block_threshold: 50,
    auto_block_duration_ms: 86_400_000,
    detection_window_ms: 120_000,
    not_found_threshold: 10,
    auth_failure_threshold: 5,
    unique_paths_threshold: 20,
    repeated_hits_threshold: 30,
    security_filter: {},
    security_filter_domains: {},
    security_filter_paths: [],
  });
  assert.deepEqual(c.kafka.brokers, []);
  assert.equal(c.api.port, 8090);
  assert.equal(c.ingest.udp.port, 5514);
  assert.equal(c.clickhouse.requests_ttl_ms, 86_400_000);
  assert.match(c.clickhouse.data_dir, /data\/clickhouse$/);
});

test('the shipped example file is valid and equals the defaults', () => {
  const text = readFileSync(`${root}/infra/logwarden.example.yaml`, 'utf8');
  assert.deepEqual(loadConfig({ text, env: noEnv }), loadConfig({ text: '', env: noEnv }));
});

test('a typo in a key fails with the key path and a suggestion', () => {
  const issues = issuesOf('security:\n  rate_treshold: 5\n');
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.path, 'security.rate_treshold');
  assert.match(issues[0]?.reason ?? '', /unknown key.*rate_threshold/);
});

test('unknown section, wrong type, negative threshold and bad duration each name their key', () => {
  const issues = issuesOf(
    ['secuirty: {}', 'security:', '  rate_threshold: -3', '  scan_interval: 30 seconds', '  enabled: "yes"', 'api:', '  port: 70000'].join('\n'),
  );
  const byPath = new Map(issues.map((i) => [i.path, i.reason]));
  assert.match(byPath.get('secuirty') ?? '', /unknown key.*"security"/);
  assert.match(byPath.get('security.rate_threshold') ?? '', /≥ 1/);
  assert.match(byPath.get('security.scan_interval') ?? '', /duration/);
  assert.match(byPath.get('security.enabled') ?? '', /boolean/);
  assert.match(byPath.get('api.port') ?? '', /≤ 65535/);
});

test('array items are named by index', () => {
  const issues = issuesOf('nodes:\n  - name: a\n    url: ftp://x\n  - url: http://y\n');
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['nodes[0].url', 'nodes[1].name']);
});

test('invalid YAML and a non-mapping file are refused', () => {
  assert.match(issuesOf('security: [\n')[0]?.reason ?? '', /not valid YAML/);
  assert.match(issuesOf('- a\n- b\n')[0]?.reason ?? '', /mapping/);
  assert.match(issuesOf('security:\n  enabled: true\n  enabled: false\n')[0]?.reason ?? '', /not valid YAML/);
});

test('environment variables override the file, with types kept', () => {
  const c = loadConfig({
    text: 'security:\n  rate_threshold: 10\nkafka:\n  brokers: ["a:1"]\n',
    env: {
      LOGWARDEN_KAFKA_BROKERS: '127.0.0.1:19092, 127.0.0.1:19093',
      CLICKHOUSE_URL: 'http://127.0.0.1:8123',
      LOGWARDEN__SECURITY__RATE_THRESHOLD: '250',
      LOGWARDEN__SECURITY__DETECTION_WINDOW: '5m',
      LOGWARDEN_API_PORT: '9000',
    },
  });
  assert.deepEqual(c.kafka.brokers, ['127.0.0.1:19092', '127.0.0.1:19093']);
  assert.equal(c.clickhouse.url, 'http://127.0.0.1:8123');
  assert.equal(c.security.rate_threshold, 250);
  assert.equal(c.security.detection_window_ms, 300_000);
  assert.equal(c.api.port, 9000);
});

test('a bad environment override is reported like a bad key', () => {
  const issues = issuesOf('', { LOGWARDEN__SECURITY__RATE_TRESHOLD: '5', LOGWARDEN_API_PORT: 'eighty' });
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['api.port', 'security.rate_treshold']);
});

test('secrets come from the named variable, never from the file', () => {
  const c = loadConfig({ text: 'nodes:\n  - name: edge\n    url: http://127.0.0.1:1\n', env: { LOGWARDEN_NODE_SECRET: 's3cret-of-16-chars-or-more', CLICKHOUSE_PASSWORD: 'pw' } });
  assert.equal(c.nodes[0]?.secret, 's3cret-of-16-chars-or-more');
  assert.deepEqual(issuesOf('nodes:\n  - name: edge\n    url: http://127.0.0.1:1\n', { LOGWARDEN_NODE_SECRET: 'short' }).map((i) => i.path), ['nodes[0].secret_env']);
  assert.equal(c.clickhouse.password, 'pw');
  assert.deepEqual(issuesOf('clickhouse:\n  password: hunter2\n').map((i) => i.path), ['clickhouse.password']);
});

test('regular expressions, addresses and ranges are checked at start', () => {
  const issues = issuesOf(
    [
      'detection:',
      '  auth_paths: "(unclosed"',
      '  whitelist: { ips: ["10.0.0.300"], cidrs: ["10.0.0.0/33", "192.0.2.0/24"] }',
      '  signatures: [{ id: mine, field: path, pattern: "[a-" }]',
      'ingest: { trusted_proxies: ["nope"] }',
    ].join('\n'),
  );
  assert.deepEqual(issues.map((i) => i.path).sort(), [
    'detection.auth_paths',
    'detection.signatures[0].pattern',
    'detection.whitelist.cidrs[0]',
    'detection.whitelist.ips[0]',
    'ingest.trusted_proxies[0]',
  ]);
});

test('the security_filter levels are validated at start, each problem named by its key in the file', () => {
  const property = issuesOf('security:\n  security_filter:\n    enabled: true\n    filter_rules: [{ id: r1, match: { ips: ["10.0.0.300"] } }]\n');
  assert.deepEqual(property.map((i) => i.path), ['security.security_filter.filter_rules[0].match.ips[0]']);
  const domain = issuesOf('security:\n  security_filter_domains: { shop.example: { enabled: true, filter_rules: [{ id: r1, match: { geo: [{ COUNTRY_CODE: UK }] } }] } }\n');
  assert.deepEqual(domain.map((i) => i.path), ['security.security_filter_domains["shop.example"].filter_rules[0].match.geo[0].COUNTRY_CODE']);
  const path = issuesOf('security:\n  security_filter_paths: [{ path: admin, security_filter: { enabled: true } }]\n');
  assert.deepEqual(path.map((i) => i.path), ['security.security_filter_paths[0].path']);
});

test('the CDN document\'s "security": { "security_filter": ... } JSON loads as written: the property level of the security: block', async () => {
  const { configRuleSet } = await import('./security-filter.js');
  // The document's JSON: an unquoted key and a trailing comma, which YAML reads.
  const pasted = [
    '"security" : {',
    '   "security_filter" : {',
    '      "enabled" : true,',
    '      "filter_rules" : [',
    '         { "id" : "r1", "match" : { "ips" : [ "172.19.0.0/23" ] }, except: { "ips" : [ "172.19.0.2" ] } },',
    '      ]',
    '   }',
    '}',
  ].join('\n');
  const c = loadConfig({ text: pasted, env: noEnv });
  assert.deepEqual(configRuleSet(c), {
    version: 1,
    property: { enabled: true, filter_rules: [{ id: 'r1', match: { ips: ['172.19.0.0/23'] }, except: { ips: ['172.19.0.2'] } }] },
  });
  assert.equal(c.security.rate_threshold, 100, 'FlatRun\'s keys keep their defaults beside it');
  const levels = loadConfig({
    text: 'security:\n  security_filter_domains: { shop.example: { enabled: true } }\n  security_filter_paths: [{ host: shop.example, path: /admin, security_filter: { enabled: false } }]\n',
    env: noEnv,
  });
  assert.deepEqual(configRuleSet(levels), {
    version: 1,
    domains: { 'shop.example': { enabled: true } },
    paths: [{ host: 'shop.example', path: '/admin', security_filter: { enabled: false } }],
  });
  assert.equal(configRuleSet(loadConfig({ text: '', env: noEnv })), null, 'no levels, no rule set');
});

test('the top-level security_filter document still works, deprecated: its levels move into security:', async () => {
  const { configRuleSet } = await import('./security-filter.js');
  const warnings: string[] = [];
  const c = loadConfig({
    text: 'security_filter:\n  version: 3\n  property: { enabled: true }\n  domains: { a.example: { enabled: false } }\n  paths: [{ path: /x, security_filter: { enabled: true } }]\n',
    env: noEnv,
    warn: (m) => void warnings.push(m),
  });
  assert.deepEqual(configRuleSet(c), {
    version: 1,
    property: { enabled: true },
    domains: { 'a.example': { enabled: false } },
    paths: [{ path: '/x', security_filter: { enabled: true } }],
  });
  assert.deepEqual(warnings, [
    'config key security_filter.property is deprecated: use security.security_filter',
    'config key security_filter.domains is deprecated: use security.security_filter_domains',
    'config key security_filter.paths is deprecated: use security.security_filter_paths',
  ]);
  assert.deepEqual(issuesOf('security_filter: { property: { enabled: true } }\nsecurity: { security_filter: { enabled: false } }\n').map((i) => i.path), ['security_filter.property']);
  assert.deepEqual(issuesOf('security_filter: { proprety: { enabled: true } }\n').map((i) => i.path), ['security_filter.proprety']);
  const old = issuesOf('security_filter:\n  property:\n    enabled: true\n    filter_rules: [{ id: r1, match: { ips: ["10.0.0.300"] } }]\n');
  assert.deepEqual(old.map((i) => i.path), ['security.security_filter.filter_rules[0].match.ips[0]']);
});

test('the resolved config is frozen', () => {
  const c = loadConfig({ text: '', env: noEnv });
  assert.throws(() => {
    (c as { data_dir: string }).data_dir = 'x';
  }, TypeError);
});

test('durations parse and format both ways', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  for (const bad of ['', '30', '30 s', '-5s', '1.5h', 's']) assert.equal(parseDuration(bad), undefined, bad);
  for (const ms of [0, 1, 999, 30_000, 5_400_000, 90_061_001]) assert.equal(parseDuration(formatDuration(ms)), ms);
});

test('the README config table lists every key with the default the code applies', async () => {
  const { configReference } = await import('./reference.js');
  const readme = readFileSync(`${root}/README.md`, 'utf8');
  for (const row of configReference()) {
    const line = readme.split('\n').find((l) => l.startsWith(`| \`${row.key}\` |`));
    assert.ok(line, `README documents ${row.key}`);
    assert.ok(line.includes(`| \`${row.default}\` |`), `README default of ${row.key} is ${row.default}`);
  }
});

test('kafka.session_timeout: the broker\'s bounds are checked at load, and the value reaches the bus as ms', () => {
  assert.deepEqual(issuesOf('kafka: { session_timeout: 2s }\n').map((i) => i.path), ['kafka.session_timeout']);
  assert.deepEqual(issuesOf('kafka: { session_timeout: 2h }\n').map((i) => i.path), ['kafka.session_timeout']);
  assert.equal(loadConfig({ text: 'kafka: { session_timeout: 10s }\n', env: noEnv }).kafka.session_timeout_ms, 10_000);
  assert.equal(loadConfig({ text: '', env: noEnv }).kafka.session_timeout_ms, 30_000);
});

test('kafka.min_insync_replicas: at most the replication factor, checked at load', () => {
  assert.deepEqual(issuesOf('kafka: { min_insync_replicas: 2 }\n').map((i) => i.path), ['kafka.min_insync_replicas']);
  const c = loadConfig({ text: 'kafka: { replication_factor: 3, min_insync_replicas: 2 }\n', env: noEnv });
  assert.equal(c.kafka.min_insync_replicas, 2);
  assert.equal(loadConfig({ text: '', env: noEnv }).kafka.min_insync_replicas, 1);
});

test('a renamed key still works under its old name, with a warning naming the new one; both set differently is an error naming both', () => {
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const old = loadConfig({ text: 'ingest: { udp: { buffer_max_bytes: 131072 } }', env: noEnv, warn });
  assert.equal(old.ingest.buffer_max_bytes, 131_072);
  assert.deepEqual(warnings, ['config key ingest.udp.buffer_max_bytes is deprecated: use ingest.buffer_max_bytes']);
  const fromEnv = loadConfig({ text: '', env: { LOGWARDEN__INGEST__UDP__BUFFER_MAX_BYTES: '262144' }, warn });
  assert.equal(fromEnv.ingest.buffer_max_bytes, 262_144, 'through an environment variable too');
  const same = loadConfig({ text: 'ingest: { buffer_max_bytes: 131072, udp: { buffer_max_bytes: 131072 } }', env: noEnv, warn });
  assert.equal(same.ingest.buffer_max_bytes, 131_072);
  assert.equal(warnings.length, 3);
  const issues = issuesOf('ingest: { buffer_max_bytes: 131072, udp: { buffer_max_bytes: 262144 } }');
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.path, 'ingest.udp.buffer_max_bytes');
  assert.match(issues[0]?.reason ?? '', /deprecated name of ingest\.buffer_max_bytes, which is set to a different value/);
  assert.equal(loadConfig({ text: 'ingest: { buffer_max_bytes: 131072 }', env: noEnv, warn }).ingest.buffer_max_bytes, 131_072);
  assert.equal(warnings.length, 3, 'the new name warns of nothing');
});

test('security.event_retention, the name FlatRun\'s Event Cleanup section uses, is retention_days; both set differently is an error naming both', () => {
  assert.equal(loadConfig({ text: 'security:\n  event_retention: 7d\n', env: noEnv }).security.retention_days, 7);
  assert.equal(loadConfig({ text: 'security: { event_retention: 14d, retention_days: 14 }\n', env: noEnv }).security.retention_days, 14);
  const both = issuesOf('security: { event_retention: 7d, retention_days: 30 }\n');
  assert.deepEqual(both.map((i) => i.path), ['security.event_retention']);
  assert.match(both[0]?.reason ?? '', /retention_days/);
  assert.deepEqual(issuesOf('security: { event_retention: 36h }\n').map((i) => i.path), ['security.event_retention']);
  assert.deepEqual(issuesOf('security: { event_retention: soon }\n').map((i) => i.path), ['security.event_retention']);
});

test('feeds: defaults with units, and every bad key named', () => {
  const c = loadConfig({ text: 'feeds:\n  - { name: drop, source: "https://www.spamhaus.org/drop/drop.txt" }\n', env: noEnv });
  const f = c.feeds[0] ?? assert.fail('a feed');
  assert.deepEqual(
    { format: f.format, column: f.column, refresh: f.refresh_ms, block: f.block_duration_ms, deployment: f.deployment, timeout: f.timeout_ms, max: f.max_size_bytes },
    { format: 'plain', column: 1, refresh: 3_600_000, block: 86_400_000, deployment: '', timeout: 30_000, max: 32 * 1024 * 1024 },
  );
  const paths = (yaml: string): string[] => issuesOf(`feeds:\n${yaml}`).map((i) => `${i.path}: ${i.reason}`);
  assert.deepEqual(paths('  - { name: a, source: "ftp://x/list" }\n'), ['feeds[0].source: must be a file path or an http:// or https:// URL: "ftp://x/list"']);
  assert.match(paths('  - { name: a, source: "https://u:p@x/list" }\n')[0] ?? '', /^feeds\[0\]\.source: must not hold credentials/);
  assert.deepEqual(paths('  - { name: a, source: /x, refresh: 1h, block_duration: 1h }\n').map((p) => p.split(':')[0]), ['feeds[0].block_duration']);
  assert.deepEqual(paths('  - { name: a, source: /x, max_size: 16MB7 }\n'), ['feeds[0].max_size: must be a size such as 512KiB, 16MiB or 1GiB']);
  assert.deepEqual(paths('  - { name: a, source: /x, refresh: soon }\n'), ['feeds[0].refresh: must be a duration such as 500ms, 30s, 2m, 24h or 7d']);
  assert.deepEqual(paths('  - { name: a, source: /x }\n  - { name: a, source: /y }\n').map((p) => p.split(':')[0]), ['feeds[1].name']);
  assert.deepEqual(paths('  - { name: A B, source: /x }\n').map((p) => p.split(':')[0]), ['feeds[0].name']);
  assert.deepEqual(paths('  - { name: a, source: /x, format: json }\n').map((p) => p.split(':')[0]), ['feeds[0].format']);
  assert.deepEqual(paths('  - { name: a, source: /x, colum: 2 }\n').map((p) => p.split(':')[0]), ['feeds[0].colum']);
});
