/**
 * The fields the environment sets: path, variable, kind (how the raw text is parsed and checked) and whether it is
 * a secret. Adding one also needs a row in the README's configuration table.
 */
import { LogLevels, PostgresSslModes, SaslMechanisms } from './sections.ts'

export type Kind =
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

export interface FieldSpec {
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
  { path: 'runtime.catchUpSliceRecords', env: 'FLEXTASK_CATCH_UP_SLICE_RECORDS', kind: 'positiveInt' },
  { path: 'runtime.maxBufferedRecords', env: 'FLEXTASK_MAX_BUFFERED_RECORDS', kind: 'positiveInt' },
  { path: 'runtime.maxBytesPerCycle', env: 'FLEXTASK_MAX_BYTES_PER_CYCLE', kind: 'positiveInt' },
  { path: 'runtime.maxInputMsPerPass', env: 'FLEXTASK_MAX_INPUT_MS_PER_PASS', kind: 'positiveInt' },
  { path: 'runtime.maxBufferedBytes', env: 'FLEXTASK_MAX_BUFFERED_BYTES', kind: 'positiveInt' },
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

/** The value at a dotted path (`kafka.sasl.username`). */
export function getPath(target: object, path: string): unknown {
  let node: unknown = target
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part]
  return node
}

export function setPath(target: object, path: string, value: unknown): void {
  const parts = path.split('.')
  const last = parts.pop() as string
  let node = target as Record<string, unknown>
  for (const part of parts) node = node[part] as Record<string, unknown>
  node[last] = value
}
