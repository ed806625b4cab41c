/**
 * The sections of the resolved configuration, one interface per concern; each field's doc names the environment
 * variable that sets it, its unit and its default (the defaults themselves are in defaults.ts).
 */
import type { SchedulerConfig } from '../processors/task-state.ts'

export const SaslMechanisms = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const
export type SaslMechanism = (typeof SaslMechanisms)[number]

/** libpq's sslmode values (https://www.postgresql.org/docs/current/libpq-ssl.html), without allow/prefer. */
export const PostgresSslModes = ['disable', 'require', 'verify-ca', 'verify-full'] as const
export type PostgresSslMode = (typeof PostgresSslModes)[number]

export const LogLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevelName = (typeof LogLevels)[number]

export interface KafkaConfig {
  /** KAFKA_BROKERS, host:port list. @default 127.0.0.1:<KAFKA_PORT or 9092> (the local broker) */
  brokers: string[]
  sasl: {
    /** KAFKA_SASL_MECHANISM. @default null (no SASL) */
    mechanism: SaslMechanism | null
    /** KAFKA_SASL_USERNAME; required with a mechanism. */
    username: string | null
    /** KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE (a secret); required with a mechanism. */
    password: string | null
  }
  tls: {
    /** KAFKA_TLS=true connects with TLS. @default false */
    enabled: boolean
    /** KAFKA_TLS_CA_FILE, PEM bundle that signs the brokers' certificates. @default null (the system CAs) */
    caFile: string | null
    /** KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE, PEM client certificate and key (mutual TLS), both or neither. */
    certFile: string | null
    keyFile: string | null
    /** KAFKA_TLS_VERIFY_HOSTNAME=false accepts a certificate issued for another host name. @default true */
    verifyHostname: boolean
  }
}

export interface RegistryConfig {
  /** SCHEMA_REGISTRY_URL, Confluent-compatible. @default http://127.0.0.1:<REGISTRY_PORT or 8081>/apis/ccompat/v7 */
  url: string
  /** SCHEMA_REGISTRY_TIMEOUT_MS per request. @default 10000 */
  requestTimeoutMs: number
  /** SCHEMA_REGISTRY_USERNAME for HTTP basic auth. @default null (no auth) */
  username: string | null
  /** SCHEMA_REGISTRY_PASSWORD or SCHEMA_REGISTRY_PASSWORD_FILE (a secret); required with a username. */
  password: string | null
  /** SCHEMA_REGISTRY_CA_FILE, PEM bundle that signs an https registry's certificate. @default null (system CAs) */
  caFile: string | null
}

export interface DatabaseConfig {
  /** DATABASE_URL or DATABASE_URL_FILE (a secret when it holds a password). @default postgres://postgres@127.0.0.1:5432/flextask */
  url: string
  /** DATABASE_PASSWORD or DATABASE_PASSWORD_FILE (a secret); replaces a password in the URL. @default null */
  password: string | null
  /** DATABASE_SSLMODE (libpq meaning); an `sslmode` in DATABASE_URL takes precedence (postgresClientOptions). @default disable */
  sslMode: PostgresSslMode
  /** DATABASE_SSL_CA_FILE, PEM bundle for verify-ca / verify-full. @default null (the system CAs) */
  sslCaFile: string | null
}

export interface TopicsConfig {
  /** FLEXTASK_TOPIC_PREFIX. @default flextask */
  prefix: string
  /** FLEXTASK_PARTITIONS, partitions of the co-partitioned topics when flextask creates them. @default 6 */
  partitions: number
  /** FLEXTASK_CATEGORIES, known task categories (one executions topic each). */
  categories: string[]
}

