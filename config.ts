/**
 * The one place that reads process.env. `resolveConfig` returns one fully populated section per concern:
 *
 *   kafka     brokers, SASL, TLS             → kafka-clients.ts maps it into every Kafka client
 *   registry  Schema Registry, auth, CA      → registry-connection.ts builds the RegistryClient
 *   database  Postgres URL, password, SSL    → the sink and the API (postgresClientOptions below)
 *   topics    prefix, partitions, categories → topics.ts names, every component
 *   runtime   instance id, state dir, the stream runtime's cycle and group timings, shutdown grace
 *   scheduler worker sink api               → one section per component (scheduler/, workers/, connectors/, api/)
 *   metrics   the /metrics and /health port   → host/ops-server.ts
 *   log       level and format               → logger.ts
 *
 * Every default is in `configDefaults` (one literal, checked against the types with `satisfies`; the scheduler
 * section spreads processors/task-state.ts defaultSchedulerConfig, as processors cannot import this file). Every
 * field an environment variable sets is in `configFields`; errors name the path and the variable
 * (`topics.partitions must be a positive integer, got 0 (FLEXTASK_PARTITIONS)`).
 *
 * Secrets (passwords, URLs holding one) are marked `secret` in configFields: each also reads `<VAR>_FILE` (a
 * mounted Kubernetes secret), and `printableConfig` is the only form of the config that may be logged or served.
 *
 * Adding a field: its type and doc (unit, default) in the section's interface, its default in configDefaults,
 * and, when the environment sets it, a line in configFields plus a row in the README's configuration table.
 */
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { ErrorCodes, FlextaskError } from './errors.ts'
import { defaultSchedulerConfig } from './processors/task-state.ts'

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
  /** FLEXTASK_MAX_BUFFERED_RECORDS, fetched records above which fetching pauses. @default 20000 */
  maxBufferedRecords: number
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

/** The scheduler's limits (processors/task-state.ts SchedulerConfig documents each; categories come from topics). */
export interface SchedulerSectionConfig {
  /** FLEXTASK_SCHEDULER_MAX_PAYLOAD_BYTES. @default 262144 */
  maxPayloadBytes: number
  /** FLEXTASK_SCHEDULER_MAX_FIRES_PER_WAKE. @default 1000 */
  maxFiresPerWake: number
  /** FLEXTASK_SCHEDULER_MAX_CATCH_UP_PER_WAKE. @default 100 */
  maxCatchUpPerWake: number
  /** FLEXTASK_SCHEDULER_MAX_OCCURRENCES_PER_CATCH_UP. @default 10000 */
  maxOccurrencesPerCatchUp: number
  /** FLEXTASK_SCHEDULER_DEFAULT_MAX_LATENESS_MS. @default 60000 */
  defaultMaxLatenessMs: number
  /** FLEXTASK_SCHEDULER_MAX_IN_FLIGHT_PER_TASK. @default 500 */
  maxInFlightPerTask: number
  /** FLEXTASK_SCHEDULER_MAX_RECORDS_PER_WAKE. @default 5000 */
  maxRecordsPerWake: number
  /** FLEXTASK_SCHEDULER_MAX_BYTES_PER_WAKE. @default 8388608 */
  maxBytesPerWake: number
  /** FLEXTASK_SCHEDULER_MAX_RECORD_BYTES (keep under the topics' max.message.bytes). @default 1000000 */
  maxRecordBytes: number
}

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

export const defaultCategories = ['http', 'email', 'internal', 'kubernetes', 'elasticsearch']

