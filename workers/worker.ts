/**
 * The worker component: `createWorker(deps)` returns a Component (component.ts) that runs executions of its
 * categories with the built-in handlers, the handlers of `config.worker.handlerModules` and any passed in code.
 *
 * Lifecycle: created ──start()──▶ starting ──every category's group joined──▶ serving ──close()──▶ closed
 * start(): registers the schemas, loads handler modules, joins one consumer group per category
 * (`<prefix>-workers-<category>`), and resolves once the streams run. Categories: `config.worker.categories`, or
 * when empty every `config.topics.categories` entry that has at least one handler here (a category without a
 * handler is left to other worker processes instead of failing its executions).
 * close(): graceful shutdown (worker-runtime.ts): stop fetching, finish within `worker.shutdownGraceMs`, abort and
 * report the rest as FAILED retriable, commit, leave the groups.
 */
import type { Component, Health } from '../component.ts'
import type { ResolvedConfig } from '../config.ts'
import { coerceError } from '../errors.ts'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'
import type { SerdeRegistry } from '../schemas/serde-registry.ts'
import { type BuiltinHandlers, builtinHandlers } from './builtins/builtin-handlers.ts'
import type { Resolver } from './builtins/ssrf-guard.ts'
import { HandlerRegistry } from './handler.ts'
import { loadHandlerModules } from './handler-modules.ts'
import { observeWorker } from './worker-metrics.ts'
import { WorkerRuntime } from './worker-runtime.ts'

export interface WorkerDeps {
  config: Pick<ResolvedConfig, 'topics' | 'runtime' | 'worker'>
  logger: Logger
  metrics?: Pick<Metrics, 'worker'>
  kafka: KafkaClientFactory
  /** Built for config.topics.prefix. */
  serdes: SerdeRegistry
  /** Handlers registered in code; they win over built-ins of the same category/type. */
  handlers?: HandlerRegistry
  /** Name resolution of the SSRF guard. @default node:dns lookup */
  resolve?: Resolver
  /** Reported as workerId. @default `<runtime.instanceId>-<pid>` */
  workerId?: string
}

type Phase = 'created' | 'starting' | 'serving' | 'failed' | 'closing' | 'closed'

export class Worker implements Component {
  readonly name = 'worker'
  readonly #deps: WorkerDeps
  readonly #logger: Logger
  readonly #fatalListeners: ((error: Error) => void)[] = []
  #phase: Phase = 'created'
  #runtime: WorkerRuntime | undefined
  #builtins: BuiltinHandlers | undefined
  #starting: Promise<void> | undefined
  #closing: Promise<void> | undefined
  #fatal: Error | undefined

  constructor(deps: WorkerDeps) {
    this.#deps = deps
    this.#logger = deps.logger.child({ component: this.name })
  }

  /** The runtime once started (tests and benchmarks observe its events). */
  get runtime(): WorkerRuntime | undefined {
    return this.#runtime
  }

  start(): Promise<void> {
    this.#starting ??= this.#start().catch(async (error: unknown) => {
      const coded = coerceError(error)
      this.#logger.error({ err: coded }, 'worker could not start')
      await this.close()
      throw coded
    })
    return this.#starting
  }

  async #start(): Promise<void> {
    const { config } = this.#deps
    const w = config.worker
    this.#phase = 'starting'
    await this.#deps.serdes.init()
    const registry = this.#deps.handlers ?? new HandlerRegistry()
    await loadHandlerModules(w.handlerModules, registry)
    this.#builtins = builtinHandlers({ allow: w.ssrfAllow }, ...(this.#deps.resolve ? [this.#deps.resolve] : []))
    for (const h of this.#builtins.handlers) if (registry.get(h.category, h.type) === undefined) registry.register(h)
    const withHandlers = new Set(registry.categories())
    const categories =
      w.categories.length > 0 ? w.categories : config.topics.categories.filter((c) => withHandlers.has(c))
    const without = categories.filter((c) => !withHandlers.has(c))
    if (without.length > 0) this.#logger.warn({ categories: without }, 'no handler registered for these categories')
    const metrics = this.#deps.metrics?.worker
    this.#runtime = new WorkerRuntime({
      workerId: this.#deps.workerId ?? `${config.runtime.instanceId}-${process.pid}`,
      kafka: this.#deps.kafka,
      topicPrefix: config.topics.prefix,
      categories,
      handlers: registry,
      serdes: this.#deps.serdes,
      logger: this.#logger,
      limits: {
        concurrency: w.concurrency,
        reservedForHighPriority: w.reservedForHighPriority,
        highPriorityThreshold: w.highPriorityThreshold,
        ...w.limits,
      },
      attempt: {
        abortGraceMs: w.abortGraceMs,
        maxOutputBytes: w.maxOutputBytes,
        maxLogLinesPerAttempt: w.maxLogLinesPerAttempt,
        maxLogLineChars: w.maxLogLineChars,
      },
      maxQueuedExecutions: w.maxQueuedExecutions,
      shutdownGraceMs: w.shutdownGraceMs,
      rebalanceHandoverMs: w.rebalanceHandoverMs,
      sessionTimeoutMs: config.runtime.sessionTimeoutMs,
      heartbeatIntervalMs: config.runtime.heartbeatIntervalMs,
    })
    this.#runtime.on('error', (error: Error) => this.#failed(error))
    if (metrics !== undefined) observeWorker(this.#runtime, metrics, registry)
    await this.#runtime.start()
    this.#phase = 'serving'
    this.#logger.info({ categories, handlers: registry.list().map((h) => `${h.category}/${h.type}`) }, 'worker serving')
  }

  health(): Health {
    switch (this.#phase) {
      case 'failed':
        return { live: false, ready: false, reasons: [`fatal: ${this.#fatal?.message ?? ''}`] }
      case 'created':
        return { live: true, ready: false, reasons: ['not started'] }
      case 'closing':
      case 'closed':
        return { live: true, ready: false, reasons: ['closed'] }
      case 'starting':
      case 'serving':
        return this.#runtime?.health() ?? { live: true, ready: false, reasons: ['starting'] }
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
    await this.#runtime?.close()
    await this.#builtins?.close()
    if (this.#phase !== 'failed') this.#phase = 'closed'
    this.#logger.info('worker closed')
  }

  #failed(error: Error): void {
    if (this.#fatal !== undefined) return
    this.#fatal = error
    this.#phase = 'failed'
    this.#logger.error({ err: error }, 'worker stopped on a fatal error')
    if (this.#closing === undefined) for (const listener of this.#fatalListeners) listener(error)
  }
}

export function createWorker(deps: WorkerDeps): Worker {
  return new Worker(deps)
}