export interface RuntimeConfig {
  /** FLEXTASK_INSTANCE_ID, stable per process (static membership, transactional id). @default hostname */
  instanceId: string
  /** FLEXTASK_STATE_DIR, local LevelDB state. @default .state */
  stateDir: string
  /** FLEXTASK_COMMIT_INTERVAL_MS, minimum spacing of commits while records flow. @default 100 */
  commitIntervalMs: number
  /**
   * FLEXTASK_TRANSACTION_TIMEOUT_MS, sent to the transaction coordinator: bounds how long a dead instance's open
   * transaction can hold its partitions when it cannot be fenced (README "Failover"). @default 10000
   */
  transactionTimeoutMs: number
  /**
   * FLEXTASK_SESSION_TIMEOUT_MS, consumer group session: how long a silent (killed, frozen) member keeps its
   * partitions. 6 s is the broker's default group.min.session.timeout.ms; README "Failover". @default 6000
   */
  sessionTimeoutMs: number
  /** FLEXTASK_HEARTBEAT_INTERVAL_MS, also how soon a member learns of a rebalance. @default 500 */
  heartbeatIntervalMs: number
  /** FLEXTASK_REBALANCE_TIMEOUT_MS. @default 30000 */
  rebalanceTimeoutMs: number
  /** FLEXTASK_MAX_RECORDS_PER_CYCLE, records per transaction. @default 5000 */
  maxRecordsPerCycle: number
  /**
   * FLEXTASK_CATCH_UP_SLICE_RECORDS, records a partition draining a backlog (a herd) adds to a cycle before it
   * yields to the due timers of the other partitions (topology/timer-fairness.ts). @default 1000
   */
  catchUpSliceRecords: number
  /** FLEXTASK_MAX_BUFFERED_RECORDS, fetched records above which fetching pauses. @default 20000 */
  maxBufferedRecords: number
  /** FLEXTASK_MAX_BYTES_PER_CYCLE, input bytes (keys and values) per transaction. @default 4194304 */
  maxBytesPerCycle: number
  /**
   * FLEXTASK_MAX_INPUT_MS_PER_PASS, longest a pass of the loop processes input before due timers get their turn
   * (a flood of bad input cannot hold timers). @default 100
   */
  maxInputMsPerPass: number
  /** FLEXTASK_MAX_BUFFERED_BYTES, fetched bytes above which fetching pauses. @default 67108864 */
  maxBufferedBytes: number
  /**
   * FLEXTASK_OUTAGE_GIVE_UP_MS, how long the runtime waits out retriable failures (broker unreachable,
   * coordinator loading) with no commit in between before it stops with FLEXTASK_TOPOLOGY_GAVE_UP. @default 900000
   */
  outageGiveUpMs: number
  /** FLEXTASK_START_TIMEOUT_MS, how long a component may take to serve (restore included). @default 600000 */
  startTimeoutMs: number
  /** FLEXTASK_SHUTDOWN_GRACE_MS, how long `flextask up` waits for components to close on a signal. @default 30000 */
  shutdownGraceMs: number
}

/**
 * The scheduler's limits: processors/task-state.ts SchedulerConfig documents each (unit, default) and holds the
 * defaults; categories come from topics. The environment sets each as FLEXTASK_SCHEDULER_<NAME> (configFields).
 */
export type SchedulerSectionConfig = Omit<SchedulerConfig, 'categories'>

/** Limits by key (workers/limits.ts LimitRule: concurrency, ratePerSecond, burst). */
export interface WorkerLimitRules {
  perCategory: Record<string, { concurrency?: number; ratePerSecond?: number; burst?: number }>
  perType: Record<string, { concurrency?: number; ratePerSecond?: number; burst?: number }>
  perTenant: Record<string, { concurrency?: number; ratePerSecond?: number; burst?: number }>
}

/** The worker component (workers/): what it consumes, what it runs, its limits and its SSRF policy. */
export interface WorkerSectionConfig {
  /** FLEXTASK_WORKER_CATEGORIES, the categories this process works on. @default [] = every topics.categories entry a handler is registered for */
  categories: string[]
  /** FLEXTASK_WORKER_HANDLERS, modules exporting handlers (paths from the working directory). @default [] (built-ins only) */
  handlerModules: string[]
  /** FLEXTASK_WORKER_CONCURRENCY, executions running at once in this process. @default 16 */
  concurrency: number
  /** FLEXTASK_WORKER_RESERVED_HIGH_PRIORITY, slots of `concurrency` only high-priority executions take. @default 0 */
  reservedForHighPriority: number
  /** FLEXTASK_WORKER_HIGH_PRIORITY, the priority from which an execution counts as high. @default 10 */
  highPriorityThreshold: number
  /** FLEXTASK_WORKER_LIMITS, JSON `{"perCategory":{"http":{"ratePerSecond":50}},"perType":{},"perTenant":{"*":{"concurrency":2}}}`. @default none */
  limits: WorkerLimitRules
  /** FLEXTASK_WORKER_SSRF_ALLOW, address ranges (`loopback`, `private`, `linkLocal`, …) or CIDRs built-ins may connect to besides public unicast. @default [] */
  ssrfAllow: string[]
  /** FLEXTASK_WORKER_SHUTDOWN_GRACE_MS, how long running executions may finish on shutdown before they are aborted. @default 10000 */
  shutdownGraceMs: number
  /** FLEXTASK_WORKER_MAX_QUEUED, executions fetched and not started above which fetching pauses. @default 1000 */
  maxQueuedExecutions: number
  /** FLEXTASK_WORKER_HANDOVER_MS, wait before starting records of a partition gained in a rebalance. @default 1000 */
  rebalanceHandoverMs: number
  /** FLEXTASK_WORKER_ABORT_GRACE_MS, how long an aborted handler may take before its result is reported. @default 1000 */
  abortGraceMs: number
  /** FLEXTASK_WORKER_MAX_OUTPUT_BYTES per result. @default 65536 */
  maxOutputBytes: number
  /** FLEXTASK_WORKER_MAX_LOG_LINES per attempt. @default 200 */
  maxLogLinesPerAttempt: number
  /** FLEXTASK_WORKER_MAX_LOG_LINE_CHARS per log message. @default 4096 */
  maxLogLineChars: number
}