/** Every default, in one place. */
export const configDefaults = {
  kafka: {
    brokers: ['127.0.0.1:9092'],
    sasl: { mechanism: null, username: null, password: null },
    tls: { enabled: false, caFile: null, certFile: null, keyFile: null, verifyHostname: true },
  },
  registry: {
    url: 'http://127.0.0.1:8081/apis/ccompat/v7',
    requestTimeoutMs: 10_000,
    username: null,
    password: null,
    caFile: null,
  },
  database: { url: 'postgres://postgres@127.0.0.1:5432/flextask', password: null, sslMode: 'disable', sslCaFile: null },
  topics: { prefix: 'flextask', partitions: 6, categories: defaultCategories },
  runtime: {
    instanceId: hostname(),
    stateDir: '.state',
    commitIntervalMs: 100,
    transactionTimeoutMs: 10_000,
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 500,
    rebalanceTimeoutMs: 30_000,
    maxRecordsPerCycle: 5_000,
    maxBufferedRecords: 20_000,
    outageGiveUpMs: 900_000,
    startTimeoutMs: 600_000,
    shutdownGraceMs: 30_000,
  },
  // The scheduler's own defaults (processors/ cannot import this file): one source, review D4.
  scheduler: { ...defaultSchedulerConfig },
  worker: {
    categories: [],
    handlerModules: [],
    concurrency: 16,
    reservedForHighPriority: 0,
    highPriorityThreshold: 10,
    limits: { perCategory: {}, perType: {}, perTenant: {} },
    ssrfAllow: [],
    shutdownGraceMs: 10_000,
    maxQueuedExecutions: 1000,
    rebalanceHandoverMs: 1000,
    abortGraceMs: 1000,
    maxOutputBytes: 65_536,
    maxLogLinesPerAttempt: 200,
    maxLogLineChars: 4096,
  },
  sink: {
    groupId: null,
    batchSize: 2000,
    flushIntervalMs: 200,
    retentionDays: 30,
    retentionIntervalMs: 600_000,
    retentionBatchSize: 1000,
    queryTimeoutMs: 30_000,
    statementTimeoutMs: 20_000,
    retryMaxMs: 5000,
    rebuild: false,
  },
  api: {
    port: 3000,
    host: '0.0.0.0',
    keys: null,
    keysFile: null,
    rateLimitPerMinute: 1200,
    corsOrigins: null,
    bodyLimitBytes: 1_048_576,
    waitTimeoutMs: 5000,
    url: 'http://127.0.0.1:3000',
    clientKey: null,
  },
  metrics: { port: 9464, host: '0.0.0.0' },
  log: { level: 'info', pretty: 'auto' },
} satisfies ResolvedConfig

type Kind =
  | 'string'
  | 'optionalString'
  | 'list'
  | 'optionalList'
  | 'json'
  | 'positiveInt'
  | 'nonNegativeInt'
  | 'port'
  | 'boolean'
  | 'booleanOrAuto'
  | { oneOf: readonly string[]; nullable?: boolean }

interface FieldSpec {
  /** Dotted path in ResolvedConfig. */
  path: string
  /** The environment variable that sets it. */
  env: string
  kind: Kind
  /**
   * A secret (`value`), or a URL whose password is one (`url`): `<env>_FILE` may name a file holding the value
   * instead (a mounted Kubernetes or Docker secret; one trailing newline is dropped), and `printableConfig` shows
   * neither the value nor the URL's password.
   */
  secret?: 'value' | 'url'
}

