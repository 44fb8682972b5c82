// Loads logwarden.yaml: parse, apply environment overrides, validate against
// the schema (which fills defaults), then resolve durations to milliseconds
// (keys gain a `_ms` suffix) and secrets from their environment variables or
// files. Any problem stops the start with the path of the bad key.
import { readFileSync, existsSync } from 'node:fs';
import { Resolver } from 'node:dns';
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { isIpOrCidr, normalizeIp } from '../ip.js';
import { componentLogger } from '../log.js';
import { isLoopback } from '../loopback.js';
import { validateLogFormat } from '../access-log/formats/index.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { feedIssues } from './feeds.js';
import { readSecretRef } from './secret-ref.js';
import { parseSize } from './size.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { configSchema } from './schema.js';
import { inlineSecretIssues, resolveNotifications } from './notifications.js';
import { inlineSiemSecretIssues, resolveSiem } from './siem.js';
import { configRuleSetIssues } from './security-filter.js';
import type { Config } from './types.js';

export type { Config } from './types.js';
export { ConfigError, type ConfigIssue } from './errors.js';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
ajv.addFormat('duration', { type: 'string', validate: (s: string) => DURATION_PATTERN.test(s) && parseDuration(s) !== undefined });
ajv.addFormat('size', { type: 'string', validate: (s: string) => parseSize(s) !== undefined });
const validate = ajv.compile(configSchema);

/**
 * Environment variables that override config keys. Besides these names, any
 * `LOGWARDEN__SECTION__KEY=value` sets `section.key` (value read as YAML, so
 * `LOGWARDEN__SECURITY__RATE_THRESHOLD=200` is a number).
 */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: string; list?: boolean }> = [
  { env: 'LOGWARDEN_DATA_DIR', path: 'data_dir' },
  { env: 'LOGWARDEN_LOG_LEVEL', path: 'log_level' },
  { env: 'LOGWARDEN_KAFKA_BROKERS', path: 'kafka.brokers', list: true },
  { env: 'LOGWARDEN_TOPIC_PREFIX', path: 'kafka.topic_prefix' },
  { env: 'CLICKHOUSE_URL', path: 'clickhouse.url' },
  { env: 'CLICKHOUSE_USER', path: 'clickhouse.username' },
  { env: 'LOGWARDEN_UDP_PORT', path: 'ingest.udp.port' },
  { env: 'LOGWARDEN_UDP_HOST', path: 'ingest.udp.host' },
  { env: 'LOGWARDEN_API_PORT', path: 'api.port' },
  { env: 'LOGWARDEN_API_HOST', path: 'api.host' },
];

/**
 * Renamed keys, a row per rename: the old key (in the file or through
 * LOGWARDEN__... variables) still works, with a warning naming the new one;
 * both set to different values is an error naming both.
 */
export const DEPRECATED_KEYS: ReadonlyArray<{ old: string; now: string }> = [
  { old: 'ingest.udp.buffer_max_bytes', now: 'ingest.buffer_max_bytes' },
  // The top-level rule-set document { version, property, domains, paths }: its levels
  // now live in the security: block, beside the CDN document's own security_filter.
  { old: 'security_filter.property', now: 'security.security_filter' },
  { old: 'security_filter.domains', now: 'security.security_filter_domains' },
  { old: 'security_filter.paths', now: 'security.security_filter_paths' },
];

export interface LoadOptions {
  /** Path of the YAML file; absent: LOGWARDEN_CONFIG, else ./logwarden.yaml if it exists, else defaults only. */
  file?: string;
  /** YAML text instead of a file (tests). */
  text?: string;
  env?: NodeJS.ProcessEnv;
  /** Where warnings go (a deprecated key): the log by default. */
  warn?: (message: string) => void;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  let source = 'defaults';
  let text = opts.text;
  if (text === undefined) {
    const file = opts.file ?? env.LOGWARDEN_CONFIG ?? (existsSync('logwarden.yaml') ? 'logwarden.yaml' : undefined);
    if (file !== undefined) {
      source = resolve(file);
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(source, [{ path: '', reason: `cannot read the file: ${(err as Error).message}` }]);
      }
    }
  } else {
    source = 'text';
  }

  let raw: unknown = {};
  if (text !== undefined && text.trim() !== '') {
    try {
      raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (err) {
      const reason = err instanceof YAMLParseError ? err.message : String(err);
      throw new ConfigError(source, [{ path: '', reason: `not valid YAML: ${reason}` }]);
    }
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', reason: 'the file must hold a mapping of sections (security:, kafka:, ...)' }]);
  }
  const doc = raw as Record<string, unknown>;
  const warn = opts.warn ?? ((message: string) => componentLogger('config').warn(message));
  const envIssues = [...applyEnv(doc, env), ...applyDeprecatedKeys(doc, warn), ...dropEmptyLegacyFilter(doc), ...applyEventRetention(doc), ...inlineSecretIssues(doc), ...inlineSiemSecretIssues(doc)];
  if (envIssues.length > 0) throw new ConfigError(source, envIssues);

  if (!validate(doc)) throw new ConfigError(source, (validate.errors ?? []).map(describe));
  return resolveConfig(doc, env, source);
}

