// The configuration file's JSON Schema: it holds every default, rejects
// unknown keys and wrong types, and is the single source the README's config
// table is checked against (config.test.ts). The `security:` block mirrors
// FlatRun's security module key for key, with the same defaults.

type Schema = Record<string, unknown>;

const dur = (def: string, description: string): Schema => ({ type: 'string', format: 'duration', default: def, description });
const int = (def: number, min: number, description: string, max?: number): Schema => ({
  type: 'integer',
  minimum: min,
  ...(max === undefined ? {} : { maximum: max }),
  default: def,
  description,
});
const bool = (def: boolean, description: string): Schema => ({ type: 'boolean', default: def, description });
const str = (def: string, description: string, extra: Schema = {}): Schema => ({ type: 'string', default: def, description, ...extra });
const section = (properties: Record<string, Schema>, description: string): Schema => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  description,
  properties,
});
const port = (def: number, description: string): Schema => int(def, 0, description, 65535);
const hostPort = { type: 'string', pattern: '^[^\\s:]+:\\d{1,5}$|^\\[[0-9a-fA-F:.]+\\]:\\d{1,5}$' };
// A secret is never written in the file: the file names where to read it.
const secretRef = (envDefault: string, what: string): Record<string, Schema> => ({
  password_env: str(envDefault, `environment variable holding the ${what} password`),
  password_file: str('', `file holding the ${what} password (used when the variable is unset)`),
});

/** One blocklist feed (the config's feeds[] items, and the API's feed body): defaults in one place. */
export const FEED_PROPERTIES: Record<string, Schema> = {
  name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', description: 'the feed\'s name: its blocks have source feed:<name>' },
  source: { type: 'string', minLength: 1, maxLength: 2048, description: 'a local file path, or an http:// or https:// URL' },
  format: { type: 'string', enum: ['plain', 'csv'], default: 'plain', description: 'plain: an address or CIDR a line, # and ; start comments (FireHOL .netset, Spamhaus DROP); csv: one column of a comma-separated file' },
  column: { type: 'integer', minimum: 1, maximum: 1000, default: 1, description: 'csv: the column holding the address or CIDR (1 = first)' },
  refresh: { type: 'string', format: 'duration', default: '1h', description: 'how often the source is fetched again' },
  block_duration: { type: 'string', format: 'duration', default: '24h', description: 'how long an entry stays blocked after the feed last listed it (renewed while listed; at least 2 × refresh)' },
  deployment: { type: 'string', pattern: '^[A-Za-z0-9_.-]{0,128}$', default: '', description: 'limit the blocks to one deployment; "" = every deployment' },
  timeout: { type: 'string', format: 'duration', default: '30s', description: 'a fetch taking longer fails' },
  max_size: { type: 'string', format: 'size', default: '32MiB', description: 'a body larger than this is refused' },
};