/** The fields the environment sets. */
export const configFields: readonly FieldSpec[] = [
  { path: 'kafka.brokers', env: 'KAFKA_BROKERS', kind: 'list' },
  { path: 'kafka.sasl.mechanism', env: 'KAFKA_SASL_MECHANISM', kind: { oneOf: SaslMechanisms, nullable: true } },
  { path: 'kafka.sasl.username', env: 'KAFKA_SASL_USERNAME', kind: 'optionalString' },
  { path: 'kafka.sasl.password', env: 'KAFKA_SASL_PASSWORD', kind: 'optionalString', secret: 'value' },
  { path: 'kafka.tls.enabled', env: 'KAFKA_TLS', kind: 'boolean' },
  { path: 'kafka.tls.caFile', env: 'KAFKA_TLS_CA_FILE', kind: 'optionalString' },
  { path: 'kafka.tls.certFile', env: 'KAFKA_TLS_CERT_FILE', kind: 'optionalString' },
  { path: 'kafka.tls.keyFile', env: 'KAFKA_TLS_KEY_FILE', kind: 'optionalString' },
  { path: 'kafka.tls.verifyHostname', env: 'KAFKA_TLS_VERIFY_HOSTNAME', kind: 'boolean' },
  { path: 'registry.url', env: 'SCHEMA_REGISTRY_URL', kind: 'string', secret: 'url' },
  { path: 'registry.requestTimeoutMs', env: 'SCHEMA_REGISTRY_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'registry.username', env: 'SCHEMA_REGISTRY_USERNAME', kind: 'optionalString' },
  { path: 'registry.password', env: 'SCHEMA_REGISTRY_PASSWORD', kind: 'optionalString', secret: 'value' },
  { path: 'registry.caFile', env: 'SCHEMA_REGISTRY_CA_FILE', kind: 'optionalString' },
  { path: 'database.url', env: 'DATABASE_URL', kind: 'string', secret: 'url' },
  { path: 'database.password', env: 'DATABASE_PASSWORD', kind: 'optionalString', secret: 'value' },
  { path: 'database.sslMode', env: 'DATABASE_SSLMODE', kind: { oneOf: PostgresSslModes } },
  { path: 'database.sslCaFile', env: 'DATABASE_SSL_CA_FILE', kind: 'optionalString' },
  { path: 'topics.prefix', env: 'FLEXTASK_TOPIC_PREFIX', kind: 'string' },
  { path: 'topics.partitions', env: 'FLEXTASK_PARTITIONS', kind: 'positiveInt' },
  { path: 'topics.categories', env: 'FLEXTASK_CATEGORIES', kind: 'list' },
  { path: 'runtime.instanceId', env: 'FLEXTASK_INSTANCE_ID', kind: 'string' },
  { path: 'runtime.stateDir', env: 'FLEXTASK_STATE_DIR', kind: 'string' },
  { path: 'runtime.commitIntervalMs', env: 'FLEXTASK_COMMIT_INTERVAL_MS', kind: 'nonNegativeInt' },
  { path: 'runtime.transactionTimeoutMs', env: 'FLEXTASK_TRANSACTION_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'runtime.sessionTimeoutMs', env: 'FLEXTASK_SESSION_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'runtime.outageGiveUpMs', env: 'FLEXTASK_OUTAGE_GIVE_UP_MS', kind: 'positiveInt' },
  { path: 'runtime.heartbeatIntervalMs', env: 'FLEXTASK_HEARTBEAT_INTERVAL_MS', kind: 'positiveInt' },
  { path: 'runtime.rebalanceTimeoutMs', env: 'FLEXTASK_REBALANCE_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'runtime.maxRecordsPerCycle', env: 'FLEXTASK_MAX_RECORDS_PER_CYCLE', kind: 'positiveInt' },
  { path: 'runtime.maxBufferedRecords', env: 'FLEXTASK_MAX_BUFFERED_RECORDS', kind: 'positiveInt' },
  { path: 'runtime.startTimeoutMs', env: 'FLEXTASK_START_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'runtime.shutdownGraceMs', env: 'FLEXTASK_SHUTDOWN_GRACE_MS', kind: 'positiveInt' },
  { path: 'scheduler.maxPayloadBytes', env: 'FLEXTASK_SCHEDULER_MAX_PAYLOAD_BYTES', kind: 'positiveInt' },
  { path: 'scheduler.maxFiresPerWake', env: 'FLEXTASK_SCHEDULER_MAX_FIRES_PER_WAKE', kind: 'positiveInt' },
  { path: 'scheduler.maxCatchUpPerWake', env: 'FLEXTASK_SCHEDULER_MAX_CATCH_UP_PER_WAKE', kind: 'positiveInt' },
  {
    path: 'scheduler.maxOccurrencesPerCatchUp',
    env: 'FLEXTASK_SCHEDULER_MAX_OCCURRENCES_PER_CATCH_UP',
    kind: 'positiveInt',
  },
  {
    path: 'scheduler.defaultMaxLatenessMs',
    env: 'FLEXTASK_SCHEDULER_DEFAULT_MAX_LATENESS_MS',
    kind: 'nonNegativeInt',
  },
  { path: 'scheduler.maxInFlightPerTask', env: 'FLEXTASK_SCHEDULER_MAX_IN_FLIGHT_PER_TASK', kind: 'positiveInt' },
  { path: 'scheduler.maxRecordsPerWake', env: 'FLEXTASK_SCHEDULER_MAX_RECORDS_PER_WAKE', kind: 'positiveInt' },
  { path: 'scheduler.maxBytesPerWake', env: 'FLEXTASK_SCHEDULER_MAX_BYTES_PER_WAKE', kind: 'positiveInt' },
  { path: 'scheduler.maxRecordBytes', env: 'FLEXTASK_SCHEDULER_MAX_RECORD_BYTES', kind: 'positiveInt' },
  { path: 'sink.groupId', env: 'FLEXTASK_SINK_GROUP_ID', kind: 'optionalString' },
  { path: 'sink.batchSize', env: 'FLEXTASK_SINK_BATCH_SIZE', kind: 'positiveInt' },
  { path: 'sink.flushIntervalMs', env: 'FLEXTASK_SINK_FLUSH_INTERVAL_MS', kind: 'positiveInt' },
  { path: 'sink.retentionDays', env: 'FLEXTASK_SINK_RETENTION_DAYS', kind: 'nonNegativeInt' },
  { path: 'sink.retentionIntervalMs', env: 'FLEXTASK_SINK_RETENTION_INTERVAL_MS', kind: 'positiveInt' },
  { path: 'sink.retentionBatchSize', env: 'FLEXTASK_SINK_RETENTION_BATCH_SIZE', kind: 'positiveInt' },
  { path: 'sink.queryTimeoutMs', env: 'FLEXTASK_SINK_QUERY_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'sink.statementTimeoutMs', env: 'FLEXTASK_SINK_STATEMENT_TIMEOUT_MS', kind: 'positiveInt' },
  { path: 'sink.retryMaxMs', env: 'FLEXTASK_SINK_RETRY_MAX_MS', kind: 'positiveInt' },
  { path: 'worker.categories', env: 'FLEXTASK_WORKER_CATEGORIES', kind: 'optionalList' },
  { path: 'worker.handlerModules', env: 'FLEXTASK_WORKER_HANDLERS', kind: 'optionalList' },
  { path: 'worker.concurrency', env: 'FLEXTASK_WORKER_CONCURRENCY', kind: 'positiveInt' },
  { path: 'worker.reservedForHighPriority', env: 'FLEXTASK_WORKER_RESERVED_HIGH_PRIORITY', kind: 'nonNegativeInt' },
  { path: 'worker.highPriorityThreshold', env: 'FLEXTASK_WORKER_HIGH_PRIORITY', kind: 'nonNegativeInt' },
  { path: 'worker.limits', env: 'FLEXTASK_WORKER_LIMITS', kind: 'json' },
  { path: 'worker.ssrfAllow', env: 'FLEXTASK_WORKER_SSRF_ALLOW', kind: 'optionalList' },
  { path: 'worker.shutdownGraceMs', env: 'FLEXTASK_WORKER_SHUTDOWN_GRACE_MS', kind: 'nonNegativeInt' },
  { path: 'worker.maxQueuedExecutions', env: 'FLEXTASK_WORKER_MAX_QUEUED', kind: 'positiveInt' },
  { path: 'worker.rebalanceHandoverMs', env: 'FLEXTASK_WORKER_HANDOVER_MS', kind: 'nonNegativeInt' },
  { path: 'worker.abortGraceMs', env: 'FLEXTASK_WORKER_ABORT_GRACE_MS', kind: 'nonNegativeInt' },
  { path: 'worker.maxOutputBytes', env: 'FLEXTASK_WORKER_MAX_OUTPUT_BYTES', kind: 'positiveInt' },
  { path: 'worker.maxLogLinesPerAttempt', env: 'FLEXTASK_WORKER_MAX_LOG_LINES', kind: 'positiveInt' },
  { path: 'worker.maxLogLineChars', env: 'FLEXTASK_WORKER_MAX_LOG_LINE_CHARS', kind: 'positiveInt' },
  { path: 'api.port', env: 'PORT', kind: 'port' },
  { path: 'api.host', env: 'API_HOST', kind: 'string' },
  { path: 'api.keys', env: 'FLEXTASK_API_KEYS', kind: 'optionalString' },
  { path: 'api.keysFile', env: 'FLEXTASK_API_KEYS_FILE', kind: 'optionalString' },
  { path: 'api.rateLimitPerMinute', env: 'FLEXTASK_API_RATE_LIMIT', kind: 'positiveInt' },
  { path: 'api.corsOrigins', env: 'FLEXTASK_API_CORS_ORIGINS', kind: 'optionalString' },
  { path: 'api.bodyLimitBytes', env: 'FLEXTASK_API_BODY_LIMIT_BYTES', kind: 'positiveInt' },
  { path: 'api.waitTimeoutMs', env: 'FLEXTASK_API_WAIT_TIMEOUT_MS', kind: 'nonNegativeInt' },
  { path: 'api.url', env: 'FLEXTASK_API_URL', kind: 'string' },
  { path: 'api.clientKey', env: 'FLEXTASK_API_KEY', kind: 'optionalString' },
  { path: 'metrics.port', env: 'METRICS_PORT', kind: 'port' },
  { path: 'metrics.host', env: 'METRICS_HOST', kind: 'string' },
  { path: 'log.level', env: 'LOG_LEVEL', kind: { oneOf: LogLevels } },
  { path: 'log.pretty', env: 'LOG_PRETTY', kind: 'booleanOrAuto' },
]

/** Per-section overrides on top of the environment (tests, benchmarks, the demo). */
export type ConfigOverrides = { [S in keyof ResolvedConfig]?: Partial<ResolvedConfig[S]> }

/**
 * Defaults ← environment ← overrides, then every field is checked. Throws FLEXTASK_CONFIG_INVALID naming the
 * path (and the variable when it came from the environment).
 */
export function resolveConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): ResolvedConfig {
  const config = structuredClone(configDefaults) as ResolvedConfig
  // The local tools' ports move the local defaults with them (tools/kafka, tools/registry).
  config.kafka.brokers = [`127.0.0.1:${env.KAFKA_PORT ?? 9092}`]
  config.registry.url = `http://127.0.0.1:${env.REGISTRY_PORT ?? 8081}/apis/ccompat/v7`
  // Clients reach the API on its own port unless told otherwise.
  if (env.PORT !== undefined && /^\d+$/.test(env.PORT.trim())) config.api.url = `http://127.0.0.1:${env.PORT.trim()}`
  const fromEnv = new Set<string>()
  for (const field of configFields) {
    const raw = field.secret !== undefined ? secretFromEnv(env, field) : env[field.env]
    if (raw === undefined || raw.trim() === '') continue
    setPath(config, field.path, parse(field, raw.trim()))
    fromEnv.add(field.path)
  }
  for (const [section, values] of Object.entries(overrides) as [keyof ResolvedConfig, object][]) {
    Object.assign(config[section], values)
  }
  for (const field of configFields) check(field, getPath(config, field.path), fromEnv.has(field.path))
  config.runtime.stateDir = resolve(config.runtime.stateDir)
  checkCombinations(config)
  return config
}

/** A secret's value from `<env>`, or from the file `<env>_FILE` names; setting both is an error. */
function secretFromEnv(env: NodeJS.ProcessEnv, field: FieldSpec): string | undefined {
  const file = env[`${field.env}_FILE`]?.trim()
  if (file === undefined || file === '') return env[field.env]
  if (env[field.env] !== undefined && env[field.env]?.trim() !== '') {
    throw invalid(field.path, `${field.path}: set ${field.env} or ${field.env}_FILE, not both`)
  }
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    throw invalid(field.path, `${field.path}: cannot read ${field.env}_FILE ${JSON.stringify(file)} (${reason})`)
  }
}

function parse(field: FieldSpec, raw: string): unknown {
  const kind = field.kind
  if (kind === 'json') {
    try {
      return JSON.parse(raw) as unknown
    } catch {
      return raw
    }
  }
  if (kind === 'list' || kind === 'optionalList')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  if (kind === 'positiveInt' || kind === 'nonNegativeInt' || kind === 'port')
    return /^-?\d+$/.test(raw) ? Number(raw) : raw
  if (kind === 'boolean' || kind === 'booleanOrAuto') {
    const lower = raw.toLowerCase()
    if (['true', '1', 'yes'].includes(lower)) return true
    if (['false', '0', 'no'].includes(lower)) return false
    return kind === 'booleanOrAuto' && lower === 'auto' ? 'auto' : raw
  }
  if (typeof kind === 'object') return kind.nullable === true && raw.toLowerCase() === 'none' ? null : raw
  return raw
}

function check(field: FieldSpec, value: unknown, fromEnv: boolean): void {
  const kind = field.kind
  const fail = (what: string): never => {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
    throw invalid(field.path, `${field.path} must be ${what}, got ${shown}${fromEnv ? ` (${field.env})` : ''}`)
  }
  const isInt = typeof value === 'number' && Number.isSafeInteger(value)
  if (kind === 'string' && (typeof value !== 'string' || value === '')) fail('a non-empty string')
  if (kind === 'optionalString' && value !== null && typeof value !== 'string') fail('a string')
  if (kind === 'list' && (!Array.isArray(value) || value.length === 0)) fail('a non-empty comma-separated list')
  if (kind === 'optionalList' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
    fail('a comma-separated list')
  }
  if (kind === 'json' && (typeof value !== 'object' || value === null || Array.isArray(value))) fail('a JSON object')
  if (kind === 'positiveInt' && !(isInt && value > 0)) fail('a positive integer')
  if (kind === 'nonNegativeInt' && !(isInt && value >= 0)) fail('a non-negative integer')
  if (kind === 'port' && !(isInt && value >= 0 && value <= 65_535)) fail('a port number (0-65535)')
  if (kind === 'boolean' && typeof value !== 'boolean') fail('true or false')
  if (kind === 'booleanOrAuto' && typeof value !== 'boolean' && value !== 'auto') fail('true, false or auto')
  if (
    typeof kind === 'object' &&
    !(kind.nullable === true && value === null) &&
    !kind.oneOf.includes(value as string)
  ) {
    fail(`one of ${kind.oneOf.join(', ')}${kind.nullable === true ? ' or none' : ''}`)
  }
}

/** Fills the missing groups of worker.limits and checks every rule (names the path of a bad value). */
function checkWorkerLimits(config: ResolvedConfig): void {
  const given = config.worker.limits as Partial<WorkerLimitRules>
  const limits: WorkerLimitRules = {
    perCategory: given.perCategory ?? {},
    perType: given.perType ?? {},
    perTenant: given.perTenant ?? {},
  }
  for (const key of Object.keys(given)) {
    if (!(key in limits))
      throw invalid(
        'worker.limits',
        `worker.limits.${key} is not one of perCategory, perType, perTenant (FLEXTASK_WORKER_LIMITS)`,
      )
  }
  for (const [group, rules] of Object.entries(limits)) {
    for (const [name, rule] of Object.entries(rules as Record<string, Record<string, unknown>>)) {
      for (const [field, value] of Object.entries(rule)) {
        const path = `worker.limits.${group}.${name}.${field}`
        if (!['concurrency', 'ratePerSecond', 'burst'].includes(field)) {
          throw invalid(path, `${path} is not one of concurrency, ratePerSecond, burst (FLEXTASK_WORKER_LIMITS)`)
        }
        const ok = typeof value === 'number' && value > 0 && (field === 'ratePerSecond' || Number.isSafeInteger(value))
        if (!ok)
          throw invalid(
            path,
            `${path} must be a positive ${field === 'ratePerSecond' ? 'number' : 'integer'}, got ${JSON.stringify(value)} (FLEXTASK_WORKER_LIMITS)`,
          )
      }
    }
  }
  config.worker.limits = limits
}

function checkCombinations(config: ResolvedConfig): void {
  checkWorkerLimits(config)
  const { sasl, tls } = config.kafka
  if (sasl.mechanism !== null && (sasl.username === null || sasl.password === null)) {
    throw invalid(
      'kafka.sasl',
      `kafka.sasl.username and kafka.sasl.password are required with kafka.sasl.mechanism ${sasl.mechanism} ` +
        '(KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)',
    )
  }
  const registry = config.registry
  if ((registry.username === null) !== (registry.password === null)) {
    throw invalid(
      'registry',
      'registry.username and registry.password go together (SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD)',
    )
  }
  if ((tls.certFile === null) !== (tls.keyFile === null)) {
    throw invalid(
      'kafka.tls',
      'kafka.tls.certFile and kafka.tls.keyFile go together (KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE)',
    )
  }
}

function invalid(path: string, message: string): FlextaskError {
  return new FlextaskError(ErrorCodes.config, message, { context: { field: path } })
}

export const redacted = '[redacted]'

/**
 * The config with every secret replaced by `[redacted]` and URL passwords by `***`: the only form of the config
 * that may be logged, returned by an API or put in a metric label.
 */
export function printableConfig(config: ResolvedConfig): ResolvedConfig {
  const copy = structuredClone(config)
  for (const field of configFields) {
    const value = getPath(copy, field.path)
    if (field.secret === undefined || typeof value !== 'string') continue
    setPath(copy, field.path, field.secret === 'value' ? redacted : withoutUrlPassword(value))
  }
  return copy
}

/** The URL with its password (if any) as `***`; text that does not parse as a URL is redacted whole. */
export function withoutUrlPassword(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return redacted
  }
}

function getPath(target: object, path: string): unknown {
  let node: unknown = target
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part]
  return node
}