function setPath(doc: Record<string, unknown>, path: string[], value: unknown): void {
  let node = doc;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) return;
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function getPath(doc: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = doc;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function applyDeprecatedKeys(doc: Record<string, unknown>, warn: (message: string) => void): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const { old, now } of DEPRECATED_KEYS) {
    const oldPath = old.split('.');
    const value = getPath(doc, oldPath);
    if (value === undefined) continue;
    delete (getPath(doc, oldPath.slice(0, -1)) as Record<string, unknown>)[oldPath[oldPath.length - 1] as string];
    const current = getPath(doc, now.split('.'));
    if (current !== undefined && !isDeepStrictEqual(current, value)) {
      issues.push({ path: old, reason: `is the deprecated name of ${now}, which is set to a different value: keep only ${now}` });
      continue;
    }
    warn(`config key ${old} is deprecated: use ${now}`);
    setPath(doc, now.split('.'), value);
  }
  return issues;
}

/**
 * What is left of the deprecated top-level security_filter document once its levels
 * moved (applyDeprecatedKeys): its `version`, which the rule set nodes are given
 * replaces anyway. Anything else there is a key that never meant anything.
 */
function dropEmptyLegacyFilter(doc: Record<string, unknown>): ConfigIssue[] {
  const legacy = doc.security_filter;
  if (legacy === undefined) return [];
  if (legacy === null || typeof legacy !== 'object' || Array.isArray(legacy)) {
    return [{ path: 'security_filter', reason: 'is deprecated: write the CDN document\'s security_filter block inside security: (security.security_filter)' }];
  }
  const rest = Object.keys(legacy).filter((k) => k !== 'version');
  if (rest.length > 0) return rest.map((k) => ({ path: `security_filter.${k}`, reason: 'unknown key (allowed: version, property, domains, paths; all deprecated: use security.security_filter, security.security_filter_domains, security.security_filter_paths)' }));
  delete doc.security_filter;
  return [];
}

const DAY_MS = 86_400_000;

/**
 * FlatRun's documentation names the events' retention `event_retention` (its Event
 * Cleanup section) and its `security:` block `retention_days`: both are accepted, the
 * first as a duration of whole days (`7d`), as one setting; set to different values,
 * neither is taken.
 */
function applyEventRetention(doc: Record<string, unknown>): ConfigIssue[] {
  const security = getPath(doc, ['security']);
  if (security === null || typeof security !== 'object' || Array.isArray(security)) return [];
  const s = security as Record<string, unknown>;
  if (s.event_retention === undefined) return [];
  const ms = typeof s.event_retention === 'string' && DURATION_PATTERN.test(s.event_retention) ? parseDuration(s.event_retention) : undefined;
  if (ms === undefined || ms < DAY_MS || ms % DAY_MS !== 0) {
    return [{ path: 'security.event_retention', reason: 'must be a duration of whole days, such as 7d or 30d (the retention of security events)' }];
  }
  const days = ms / DAY_MS;
  if (s.retention_days !== undefined && s.retention_days !== days) {
    return [{ path: 'security.event_retention', reason: `says ${days} days and security.retention_days says ${JSON.stringify(s.retention_days)}: they are one setting, keep one of them` }];
  }
  delete s.event_retention;
  s.retention_days = days;
  return [];
}

function applyEnv(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v === undefined || v === '') continue;
    const value = o.list ? v.split(',').map((s) => s.trim()).filter(Boolean) : scalar(v);
    setPath(doc, o.path.split('.'), value);
  }
  for (const [name, v] of Object.entries(env)) {
    if (!name.startsWith('LOGWARDEN__') || v === undefined) continue;
    const path = name.slice('LOGWARDEN__'.length).toLowerCase().split('__').filter(Boolean);
    if (path.length === 0) {
      issues.push({ path: `env ${name}`, reason: 'names no key' });
      continue;
    }
    setPath(doc, path, scalar(v));
  }
  return issues;
}

