/**
 * The scheduler component: the scheduler topology (scheduler-topology.ts) on the stream runtime, with its topics,
 * schemas, health and metrics. Everything it needs is injected (SchedulerDeps); `flextask up`, tests, benchmarks
 * and the demo all build it through `createScheduler`.
 *
 * Lifecycle (component.ts):
 *   created ──start()──▶ starting ──every assigned task restored──▶ serving ──close()──▶ closed
 *                            │                                        │
 *                            └──────────── fatal error ───────────────┴──▶ failed ──close()──▶ closed
 * start(): creates missing topics (refusing mismatched partition counts), registers the schemas, joins the group
 * and resolves once every assigned partition is restored. health(): ready only while serving. close(): idempotent,
 * also after a fatal error (the runtime then still releases its clients and the LevelDB locks).
 */
import { join } from 'node:path'
import type { Component, Health } from '../component.ts'
import type { ResolvedConfig } from '../config.ts'
import { coerceError, ErrorCodes, FlextaskError } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import { consumerGroupLag } from '../kafka-lag.ts'
import type { Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'
import { dueOfTimerKey, StoreNames } from '../processors/task-state.ts'
import type { SerdeRegistry } from '../schemas/serde-registry.ts'
import { schedulerApplicationId, topicNames, type TopicNames } from '../topics.ts'
import type { Clock } from '../topology/api.ts'
import { systemClock } from '../topology/clocks.ts'
import { StreamRuntime } from '../topology/stream-runtime.ts'
import { observeRuntime } from './runtime-observer.ts'
import { SchedulerOutputMetrics } from './scheduler-metrics.ts'
import { ensureSchedulerTopics } from './scheduler-topics.ts'
import { buildSchedulerTopology } from './scheduler-topology.ts'

export interface SchedulerDeps {
  config: Pick<ResolvedConfig, 'topics' | 'runtime' | 'scheduler'>
  /** @default the system clock */
  clock?: Clock
  logger: Logger
  metrics: Pick<Metrics, 'scheduler' | 'addCollector'>
  kafka: KafkaClientFactory
  /** Built for the same topic prefix as config.topics.prefix. */
  serdes: SerdeRegistry
}

type Phase = 'created' | 'starting' | 'serving' | 'failed' | 'closing' | 'closed'

export class Scheduler implements Component {
  readonly name = 'scheduler'
  readonly topics: TopicNames
  readonly serdes: SerdeRegistry
  readonly runtime: StreamRuntime
  readonly #deps: SchedulerDeps
  readonly #logger: Logger
  readonly #outputMetrics: SchedulerOutputMetrics
  readonly #fatalListeners: ((error: Error) => void)[] = []
  #phase: Phase = 'created'
  /** Partitions of the latest assignment; undefined until the group is joined. */
  #assigned: number[] | undefined
  #generation = -1
  #fatal: FlextaskError | undefined
  #starting: Promise<void> | undefined
  #closing: Promise<void> | undefined
  /** Metric updates run one after another, in commit order. */
  #observing: Promise<void> = Promise.resolve()
  /** Removes the scrape-time collector (timers pending, consumer lag); set while started. */
  #removeCollector: (() => void) | undefined
  /** The admin client that reads the group's lag, created by the first scrape. */
  #lagAdmin: ReturnType<KafkaClientFactory['admin']> | undefined

  constructor(deps: SchedulerDeps) {
    const { config } = deps
    this.#deps = deps
    this.topics = topicNames(config.topics.prefix)
    this.serdes = deps.serdes
    const applicationId = schedulerApplicationId(config.topics.prefix)
    // The process logger carries the instance id; the component binds its name.
    this.#logger = deps.logger.child({ component: this.name })
    this.#outputMetrics = new SchedulerOutputMetrics({
      metrics: deps.metrics.scheduler,
      nowMs: () => (deps.clock ?? systemClock).nowMs(),
      serdes: deps.serdes,
      topics: this.topics,
    })
    const topology = buildSchedulerTopology({
      topics: this.topics,
      // Wrapped so that the metrics count each committed record from its value, without decoding it back.
      serdes: this.#outputMetrics.noting(deps.serdes),
      config: { ...config.scheduler, categories: config.topics.categories },
    })
    const { instanceId, stateDir, startTimeoutMs: _start, shutdownGraceMs: _grace, ...timings } = config.runtime
    const { bootstrapBrokers, ...connection } = deps.kafka.connection
    this.runtime = new StreamRuntime(topology, {
      ...timings,
      applicationId,
      bootstrapBrokers,
      connection,
      stateDir: join(stateDir, 'scheduler'),
      instanceId,
      clock: deps.clock ?? systemClock,
      logger: this.#logger.child({ applicationId }),
    })
    observeRuntime(this.runtime, {
      onAssigned: ({ generation, partitions }) => {
        this.#assigned = partitions
        this.#generation = generation
        deps.metrics.scheduler.partitions.set({ state: 'assigned' }, partitions.length)
        this.#logger.info({ generation, partitions }, 'partitions assigned')
      },
      onRestoreProgress: (e) => {
        const { partition, store, records, position, endOffset, recordsPerS, durationMs, done } = e
        this.#logger.info(
          {
            partition,
            store,
            records,
            remainingOffsets: String(endOffset - position),
            recordsPerS: Math.round(recordsPerS),
            durationMs: Math.round(durationMs),
            retriedFetches: e.retriedFetches,
            ...(e.lastFetchError === undefined ? {} : { lastFetchError: e.lastFetchError }),
          },
          done ? 'store restored' : 'restoring store',
        )
      },
      onRestored: ({ partition, records, durationMs }) => {
        deps.metrics.scheduler.restoreDuration.observe({}, durationMs / 1000)
        deps.metrics.scheduler.restoreRecords.inc({}, records)
        this.#logger.info(
          { partition, generation: this.#generation, records, durationMs: Math.round(durationMs) },
          'partition restored',
        )
      },
      onCommitted: ({ outputs, durationMs }) => {
        this.#observing = this.#observing
          .then(() => this.#outputMetrics.committed(outputs, durationMs))
          .catch((error: unknown) => this.#logger.warn({ err: error }, 'could not derive metrics from a commit'))
      },
      onAborted: ({ code, message, streak, backoffMs, error }) => {
        this.#outputMetrics.aborted()
        // One line per retry; the full error (an AggregateError's stacks run to kilobytes) once per streak.
        this.#logger.warn(
          { code, attempt: streak, backoffMs, generation: this.#generation },
          `transaction aborted; retrying: ${message}`,
        )
        if (streak === 1) this.#logger.debug({ err: error }, 'transaction aborted: the error in full')
      },
      onRetrying: ({ step, code, message, attempt, backoffMs, failingForMs, giveUpInMs }) =>
        this.#logger.warn(
          { step, code, attempt, backoffMs, failingForMs, giveUpInMs },
          `${step} failing, waiting it out: ${message}`,
        ),
      onTaskFailed: ({ partition, code, message }) =>
        this.#logger.warn(
          { partition, code, generation: this.#generation },
          `task could not open, retrying: ${message}`,
        ),
      onFenced: ({ partition, waitingOn, instances, durationMs, report, error }) =>
        error === undefined
          ? this.#logger.info(
              { partition, waitingOn, instances, report, durationMs: Math.round(durationMs) },
              'fenced departed instances',
            )
          : this.#logger.warn(
              { partition, waitingOn, err: error, report, durationMs: Math.round(durationMs) },
              'fencing departed instances failed',
            ),
      onInputLate: ({ partition, waitedMs }) =>
        this.#logger.warn({ partition, waitedMs }, 'timers fired before an open input transaction resolved'),
      onFatal: (error) => this.#failed(error),
    })
  }

  /** Resolves once every assigned partition is restored and running; rejects (and closes) when it cannot start. */
  start(): Promise<void> {
    this.#starting ??= this.#start().catch(async (error: unknown) => {
      const coded = this.#fatal ?? coerceError(error)
      // close() during start (a signal) makes start fail on closed clients: that is the stop, not a failure.
      if (this.#closing !== undefined && this.#fatal === undefined) {
        this.#logger.info({ reason: coded.message }, 'start abandoned: closed while starting')
      } else {
        this.#logger.error({ err: coded }, 'scheduler could not start')
      }
      await this.close()
      throw coded
    })
    return this.#starting
  }

  async #start(): Promise<void> {
    if (this.#closing !== undefined) throw new FlextaskError(ErrorCodes.unknown, 'scheduler: start() after close()')
    this.#phase = 'starting'
    const { topics: topicConfig, runtime: runtimeConfig } = this.#deps.config
    const admin = this.#deps.kafka.admin(`${runtimeConfig.instanceId}-scheduler-topics`)
    try {
      await ensureSchedulerTopics(admin, this.topics, topicConfig.categories, topicConfig.partitions)
    } finally {
      await admin.close()
    }
    this.#throwIfClosing()
    await this.serdes.init()
    this.#throwIfClosing()
    this.#removeCollector = this.#deps.metrics.addCollector(() => this.#collect())
    await this.runtime.start()
    await this.#untilServing(runtimeConfig.startTimeoutMs)
    this.#phase = 'serving'
    this.#logger.info(
      { partitions: this.#assigned, generation: this.#generation },
      'scheduler serving; every assigned partition restored',
    )
  }

  /** Each start step checks that no close() came meanwhile, so a stopped start opens nothing more. */
  #throwIfClosing(): void {
    if (this.#closing !== undefined) throw new FlextaskError(ErrorCodes.unknown, 'scheduler closed while starting')
  }

  async #untilServing(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs
    while (!this.#restored()) {
      if (this.#fatal !== undefined) throw this.#fatal
      this.#throwIfClosing()
      if (performance.now() > deadline) {
        throw new FlextaskError(
          ErrorCodes.storeRestore,
          `scheduler: not serving after ${timeoutMs} ms (${this.#waitingFor()}); raise FLEXTASK_START_TIMEOUT_MS?`,
          { retriable: true },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  #restored(): boolean {
    if (this.#assigned === undefined) return false
    const running = new Set(this.runtime.runningPartitions())
    return this.#assigned.every((p) => running.has(p))
  }

  #waitingFor(): string {
    if (this.#assigned === undefined) return `no partition assignment yet (joining group ${this.runtime.applicationId})`
    const running = new Set(this.runtime.runningPartitions())
    const restoring = this.#assigned.filter((p) => !running.has(p))
    return `restoring partitions ${restoring.join(', ')}`
  }

  health(): Health {
    switch (this.#phase) {
      case 'failed':
        return { live: false, ready: false, reasons: [`fatal: ${this.#fatal?.code}: ${this.#fatal?.message}`] }
      case 'closing':
      case 'closed':
        return { live: true, ready: false, reasons: ['closed'] }
      case 'created':
        return { live: true, ready: false, reasons: ['not started'] }
      case 'starting':
      case 'serving':
        return this.#restored()
          ? { live: true, ready: true, reasons: [] }
          : {
              live: true,
              ready: false,
              reasons: [this.#waitingFor()],
            }
    }
  }

  onFatal(listener: (error: Error) => void): void {
    this.#fatalListeners.push(listener)
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    if (this.#phase !== 'failed') this.#phase = 'closing'
    this.#removeCollector?.()
    await this.runtime.close()
    await this.#lagAdmin?.close().catch(() => undefined)
    await this.#observing
    if (this.#phase !== 'failed') this.#phase = 'closed'
    this.#logger.info('scheduler closed')
  }

  /**
   * Scrape-time gauges: running partitions, timers pending and the earliest timer's overdue time per running
   * partition (the timer store is keyed by due time: its first key is the earliest), the group's lag. Counting
   * the timers reads the whole timer store of each partition; at a 15 s scrape interval that is cheap next to
   * the scheduler's own scans.
   */
  async #collect(): Promise<void> {
    const metrics = this.#deps.metrics.scheduler
    const running = this.runtime.runningPartitions()
    metrics.partitions.set({ state: 'running' }, running.length)
    this.#outputMetrics.collect()
    const nowMs = (this.#deps.clock ?? systemClock).nowMs()
    const timers = await Promise.all(
      running.map(async (p) => [p, await this.runtime.queryStore(StoreNames.timers, p)] as const),
    )
    metrics.timersPending.reset()
    metrics.timerOverdue.reset()
    for (const [partition, entries] of timers) {
      if (entries === undefined) continue
      metrics.timersPending.set({ partition: String(partition) }, entries.length)
      const first = entries[0]
      const overdueMs = first === undefined ? 0 : Math.max(0, nowMs - dueOfTimerKey(first[0]))
      metrics.timerOverdue.set({ partition: String(partition) }, overdueMs / 1000)
    }
    if (this.#closing !== undefined) return
    this.#lagAdmin ??= this.#deps.kafka.admin(`${this.#deps.config.runtime.instanceId}-scheduler-lag`)
    const lags = await consumerGroupLag(this.#lagAdmin, this.runtime.applicationId)
    metrics.consumerLag.reset()
    for (const { topic, partition, lag } of lags) metrics.consumerLag.set({ topic, partition: String(partition) }, lag)
  }

  #failed(error: Error): void {
    if (this.#fatal !== undefined) return
    this.#fatal = coerceError(error)
    const closing = this.#closing !== undefined
    this.#phase = 'failed'
    this.#logger.error({ err: this.#fatal, generation: this.#generation }, 'scheduler stopped on a fatal error')
    if (!closing) for (const listener of this.#fatalListeners) listener(this.#fatal)
  }
}

export function createScheduler(deps: SchedulerDeps): Scheduler {
  return new Scheduler(deps)
}
