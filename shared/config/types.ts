// The resolved configuration every service receives. Durations from the file
// ("30s") arrive here as milliseconds under `<key>_ms`; secrets are read from
// the environment variable or file the YAML names, never from the YAML itself.
import type { PathFilter, SecurityFilter } from '../security-filter/index.js';

export interface SecurityConfig {
  enabled: boolean;
  realtime_capture: boolean;
  scan_interval_ms: number;
  retention_days: number;
  rate_threshold: number;
  auto_block_enabled: boolean;
  auto_block_threshold: number;
  auto_block_duration_ms: number;
  detection_window_ms: number;
  not_found_threshold: number;
  auth_failure_threshold: number;
  unique_paths_threshold: number;
  repeated_hits_threshold: number;
  /** The CDN document's security_filter at property level; {} when none (shared/config/security-filter.ts). */
  security_filter: SecurityFilter;
  security_filter_domains: Record<string, SecurityFilter>;
  security_filter_paths: PathFilter[];
}

export interface DetectionConfig {
  shards: number;
  late_tolerance_ms: number;
  escalation_factor: number;
  max_block_duration_ms: number;
  escalation_memory_ms: number;
  offence_half_life_ms: number;
  /** 0: no challenge tier. */
  challenge_threshold: number;
  challenge_duration_ms: number;
  ipv6_client_prefix: number;
  auth_paths: string;
  static_assets: string;
  whitelist: { ips: string[]; cidrs: string[]; paths: string[] };
  range_escalation: { enabled: boolean; min_ips: number; ipv4_prefix: number; ipv6_prefix: number };
  signatures: Array<{
    id: string;
    field: 'user_agent' | 'path' | 'query' | 'path_or_query';
    pattern: string;
    type: 'scan_detected' | 'suspicious';
    weight: number | 'block';
    description: string;
  }>;
  crawlers: CrawlersConfig;
}

/** Verification of clients that claim a known crawler's user agent (services/detector/crawlers/). */
export interface CrawlersConfig {
  enabled: boolean;
  /** DNS servers ("1.2.3.4", "1.2.3.4:53", "[::1]:53"); empty: the system's. */
  resolvers: string[];
  verified_ttl_ms: number;
  failed_ttl_ms: number;
  unavailable_retry_ms: number;
  max_entries: number;
  lookups_per_second: number;
  timeout_ms: number;
  extra: Array<{ name: string; user_agent: string; domains: string[] }>;
}

export interface KafkaConfig {
  brokers: string[];
  client_id: string;
  topic_prefix: string;
  partitions: number;
  replication_factor: number;
  min_insync_replicas: number;
  acks: 'all' | 1 | 0;
  compression: 'none' | 'gzip' | 'lz4' | 'zstd';
  producer_client: 'kafkajs' | 'librdkafka';
  linger_ms: number;
  batch_max_bytes: number;
  session_timeout_ms: number;
  ssl: boolean;
  sasl_mechanism: 'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512';
  sasl_username: string;
  password_env: string;
  password_file: string;
  /** Resolved from password_env / password_file. */
  sasl_password: string;
}

export interface ClickHouseConfig {
  url: string;
  database: string;
  data_dir: string;
  username: string;
  password_env: string;
  password_file: string;
  /** Resolved from password_env / password_file. */
  password: string;
  cluster: string;
  requests_ttl_ms: number;
  sink_batch_rows: number;
}

export interface IngestConfig {
  udp: { enabled: boolean; host: string; port: number; recv_buffer_bytes: number };
  tcp: { enabled: boolean; host: string; port: number };
  /** Bounds what every input (UDP, TCP, files) holds while the bus is unavailable. */
  buffer_max_bytes: number;
  /** Spill buffer on disk (services/ingester/disk-buffer.ts); max_bytes 0 turns it off. */
  disk_buffer: { max_bytes: number; segment_bytes: number; fsync: 'always' | 'interval' | 'never'; fsync_interval_ms: number };
  workers: number;
  log_format: string;
  max_line_bytes: number;
  oversize_lines: 'reject' | 'truncate';
  trusted_proxies: string[];
  deployments: Record<string, string>;
  node: string;
}