// Environment values are strings; read them as YAML scalars so numbers and
// booleans keep their type, but keep a duration like "30s" a string.
function scalar(v: string): unknown {
  try {
    const parsed: unknown = parseYaml(v);
    return parsed === null ? v : parsed;
  } catch {
    return v;
  }
}

function pathOf(e: ErrorObject): string {
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function describe(e: ErrorObject): ConfigIssue {
  const path = pathOf(e);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const near = suggest(key, knownKeys(e.schemaPath));
      return { path: join(path, key), reason: `unknown key${near ? ` (did you mean "${near}"?)` : ''}` };
    }
    case 'format':
      if ((e.params as { format?: string }).format === 'size') return { path, reason: 'must be a size such as 512KiB, 16MiB or 1GiB' };
      return { path, reason: 'must be a duration such as 500ms, 30s, 2m, 24h or 7d' };
    case 'enum':
      return { path, reason: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'minimum':
      return { path, reason: `must be ≥ ${(e.params as { limit: number }).limit}` };
    case 'maximum':
      return { path, reason: `must be ≤ ${(e.params as { limit: number }).limit}` };
    case 'required':
      return { path: join(path, (e.params as { missingProperty: string }).missingProperty), reason: 'is required' };
    default:
      return { path, reason: e.message ?? e.keyword };
  }
}

