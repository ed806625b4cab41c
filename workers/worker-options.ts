/**
 * The options of a WorkerRuntime (worker-runtime.ts), with their units and defaults, and the resolver that fills
 * them in: the runtime only ever reads fully populated options.
 */
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import { type AttemptLimits, defaultAttemptLimits } from './attempt-runner.ts'
import type { HandlerRegistry } from './handler.ts'
import { defaultLimits, type WorkerLimits } from './limits.ts'
import type { WorkerSerdes } from './worker-producer.ts'

export interface WorkerOptions {
  /** Reported in every result as workerId. */
  workerId: string
  /** Builds every Kafka client (connection and security from the kafka config section). */
  kafka: KafkaClientFactory
  /** @default flextask */
  topicPrefix?: string
  /** The categories this process consumes: one group membership each. */
  categories: string[]
  handlers: HandlerRegistry
  serdes: WorkerSerdes
  logger: Logger
  limits?: Partial<WorkerLimits>
  attempt?: Partial<AttemptLimits>
  /** Executions fetched and not started, over all categories; fetching pauses above it. @default 1000 */
  maxQueuedExecutions?: number
  /** How long running attempts may finish on close before they are aborted. @default 10000 */
  shutdownGraceMs?: number
  /** Delay before starting records of a partition gained in a rebalance (worker-runtime.ts header). @default 1000 */
  rebalanceHandoverMs?: number
  /** @default 10000 */
  sessionTimeoutMs?: number
  /** @default 1000 */
  heartbeatIntervalMs?: number
  /** Spacing of offset commits while attempts finish. @default 100 */
  commitIntervalMs?: number
  nowMs?: () => number
}

export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'limits' | 'attempt' | 'nowMs'>> & {
  limits: WorkerLimits
  attempt: AttemptLimits
  nowMs: () => number
}

export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  return {
    topicPrefix: 'flextask',
    maxQueuedExecutions: 1000,
    shutdownGraceMs: 10_000,
    rebalanceHandoverMs: 1000,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
    commitIntervalMs: 100,
    nowMs: Date.now,
    ...options,
    limits: { ...defaultLimits, ...options.limits },
    attempt: { ...defaultAttemptLimits, ...options.attempt },
  }
}
