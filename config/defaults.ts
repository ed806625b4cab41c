/** Every default of the resolved configuration, in one literal checked against the types with `satisfies`. */
import { hostname } from 'node:os'
import { defaultSchedulerConfig } from '../processors/task-state.ts'
import type { ResolvedConfig } from './sections.ts'

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
    catchUpSliceRecords: 1_000,
    maxBufferedRecords: 20_000,
    maxBytesPerCycle: 4 * 1024 * 1024,
    maxInputMsPerPass: 100,
    maxBufferedBytes: 64 * 1024 * 1024,
    outageGiveUpMs: 900_000,
    startTimeoutMs: 600_000,
    shutdownGraceMs: 30_000,
  },
  // The scheduler's own defaults (processors/ cannot import the config): one source, review D4.
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