function knownKeys(schemaPath: string): string[] {
  // schemaPath looks like "#/properties/security/additionalProperties".
  let node: unknown = configSchema;
  for (const seg of schemaPath.replace(/^#\//, '').split('/').slice(0, -1)) {
    if (node === null || typeof node !== 'object') return [];
    node = (node as Record<string, unknown>)[seg];
  }
  const props = (node as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

function suggest(key: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(key, c);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      prev[j] = Math.min((prev[j] as number) + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}

/** Durations become `<key>_ms` numbers; secrets are read from where the file points. */
function resolveConfig(doc: Record<string, unknown>, env: NodeJS.ProcessEnv, source: string): Config {
  const issues: ConfigIssue[] = [];
  const out = withMs(doc, configSchema) as Record<string, unknown>;
  const c = out as unknown as Config;
  const readSecret = (path: string, envName: string, file: string): string => readSecretRef(env, envName, file, path, issues);

  c.kafka.sasl_password = readSecret('kafka.password_file', c.kafka.password_env, c.kafka.password_file);
  c.clickhouse.password = readSecret('clickhouse.password_file', c.clickhouse.password_env, c.clickhouse.password_file);
  c.nodes.forEach((n, i) => {
    n.secret = readSecret(`nodes[${i}].secret_file`, n.secret_env, n.secret_file);
    // The control endpoint refuses shorter secrets; fail here, not at the first push.
    if (n.secret.length < 16) issues.push({ path: `nodes[${i}].secret_env`, reason: `${n.secret_env || 'the secret'} is unset or shorter than 16 characters (set it, or secret_file)` });
  });
  // The broker's default group.min/max.session.timeout.ms; a heartbeat every 3 s needs at least two per session.
  if (c.kafka.session_timeout_ms < 6_000 || c.kafka.session_timeout_ms > 1_800_000) {
    issues.push({ path: 'kafka.session_timeout', reason: 'must be between 6s and 30m (the broker refuses others)' });
  }
  if (c.kafka.min_insync_replicas > c.kafka.replication_factor) {
    issues.push({ path: 'kafka.min_insync_replicas', reason: `must be ≤ kafka.replication_factor (${c.kafka.replication_factor}): no write could ever be acknowledged` });
  }
  if (c.clickhouse.data_dir === '') c.clickhouse.data_dir = resolve(c.data_dir, 'clickhouse');
  if (c.api.token_file === '') c.api.token_file = resolve(c.data_dir, 'api-tokens.json');
  const tls = c.api.tls;
  if ((tls.cert_file === '') !== (tls.key_file === '')) issues.push({ path: tls.cert_file === '' ? 'api.tls.cert_file' : 'api.tls.key_file', reason: 'api.tls needs both cert_file and key_file' });
  for (const key of ['cert_file', 'key_file'] as const) {
    if (tls[key] !== '' && !existsSync(tls[key])) issues.push({ path: `api.tls.${key}`, reason: `no such file: ${tls[key]}` });
  }
  // Tokens are bearer secrets: off loopback they travel only inside TLS, unless the operator says otherwise.
  if (c.api.enabled && tls.cert_file === '' && !c.api.allow_insecure_remote && c.api.host !== 'localhost' && !isLoopback(c.api.host)) {
    issues.push({ path: 'api.host', reason: `${c.api.host} is not a loopback address: set api.tls (cert_file, key_file), or api.allow_insecure_remote: true` });
  }
  const regex = (path: string, source: string): void => {
    try {
      new RegExp(source);
    } catch (err) {
      issues.push({ path, reason: `not a valid regular expression: ${(err as Error).message}` });
    }
  };
  const d = c.detection;
  if (d.challenge_threshold > 0 && d.challenge_threshold >= c.security.auto_block_threshold) {
    issues.push({ path: 'detection.challenge_threshold', reason: `must be below security.auto_block_threshold (${c.security.auto_block_threshold}), or 0 to turn the challenge tier off` });
  }
  if (c.challenge.cookie_ttl_ms < 60_000 || c.challenge.cookie_ttl_ms > 7 * 86_400_000) issues.push({ path: 'challenge.cookie_ttl', reason: 'must be between 1m and 7d' });
  // The range nodes take (PUT /challenge's rotation, lua/logwarden/challenge.lua).
  if (c.challenge.key_rotation_ms < 60_000 || c.challenge.key_rotation_ms > 31_536_000_000) issues.push({ path: 'challenge.key_rotation', reason: 'must be from 1m to 365d' });
  issues.push(...configRuleSetIssues(c));
  const formatProblem = validateLogFormat(c.ingest.log_format);
  if (formatProblem) issues.push({ path: 'ingest.log_format', reason: formatProblem });
  regex('detection.auth_paths', c.detection.auth_paths);
  regex('detection.static_assets', c.detection.static_assets);
  c.detection.signatures.forEach((s, i) => regex(`detection.signatures[${i}].pattern`, s.pattern));
  c.detection.crawlers.extra.forEach((x, i) => regex(`detection.crawlers.extra[${i}].user_agent`, x.user_agent));
  c.detection.crawlers.resolvers.forEach((server, i) => {
    // node:dns's own parser: what it refuses here it would refuse at the first lookup.
    try {
      new Resolver().setServers([server]);
    } catch {
      issues.push({ path: `detection.crawlers.resolvers[${i}]`, reason: `not an address or address:port of a DNS server: ${JSON.stringify(server)}` });
    }
  });
  c.detection.whitelist.ips.forEach((ip, i) => {
    if (normalizeIp(ip) === undefined) issues.push({ path: `detection.whitelist.ips[${i}]`, reason: `not an IP address: ${JSON.stringify(ip)}` });
  });
  const cidrLists: Array<[string, readonly string[]]> = [
    ['detection.whitelist.cidrs', c.detection.whitelist.cidrs],
    ['ingest.trusted_proxies', c.ingest.trusted_proxies],
  ];
  for (const [path, list] of cidrLists) {
    list.forEach((cidr, i) => {
      if (!isIpOrCidr(cidr)) issues.push({ path: `${path}[${i}]`, reason: `not a CIDR block or address: ${JSON.stringify(cidr)}` });
    });
  }
  issues.push(...resolveNotifications(c, env));
  issues.push(...resolveSiem(c, env));
  issues.push(...feedIssues(c.feeds));
  if (c.kafka.sasl_mechanism !== 'none' && c.kafka.sasl_username === '') {
    issues.push({ path: 'kafka.sasl_username', reason: `is required when sasl_mechanism is ${c.kafka.sasl_mechanism}` });
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
  return deepFreeze(c);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

function withMs(value: unknown, schema: unknown): unknown {
  // Free-form parts of the document (security.security_filter*) have no schema below them.
  const s = (schema ?? {}) as { format?: string; properties?: Record<string, unknown>; items?: unknown };
  if (Array.isArray(value)) return value.map((v) => withMs(v, s.items));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const sub = s.properties?.[k] as { format?: string } | undefined;
    if (sub?.format === 'duration' && typeof v === 'string') out[`${k}_ms`] = parseDuration(v);
    else if (sub?.format === 'size' && typeof v === 'string') out[`${k}_bytes`] = parseSize(v);
    else out[k] = withMs(v, sub ?? {});
  }
  return out;
}