/** connectors/: the Postgres sink (the read-model projection of the topics). */
export interface SinkSectionConfig {
  /** FLEXTASK_SINK_GROUP_ID, the consumer group and the key of its offsets in Postgres. @default null (<prefix>-sink) */
  groupId: string | null
  /** FLEXTASK_SINK_BATCH_SIZE, records per Postgres transaction. @default 2000 */
  batchSize: number
  /** FLEXTASK_SINK_FLUSH_INTERVAL_MS, longest a record waits in a batch. @default 200 */
  flushIntervalMs: number
  /** FLEXTASK_SINK_RETENTION_DAYS, rows older than this are deleted; 0 keeps everything. @default 30 */
  retentionDays: number
  /** FLEXTASK_SINK_RETENTION_INTERVAL_MS, pause between retention passes. @default 600000 */
  retentionIntervalMs: number
  /** FLEXTASK_SINK_RETENTION_BATCH_SIZE, rows per DELETE. @default 1000 */
  retentionBatchSize: number
  /** FLEXTASK_SINK_QUERY_TIMEOUT_MS, client-side bound on a query (a silent network). @default 30000 */
  queryTimeoutMs: number
  /** FLEXTASK_SINK_STATEMENT_TIMEOUT_MS, server-side statement_timeout. @default 20000 */
  statementTimeoutMs: number
  /** FLEXTASK_SINK_RETRY_MAX_MS, upper bound of the backoff while Postgres fails. @default 5000 */
  retryMaxMs: number
  /** Empty the projection and replay every topic from the beginning (`flextask connector --rebuild`). @default false */
  rebuild: boolean
}

export interface ApiSectionConfig {
  /** PORT of the REST API; 0 picks a free port. @default 3000 */
  port: number
  /** API_HOST to listen on. @default 0.0.0.0 */
  host: string
  /**
   * FLEXTASK_API_KEYS: API keys as `<id>:<scope>:<sha256 hex of the key>` entries (scope read, write or admin),
   * comma- or newline-separated; `flextask api key <id> <scope>` makes one. Never the keys themselves. @default null
   */
  keys: string | null
  /** FLEXTASK_API_KEYS_FILE: a file of such entries, one per line (# comments), added to keys. @default null */
  keysFile: string | null
  /** FLEXTASK_API_RATE_LIMIT, requests per API key per minute. @default 1200 */
  rateLimitPerMinute: number
  /** FLEXTASK_API_CORS_ORIGINS, comma-separated origins allowed cross-origin; null = CORS off. @default null */
  corsOrigins: string | null
  /** FLEXTASK_API_BODY_LIMIT_BYTES, largest request body (413 above). @default 1048576 */
  bodyLimitBytes: number
  /** FLEXTASK_API_WAIT_TIMEOUT_MS, how long a write (or a read with minOffset) waits for the projection. @default 5000 */
  waitTimeoutMs: number
  /** FLEXTASK_API_URL, where the `flextask` client commands reach the API. @default http://127.0.0.1:<port> */
  url: string
  /** FLEXTASK_API_KEY, the key the `flextask` client commands send. @default null */
  clientKey: string | null
}

export interface MetricsConfig {
  /** METRICS_PORT of /metrics, /health/live and /health/ready; 0 picks a free port. @default 9464 */
  port: number
  /** METRICS_HOST to listen on. @default 0.0.0.0 */
  host: string
}

export interface LogConfig {
  /** LOG_LEVEL. @default info */
  level: LogLevelName
  /** LOG_PRETTY: true / false, or auto = pretty when stdout is a terminal. @default auto */
  pretty: boolean | 'auto'
}

export interface ResolvedConfig {
  kafka: KafkaConfig
  registry: RegistryConfig
  database: DatabaseConfig
  topics: TopicsConfig
  runtime: RuntimeConfig
  scheduler: SchedulerSectionConfig
  worker: WorkerSectionConfig
  sink: SinkSectionConfig
  api: ApiSectionConfig
  metrics: MetricsConfig
  log: LogConfig
}