export interface NodeConfig {
  name: string;
  url: string;
  secret_env: string;
  secret_file: string;
  /** Resolved from secret_env / secret_file. */
  secret: string;
}

/** What the enforcer pushes to nodes for CHALLENGE responses (lua/logwarden/challenge.lua). */
export interface ChallengeConfig {
  difficulty: number;
  cookie_ttl_ms: number;
  key_rotation_ms: number;
}

export interface FeedConfig {
  name: string;
  source: string;
  format: 'plain' | 'csv';
  column: number;
  refresh_ms: number;
  block_duration_ms: number;
  /** '' = every deployment. */
  deployment: string;
  timeout_ms: number;
  max_size_bytes: number;
}

export interface ApiConfig {
  enabled: boolean;
  host: string;
  port: number;
  token_file: string;
  tokens: Array<{ name: string; role: 'admin' | 'analyst'; hash: string }>;
  auth_failures_per_minute: number;
  body_limit_bytes: number;
  tls: { cert_file: string; key_file: string };
  allow_insecure_remote: boolean;
}

export type NotificationKind = 'block' | 'challenge' | 'unblock' | 'event' | 'feed_failure' | 'node_out_of_sync';

/** One webhook of `notifications.targets` (services/notifier). */
export interface NotificationTarget {
  name: string;
  /** Resolved from url, url_env or url_file. */
  url: string;
  url_env: string;
  url_file: string;
  format: 'json' | 'slack';
  secret_env: string;
  secret_file: string;
  /** Resolved from secret_env / secret_file; '' only for an unsigned slack target. */
  secret: string;
  kinds: NotificationKind[];
  event_types: string[];
  /** Exact detector names, or prefixes ending in `*` ("signature:*"); empty: every detector. */
  detectors: string[];
  aggregate_window_ms: number;
  max_items: number;
  rate_limit: string;
  /** From rate_limit "<count>/<interval>". */
  rate_limit_count: number;
  rate_limit_interval_ms: number;
  timeout_ms: number;
  retries: number;
  retry_initial_ms: number;
  retry_max_ms: number;
  queue_max: number;
}

/** One SIEM target of `siem.targets` (services/notifier/siem-*.ts). */
export interface SiemTarget {
  name: string;
  /** Resolved from url, url_env or url_file. */
  url: string;
  url_env: string;
  url_file: string;
  /** From the URL's scheme: http (http, https), syslog (syslog+tcp), tcp (tcp: NDJSON lines). */
  transport: 'http' | 'syslog' | 'tcp';
  header: string;
  header_env: string;
  header_file: string;
  /** Resolved from header_env / header_file; '' for none. */
  header_value: string;
  records: Array<'events' | 'blocks'>;
  min_severity: 'low' | 'medium' | 'high' | 'critical';
  batch_size: number;
  flush_interval_ms: number;
  queue_max_bytes: number;
  timeout_ms: number;
  retry_initial_ms: number;
  retry_max_ms: number;
  /** 0: never. */
  give_up_after_ms: number;
}

export interface SocConfig {
  query_timeout: string;
  query_timeout_ms: number;
  max_rows_to_read: number;
  max_result_rows: number;
  max_result_bytes: number;
  max_memory_bytes: number;
  max_concurrent_queries_per_token: number;
  saved_queries_dir: string;
  export_max_rows: number;
}

export interface GeoConfig {
  enabled: boolean;
  max_age_ms: number;
}

export interface Config {
  security: SecurityConfig;
  detection: DetectionConfig;
  kafka: KafkaConfig;
  clickhouse: ClickHouseConfig;
  ingest: IngestConfig;
  nodes: NodeConfig[];
  challenge: ChallengeConfig;
  feeds: FeedConfig[];
  api: ApiConfig;
  notifications: { targets: NotificationTarget[] };
  siem: { targets: SiemTarget[] };
  soc: SocConfig;
  metrics: { host: string; port: number };
  geo: GeoConfig;
  data_dir: string;
  log_level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}
