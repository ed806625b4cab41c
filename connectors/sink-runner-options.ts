/**
 * The options of a SinkRunner (sink-runner.ts) with their defaults, and the consumer options it joins its group
 * with: read_committed, no autocommit (the task keeps the offsets), static membership, co-partitioned assignment.
 */
import { FetchIsolationLevels } from '@platformatic/kafka'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import type { SinkMetrics } from '../metrics.ts'
import { coPartitionedAssigner } from './co-partitioned-assigner.ts'
import type { SinkDecoders, SinkKind } from './record-decoder.ts'
import type { SinkTask } from './sink-task.ts'

export interface SinkRunnerOptions {
  groupId: string
  kafka: KafkaClientFactory
  /** Stable per process: static group membership and client ids. */
  instanceId: string
  /** topic → what it carries. */
  topics: ReadonlyMap<string, SinkKind>
  deadLetterTopic: string
  decoders: SinkDecoders
  task: SinkTask
  /** Records per flush (one Postgres transaction). @default 2000 */
  batchSize?: number
  /** Longest a buffered record waits for more before it is flushed. @default 200 */
  flushIntervalMs?: number
  /** Fetched records held in memory above which fetching pauses. @default 20000 */
  maxBufferedRecords?: number
  /** First retry delay after a transient failure, doubling per attempt (±20 %, topology/backoff.ts). @default 100 */
  retryBaseMs?: number
  /** Upper bound of the retry delay. @default 5000 */
  retryMaxMs?: number
  /** @default 10000 */
  sessionTimeoutMs?: number
  /** @default 1000 */
  heartbeatIntervalMs?: number
  /** @default 30000 */
  rebalanceTimeoutMs?: number
  /** Wall clock for dead letters' failedAtMs. @default Date.now */
  nowMs?: () => number
  logger?: Logger
  metrics?: SinkMetrics
}

export interface RunnerStats {
  flushes: number
  records: number
  deadLettered: number
  retries: number
  fenced: number
}

export type ResolvedRunnerOptions = Required<Omit<SinkRunnerOptions, 'logger' | 'metrics'>>

/** The options with every default filled in (logger and metrics are taken apart by the runner). */
export function resolveRunnerOptions(options: SinkRunnerOptions): ResolvedRunnerOptions {
  const resolved = {
    batchSize: 2000,
    flushIntervalMs: 200,
    maxBufferedRecords: 20_000,
    retryBaseMs: 100,
    retryMaxMs: 5000,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
    rebalanceTimeoutMs: 30_000,
    nowMs: Date.now,
    ...options,
  }
  delete (resolved as { logger?: Logger }).logger
  delete (resolved as { metrics?: SinkMetrics }).metrics
  return resolved
}

/**
 * The sink's consumer options. A variable for the factory, not a literal at the call: the factory's Omit<> over
 * the options union drops the group options from the literal's allowed keys.
 */
export function sinkConsumerOptions(o: ResolvedRunnerOptions) {
  return {
    clientId: `${o.instanceId}-sink`,
    groupId: o.groupId,
    groupInstanceId: o.instanceId,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    sessionTimeout: o.sessionTimeoutMs,
    heartbeatInterval: o.heartbeatIntervalMs,
    rebalanceTimeout: o.rebalanceTimeoutMs,
    partitionAssigner: coPartitionedAssigner,
    maxWaitTime: 200,
    maxBytes: 4 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
  }
}