function setPath(target: object, path: string, value: unknown): void {
  const parts = path.split('.')
  const last = parts.pop() as string
  let node = target as Record<string, unknown>
  for (const part of parts) node = node[part] as Record<string, unknown>
  node[last] = value
}

/** An sslmode from DATABASE_URL: libpq's allow / prefer (try, fall back) are taken as require. */
function urlSslMode(value: string): PostgresSslMode {
  if (value === 'allow' || value === 'prefer') return 'require'
  if ((PostgresSslModes as readonly string[]).includes(value)) return value as PostgresSslMode
  throw invalid('database.url', `database.url has sslmode=${value}; use one of ${PostgresSslModes.join(', ')}`)
}

/**
 * The connection options of a `pg` Client or Pool for the database section (structural, so this module does not
 * import pg): `ssl` follows `sslMode` like libpq's sslmode, reading the CA file when one is set; DATABASE_PASSWORD
 * goes into the URL. Every Postgres connection flextask opens (the sink, the API, the demo) starts from this one
 * function, so TLS to Postgres is configuration, not code. verify-full checks the chain and that the certificate
 * names the host (node's checkServerIdentity: DNS or IP subjectAltName); verify-ca checks the chain only.
 * Pinned by test/integration/postgres-tls.test.ts against a server with SSL on.
 */
export function postgresClientOptions(database: DatabaseConfig): {
  connectionString: string
  ssl: false | { rejectUnauthorized: boolean; ca?: string; checkServerIdentity?: () => undefined }
} {
  const url = new URL(database.url)
  // pg reads `sslmode` from the URL with its own meaning (require and verify-ca act as verify-full in pg 8), and
  // would override `ssl`; so it is taken out here and applied with libpq's meaning, taking precedence as documented.
  const fromUrl = url.searchParams.get('sslmode')
  url.searchParams.delete('sslmode')
  const sslMode = fromUrl === null ? database.sslMode : urlSslMode(fromUrl)
  const ca = database.sslCaFile === null ? {} : { ca: readFileSync(database.sslCaFile, 'utf8') }
  const ssl =
    sslMode === 'disable'
      ? false
      : sslMode === 'require'
        ? { rejectUnauthorized: false }
        : sslMode === 'verify-ca'
          ? { rejectUnauthorized: true, ...ca, checkServerIdentity: () => undefined }
          : { rejectUnauthorized: true, ...ca }
  // pg lets a password in the connection string win over the `password` option, so it is replaced there.
  if (database.password !== null) url.password = encodeURIComponent(database.password)
  return { connectionString: url.toString(), ssl }
}