export const configSchema: Schema = {
  $id: 'logwarden-config',
  type: 'object',
  additionalProperties: false,
  properties: {
    security: section(
      {
        enabled: bool(true, 'master switch of detection and enforcement'),
        realtime_capture: bool(false, 'store every request in ClickHouse `requests` (short TTL)'),
        scan_interval: dur('30s', 'event flush and node reconciliation interval'),
        retention_days: int(30, 1, 'days security events are kept (ClickHouse TTL)'),
        rate_threshold: int(100, 1, 'requests per IP within detection_window before rate_limited'),
        auto_block_enabled: bool(true, 'block IPs whose event count reaches auto_block_threshold'),
        auto_block_threshold: int(50, 1, 'events per IP within detection_window that trigger a block'),
        auto_block_duration: dur('24h', 'duration of an automatic block'),
        detection_window: dur('2m', 'sliding window of every detector'),
        not_found_threshold: int(10, 1, '404 responses per IP within the window', 255),
        auth_failure_threshold: int(5, 1, '401/403 responses on auth routes per IP within the window', 255),
        unique_paths_threshold: int(20, 1, 'distinct paths per IP within the window (scan)', 255),
        repeated_hits_threshold: int(30, 1, 'hits on one path per IP within the window'),
        // The CDN document's `"security": { "security_filter": { ... } }`, pasted as it is
        // written: its security block is this one, its security_filter the property level.
        // Checked at load by the security_filter validator, not here (free-form below).
        security_filter: {
          type: 'object',
          default: {},
          description: 'the CDN document\'s security_filter block at property level (every host): { enabled, filter_rules, response_handling }; {} = none',
        },
        security_filter_domains: {
          type: 'object',
          additionalProperties: { type: 'object' },
          default: {},
          description: 'security_filter blocks per domain: { "<host>": { enabled, filter_rules, ... } }; a domain\'s block replaces the property level for that host',
        },
        security_filter_paths: {
          type: 'array',
          items: { type: 'object' },
          default: [],
          description: 'security_filter blocks per path: [{ host?, path, security_filter }]; without host every host; the most specific path applies',
        },
      },
      'detection and blocking (FlatRun `security:` block, same keys and defaults; security_filter* are the CDN document\'s levels)',
    ),
    detection: section(
      {
        shards: int(2, 1, 'detector worker threads per process; each owns the IPs hashing to it', 64),
        late_tolerance: dur('5m', 'records older than the newest seen minus this are counted late, not detected'),
        escalation_factor: { type: 'number', minimum: 1, maximum: 100, default: 2, description: 'a repeat offender\'s ban is auto_block_duration × factor^level' },
        max_block_duration: dur('30d', 'cap of an escalated ban'),
        escalation_memory: dur('7d', 'how long a ban counts toward the next one\'s level'),
        offence_half_life: dur('20m', 'a client\'s offence evidence (404s, failed logins, scans, signatures) is remembered beyond the window, halving every this long; blocked when it reaches auto_block_threshold; 0s turns it off'),
        challenge_threshold: int(0, 0, 'offence weight (as auto_block_threshold counts it) at which a client is challenged before it is blocked: nginx answers it with a page a browser passes without interaction; 0 turns the tier off; below auto_block_threshold'),
        challenge_duration: dur('1h', 'how long an automatic challenge lasts'),
        ipv6_client_prefix: int(64, 16, 'IPv6 clients are counted and blocked per network of this prefix length (128: per address)', 128),
        auth_paths: str(
          '^/(login|signin|sign-in|logon|wp-login\\.php|xmlrpc\\.php|admin|administrator|user/login|users/sign_in|auth|api/(auth|login|session|token|v\\d+/(auth|login)))(/|$|\\.)',
          'paths (regular expression) where a 403 is an authentication failure; a 401 always is',
        ),
        static_assets: str(
          '\\.(css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|eot|otf|mp4|webm)$',
          'successful requests for these paths (regular expression) are not new paths for unique_paths; "" counts everything',
        ),
        whitelist: section(
          {
            ips: { type: 'array', items: { type: 'string' }, default: [], description: 'addresses never counted nor blocked' },
            cidrs: { type: 'array', items: { type: 'string' }, default: [], description: 'ranges never counted nor blocked' },
            paths: { type: 'array', items: { type: 'string' }, default: [], description: 'paths never counted ("/health", or a prefix "/static/*")' },
          },
          'static whitelist (the API adds entries at run time)',
        ),
        range_escalation: section(
          {
            enabled: bool(false, 'propose a range block when several IPs of one range are banned within the window'),
            min_ips: int(5, 2, 'banned IPs of one range that make it a range block'),
            ipv4_prefix: int(24, 8, 'IPv4 range size (prefix length)', 32),
            ipv6_prefix: int(64, 16, 'IPv6 range size (prefix length)', 128),
          },
          'range escalation (off by default)',
        ),
        signatures: {
          type: 'array',
          default: [],
          description: 'operator signatures added to the shipped set',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'field', 'pattern'],
            properties: {
              id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]*$' },
              field: { enum: ['user_agent', 'path', 'query', 'path_or_query'] },
              pattern: { type: 'string', minLength: 1 },
              type: { enum: ['scan_detected', 'suspicious'], default: 'suspicious' },
              weight: { anyOf: [{ type: 'integer', minimum: 0 }, { const: 'block' }], default: 10 },
              description: { type: 'string', default: '' },
            },
          },
        },
        crawlers: section(
          {
            enabled: bool(true, 'verify clients whose user agent claims a known crawler (reverse DNS in the owner\'s domain, forward DNS back to the address); false treats them as any client'),
            resolvers: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'DNS servers for the verification (1.2.3.4, 1.2.3.4:53, [::1]:53); empty uses the system\'s' },
            verified_ttl: dur('24h', 'how long a verified crawler address stays verified before it is looked up again'),
            failed_ttl: dur('1h', 'how long a failed verification stands before it is looked up again'),
            unavailable_retry: dur('1m', 'when DNS did not answer (timeout, SERVFAIL, refused): wait this long before trying again'),
            max_entries: int(100_000, 1, 'addresses the verification cache holds per detector shard (least recently used go first)'),
            lookups_per_second: int(20, 1, 'verifications (a reverse and a forward query) started per second per detector shard; over it, a claim stays unverified until later'),
            timeout: dur('2s', 'timeout of one DNS query'),
            extra: {
              type: 'array',
              default: [],
              description: 'operator crawlers added to the shipped list (services/detector/crawlers/known.json); one with a shipped name replaces it',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'user_agent', 'domains'],
                properties: {
                  name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' },
                  user_agent: { type: 'string', minLength: 1 },
                  // At least two labels: a bare "com" would verify half the internet.
                  domains: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$' } },
                },
              },
            },
          },
          'verified crawlers: a verified one is exempt from the behaviour detectors',
        ),
      },
      'detector internals beyond FlatRun\'s security block',
    ),
    kafka: section(
      {
        brokers: {
          type: 'array',
          items: hostPort,
          default: [],
          description: 'bootstrap brokers; empty runs the in-process bus (embedded mode)',
        },
        client_id: str('logwarden', 'Kafka client id'),
        topic_prefix: str('logwarden.', 'prefix of every topic name', { pattern: '^[A-Za-z0-9._-]*$' }),
        partitions: int(12, 1, 'partitions of topics logwarden creates'),
        replication_factor: int(1, 1, 'replication factor of topics logwarden creates'),
        min_insync_replicas: int(1, 1, 'min.insync.replicas of topics logwarden creates: with acks all a write needs this many replicas in sync, else it waits (2 with replication_factor 3 survives a broker lost); at most replication_factor'),
        acks: { enum: ['all', 1, 0], default: 'all', description: 'producer acks: all, 1 or 0' },
        compression: { enum: ['none', 'gzip', 'lz4', 'zstd'], default: 'none', description: 'producer compression codec (every codec is read whatever this says)' },
        producer_client: {
          enum: ['kafkajs', 'librdkafka'],
          default: 'kafkajs',
          description: 'the client that publishes: kafkajs, or librdkafka (@confluentinc/kafka-javascript, installed only by infra/kafka/install-librdkafka.sh; ~2.5× less CPU a record); consumers always use kafkajs',
        },
        linger: dur('5ms', 'how long a producer batch waits for more records'),
        batch_max_bytes: int(1_048_576, 1024, 'upper bound of one producer batch'),
        session_timeout: dur('30s', 'how long a consumer group waits for a silent member (a killed detector) before its partitions move to the others; 6s to 30m'),
        ssl: bool(false, 'TLS to the brokers'),
        sasl_mechanism: { enum: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'], default: 'none', description: 'SASL mechanism' },
        sasl_username: str('', 'SASL user'),
        ...secretRef('LOGWARDEN_KAFKA_PASSWORD', 'SASL'),
      },
      'the bus in distributed mode',
    ),
    clickhouse: section(
      {
        url: str('', 'ClickHouse server URL (http[s]://host:8123); empty uses the embedded engine (chdb)'),
        database: str('logwarden', 'database name', { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
        data_dir: str('', 'embedded engine data directory (default: <data_dir>/clickhouse)'),
        username: str('default', 'server user'),
        ...secretRef('CLICKHOUSE_PASSWORD', 'ClickHouse'),
        cluster: str('', 'cluster name: DDL runs ON CLUSTER with Replicated engines', { pattern: '^[A-Za-z0-9_]*$' }),
        requests_ttl: dur('1d', 'how long captured requests are kept'),
        sink_batch_rows: int(50_000, 100, 'most records a sink stores per insert; also its insert block size, so change it only with the sinks caught up', 1_000_000),
      },
      'storage',
    ),
    ingest: section(
      {
        udp: section(
          {
            enabled: bool(true, 'listen for syslog over UDP (what nginx sends)'),
            host: str('127.0.0.1', 'UDP listen address'),
            port: port(5514, 'UDP listen port'),
            recv_buffer_bytes: int(33_554_432, 65_536, 'kernel receive buffer asked for the UDP socket (capped by net.core.rmem_max)'),
          },
          'UDP syslog input',
        ),
        tcp: section(
          {
            enabled: bool(false, 'listen for syslog over TCP (rsyslog/syslog-ng relays)'),
            host: str('127.0.0.1', 'TCP listen address'),
            port: port(5514, 'TCP listen port'),
          },
          'TCP syslog input',
        ),
        buffer_max_bytes: int(67_108_864, 65_536, 'memory bound of lines (UDP, TCP and file input) held while Kafka is unavailable; formerly ingest.udp.buffer_max_bytes'),
        disk_buffer: section(
          {
            max_bytes: int(1_073_741_824, 0, 'disk bound of the spill buffer under <data_dir>/ingest-buffer, used when memory is full or Kafka unavailable; 0 = no disk buffer'),
            segment_bytes: int(16_777_216, 65_536, 'size at which a spill segment file is closed and a new one started'),
            fsync: { enum: ['always', 'interval', 'never'], default: 'interval', description: 'when spilled records are fsynced: every write, every fsync_interval, or as the OS decides' },
            fsync_interval: dur('1s', 'how often spilled records are fsynced when fsync is interval'),
          },
          'disk spill buffer in front of Kafka',
        ),
        workers: int(1, 1, 'ingester processes sharing the UDP socket', 64),
        log_format: str('json', '`json` (the shipped log_format), `combined`, or an nginx log_format string'),
        max_line_bytes: int(65_536, 256, 'longest accepted access-log line'),
        oversize_lines: { enum: ['reject', 'truncate'], default: 'reject', description: 'what happens to a longer line' },
        trusted_proxies: {
          type: 'array',
          items: { type: 'string' },
          default: [],
          description: 'CIDRs whose X-Forwarded-For is believed',
        },
        deployments: {
          type: 'object',
          additionalProperties: { type: 'string' },
          default: {},
          description: 'host → deployment map, used when the log line has no deployment',
        },
        node: str('', 'node name when the syslog header carries none'),
      },
      'syslog and file ingestion',
    ),
    nodes: {
      type: 'array',
      default: [],
      description: 'OpenResty nodes: the Lua module endpoint of each, which the enforcer keeps in sync',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url'],
        properties: {
          name: { type: 'string', minLength: 1 },
          url: { type: 'string', pattern: '^https?://' },
          secret_env: { type: 'string', default: 'LOGWARDEN_NODE_SECRET' },
          secret_file: { type: 'string', default: '' },
        },
      },
    },
    challenge: section(
      {
        difficulty: int(16, 8, 'proof of work of the challenge page, in leading zero bits of SHA-1 (16: about 65k hashes, a fraction of a second in a browser)', 24),
        cookie_ttl: dur('1h', 'how long a passed challenge lets the client in (its signed cookie; 1m to 7d)'),
        key_rotation: dur('24h', 'the signing key changes this often (derived from each node\'s secret); the previous one stays accepted for one more period'),
      },
      'CHALLENGE responses (security_filter rules, detection.challenge_threshold): what the enforcer pushes to the nodes',
    ),
    feeds: {
      type: 'array',
      default: [],
      description: 'blocklist feeds: [{ name, source (a file or an http(s) URL), format (plain or csv), column, refresh, block_duration, deployment, timeout, max_size }]; each entry becomes a block of source feed:<name>',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'source'],
        properties: FEED_PROPERTIES,
      },
    },
    api: section(
      {
        enabled: bool(true, 'serve the management API'),
        host: str('127.0.0.1', 'listen address'),
        port: port(8090, 'listen port'),
        token_file: str('', 'where the generated admin token hash is kept (default: <data_dir>/api-tokens.json)'),
        tokens: {
          type: 'array',
          default: [],
          description: 'API tokens, by hash only (`logwarden token` prints a new token and its entry): [{ name, role: admin|analyst, hash: "sha256:<hex>" }]',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'role', 'hash'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
              role: { type: 'string', enum: ['admin', 'analyst'] },
              hash: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
            },
          },
        },
        auth_failures_per_minute: int(10, 1, 'failed API logins a client address may make per minute before getting 429'),
        body_limit_bytes: int(1_048_576, 1024, 'largest accepted request body'),
        tls: section(
          {
            cert_file: str('', 'PEM certificate chain: with key_file, the API serves HTTPS only (and sends HSTS); both files are re-read when they change'),
            key_file: str('', 'PEM private key of cert_file'),
          },
          'HTTPS for the API',
        ),
        allow_insecure_remote: bool(false, 'let the API listen on a non-loopback address without api.tls (tokens then cross the network in clear text)'),
      },
      'management API',
    ),
    notifications: section(
      {
        targets: {
          type: 'array',
          default: [],
          description: 'webhooks told of blocks, unblocks, events, feed failures and nodes out of sync, each { name, url or url_env or url_file, format (json, slack), secret_env or secret_file, kinds, event_types, detectors, aggregate_window: 5s, max_items: 50, rate_limit: 20/1m, timeout: 5s, retries: 5, retry_initial: 1s, retry_max: 1m, queue_max: 1000 }: see Notifications; secrets never inline',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'kinds'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
              url: { type: 'string', default: '' },
              url_env: { type: 'string', default: '' },
              url_file: { type: 'string', default: '' },
              format: { enum: ['json', 'slack'], default: 'json' },
              secret_env: { type: 'string', default: '' },
              secret_file: { type: 'string', default: '' },
              kinds: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['block', 'challenge', 'unblock', 'event', 'feed_failure', 'node_out_of_sync'] } },
              event_types: { type: 'array', default: [], items: { enum: ['blocked_ip', 'rate_limited', 'auth_failed', 'suspicious', 'scan_detected', 'challenge'] } },
              detectors: { type: 'array', default: [], items: { type: 'string', pattern: '^[A-Za-z0-9_:.*-]+$' } },
              aggregate_window: { type: 'string', format: 'duration', default: '5s' },
              max_items: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
              rate_limit: { type: 'string', pattern: '^[1-9][0-9]*/(?:[0-9]+(?:ms|s|m|h|d|w))+$', default: '20/1m' },
              timeout: { type: 'string', format: 'duration', default: '5s' },
              retries: { type: 'integer', minimum: 0, maximum: 20, default: 5 },
              retry_initial: { type: 'string', format: 'duration', default: '1s' },
              retry_max: { type: 'string', format: 'duration', default: '1m' },
              queue_max: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1000 },
            },
          },
        },
      },
      'notifications (webhooks); run by the notifier service',
    ),
    siem: section(
      {
        targets: {
          type: 'array',
          default: [],
          description: 'SIEM targets pushed every security event and block decision in ECS, each { name, url or url_env or url_file (http(s)://: NDJSON POSTs; syslog+tcp://host:port: RFC 5424, octet-counted; tcp://host:port: NDJSON lines), header: authorization, header_env or header_file, records: [events, blocks], min_severity: low, batch_size: 500, flush_interval: 200ms, queue_max: 16MiB, timeout: 10s, retry_initial: 1s, retry_max: 1m, give_up_after: 1h }: see Notifications; secrets never inline',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
              url: { type: 'string', default: '' },
              url_env: { type: 'string', default: '' },
              url_file: { type: 'string', default: '' },
              header: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$', default: 'authorization' },
              header_env: { type: 'string', default: '' },
              header_file: { type: 'string', default: '' },
              records: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['events', 'blocks'] }, default: ['events', 'blocks'] },
              min_severity: { enum: ['low', 'medium', 'high', 'critical'], default: 'low' },
              batch_size: { type: 'integer', minimum: 1, maximum: 10_000, default: 500 },
              flush_interval: { type: 'string', format: 'duration', default: '200ms' },
              queue_max: { type: 'string', format: 'size', default: '16MiB' },
              timeout: { type: 'string', format: 'duration', default: '10s' },
              retry_initial: { type: 'string', format: 'duration', default: '1s' },
              retry_max: { type: 'string', format: 'duration', default: '1m' },
              give_up_after: { type: 'string', format: 'duration', default: '1h' },
            },
          },
        },
      },
      'SIEM push of ECS records (security events, block decisions); run by the notifier service',
    ),
    soc: section(
      {
        query_timeout: dur('10s', 'longest an analyst query (POST /api/soc/query, saved queries) may run (ClickHouse max_execution_time)'),
        max_rows_to_read: int(2_000_000_000, 1, 'rows one analyst query may read (ClickHouse max_rows_to_read)'),
        max_result_rows: int(10_000, 1, 'rows one analyst query may return (ClickHouse max_result_rows)'),
        max_result_bytes: int(16_777_216, 1024, 'bytes of result one analyst query may build, uncompressed in memory (ClickHouse max_result_bytes)'),
        max_memory_bytes: int(2_147_483_648, 1_048_576, 'memory one analyst query may use (ClickHouse max_memory_usage)'),
        max_concurrent_queries_per_token: int(2, 1, 'analyst queries one API token may have running at once (more: 429)'),
        saved_queries_dir: str('', 'operator folder of saved queries (*.sql with the header of schemas/clickhouse/soc/) besides the shipped ones'),
        export_max_rows: int(1_000_000, 1, 'most events one GET /api/security/events/export answer streams'),
      },
      'SOC analytics: analyst SQL over the API, saved queries, exports',
    ),
    metrics: section(
      {
        host: str('127.0.0.1', 'listen address of /metrics for services run alone (all and api serve it on the API port)'),
        port: port(9464, 'listen port of /metrics for services run alone; 0 turns it off'),
      },
      'Prometheus metrics of standalone services',
    ),
    geo: section(
      {
        enabled: bool(true, 'look every client up in the bundled country and ASN databases (ingester: record fields; enforcer: the ranges geo rules name, pushed to nodes)'),
        max_age: dur('90d', 'a bundled database older than this (its data date) gets a warning at start; 0s never warns'),
      },
      'country and autonomous system of clients, from the npm packages @ip-location-db/geo-whois-asn-country and @ip-location-db/asn',
    ),
    data_dir: str('./data', 'state of embedded mode (ClickHouse data, tokens)'),
    log_level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info', description: 'log level' },
  },
};
