/**
 * The worker runtime: one consumer-group member per category (`<prefix>-workers-<category>`, read_committed),
 * a dispatch queue ordered by priority, limits, and an at-least-once commit loop.
 *
 * Delivery and commits. Every fetched record is tracked per partition; its offset becomes committable only after
 * the attempt's terminal result (and its log lines) were acknowledged by Kafka, and the committed offset is the
 * one after the lowest contiguous finished record (offset-tracker.ts). So:
 * - a crash (kill -9) redelivers, to whichever member owns the partition next, every execution without a
 *   committed terminal result, with the same executionId and attempt; the scheduler counts only the first
 *   terminal result of an attempt, so one that ran to completion twice is counted once;
 * - a redelivery to this same process of an attempt it is running or has finished (the client re-fetches from
 *   the committed offset after every rebalance) never runs it again: it joins the running one, or is marked done.
 *
 * Rebalances (the client rejoins at once and has no blocking revoke callback): on `group:rebalance` this member
 * stops starting executions of that category; on `group:join` it drops the queued ones (re-fetched from the
 * committed offset), aborts running attempts of partitions it lost (reason `revoked`: no result unless they
 * succeeded anyway; the new owner runs the attempt), and starts records of partitions it gained only after
 * `rebalanceHandoverMs`, the time the previous owner has to abort its copies. A handler that ignores its signal
 * longer than that can overlap with the new owner's run: the one case of two concurrent runs in a group.
 *
 * Shutdown (`close`): stop fetching, drop the queue, let running attempts finish for `shutdownGraceMs`, abort the
 * rest (FAILED, retriable: the scheduler retries them), produce, commit, leave the group.
 */
import { EventEmitter } from 'node:events'
import type { Message } from '@platformatic/kafka'
import { coerceError, type FlextaskError } from '../errors.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import { topicNames, type TopicNames } from '../topics.ts'
import { type RunningAttempt, runAttempt } from './attempt-runner.ts'
import {
  type CategoryMember,
  commitMember,
  type Delivery,
  joinCategory,
  leaveCategory,
  type MemberListener,
  recoverStream,
} from './category-member.ts'
import { DispatchQueue } from './dispatch-queue.ts'
import { decodeExecution, type ExecutionDecoderDeps } from './execution-decoder.ts'
import { Limiter } from './limits.ts'
import { OffsetTracker } from './offset-tracker.ts'
import { selectStartable } from './start-selection.ts'
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.ts'
import { WorkerProducer } from './worker-producer.ts'

export type { WorkerOptions } from './worker-options.ts'
export type { WorkerSerde, WorkerSerdes } from './worker-producer.ts'

interface Pending {
  key: string
  /** The member and partition it was fetched from (fixed by its key). */
  member: CategoryMember
  partition: number
  execution: TaskExecution
  deliveries: Delivery[]
  priority: number
  dueAtMs: number
  seq: number
  running?: RunningAttempt
}

/**
 * Events: 'started' (execution, startedAtMs), 'result' (terminal TaskResult produced, its execution),
 * 'dead-letter' (reason code of an undecodable execution, once its dead letter is acknowledged), 'error' (fatal).
 */
export class WorkerRuntime extends EventEmitter {
  readonly #o: ResolvedWorkerOptions
  readonly #topics: TopicNames
  readonly #members: CategoryMember[] = []
  readonly #producer: WorkerProducer
  readonly #decoderDeps: ExecutionDecoderDeps
  readonly #limiter: Limiter
  readonly #queue = new DispatchQueue<Pending>()
  readonly #queuedByKey = new Map<string, Pending>()
  readonly #running = new Map<string, Pending>()
  /** (executionId:attempt) finished here and not yet known committed: a redelivery is marked done, not run. */
  readonly #finished = new Map<string, true>()
  #seq = 0
  #decodeChain: Promise<void> = Promise.resolve()
  #pumpTimer: NodeJS.Timeout | undefined
  #pumpAtMs = Infinity
  #commitTimer: NodeJS.Timeout | undefined
  #paused = false
  #stopping = false
  #started = false
  #closing: Promise<void> | undefined
  #fatal: FlextaskError | undefined
  readonly stats = { started: 0, succeeded: 0, failed: 0, timedOut: 0, commits: 0 }

  constructor(options: WorkerOptions) {
    super()
    this.#o = resolveWorkerOptions(options)
    this.#topics = topicNames(this.#o.topicPrefix)
    this.#limiter = new Limiter(this.#o.limits)
    this.#producer = new WorkerProducer({
      kafka: this.#o.kafka,
      workerId: this.#o.workerId,
      topics: this.#topics,
      serdes: this.#o.serdes,
      logger: this.#o.logger,
    })
    this.#decoderDeps = {
      serde: this.#o.serdes.execution,
      logger: this.#o.logger,
      stopping: () => this.#stopping,
      send: (deadLetter) => this.#producer.deadLetter(deadLetter),
      onDeadLetter: (reason) => this.emit('dead-letter', reason),
      nowMs: this.#o.nowMs,
    }
  }

  /** Executions fetched and waiting to start. */
  get queued(): number {
    return this.#queue.size
  }

  /** Executions running now. */
  get runningCount(): number {
    return this.#running.size
  }

  get topics(): TopicNames {
    return this.#topics
  }

  health(): { live: boolean; ready: boolean; reasons: string[] } {
    const reasons: string[] = []
    if (this.#fatal) reasons.push(`stopped: ${this.#fatal.message}`)
    if (!this.#started) reasons.push('not started')
    for (const m of this.#members) if (m.generation < 0) reasons.push(`${m.category}: not in its group yet`)
    return { live: this.#fatal === undefined, ready: reasons.length === 0, reasons }
  }

  /** Ensures the logs topic, joins one group per category and starts fetching. */
  async start(): Promise<void> {
    await this.#producer.prepare(this.#o.categories)
    const listener: MemberListener = {
      onJoin: (member: CategoryMember, generation: number, partitions: Set<number>) =>
        this.#onJoin(member, generation, partitions),
      onRecord: (member: CategoryMember, message: Message<Buffer, Buffer, Buffer, Buffer>) =>
        this.#onRecord(member, message),
      onError: (error: unknown, member: CategoryMember, failed: unknown) =>
        void this.#onStreamError(listener, member, failed, error),
    }
    for (const category of this.#o.categories) {
      const topic = this.#topics.executions(category)
      this.#members.push(await joinCategory(category, { ...this.#o, topic }, listener))
    }
    this.#started = true
  }

  /** A fetch stream failed: re-opened after a transient failure, fatal otherwise (recoverStream). */
  async #onStreamError(listener: MemberListener, member: CategoryMember, failed: unknown, error: unknown) {
    if (member.stream !== failed || this.#stopping || this.#fatal) return
    const fatal = await recoverStream(member, listener, error, this.#o.logger, () => this.#stopping || !!this.#fatal)
    if (fatal !== undefined) this.#fail(fatal)
  }

  /** Graceful shutdown (see header). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  #onJoin(member: CategoryMember, generation: number, mine: Set<number>): void {
    const now = this.#o.nowMs()
    const previous = member.assigned
    member.generation = generation
    member.tracker = new OffsetTracker()
    member.assigned = mine
    member.rebalancing = false
    // Queued records of this member are fetched again from the committed offset under the new generation.
    for (const p of this.#queue.removeWhere((p) => p.deliveries.every((d) => d.member === member))) {
      this.#queuedByKey.delete(p.key)
    }
    for (const p of this.#running.values()) {
      p.deliveries = p.deliveries.filter((d) => d.member !== member)
      if (p.member === member && !mine.has(p.partition)) p.running?.abort('revoked')
    }
    member.handoverUntil.clear()
    const first = previous.size === 0 && generation >= 0
    for (const p of mine) {
      if (!previous.has(p) && !first) member.handoverUntil.set(p, now + this.#o.rebalanceHandoverMs)
    }
    this.#o.logger.info(
      { category: member.category, generation, partitions: [...mine] },
      `worker ${member.category}: assigned partitions ${[...mine].join(',') || '(none)'}`,
    )
    this.#schedulePump(now)
  }

  #onRecord(member: CategoryMember, message: Message<Buffer, Buffer, Buffer, Buffer>): void {
    if (this.#stopping) return
    const delivery: Delivery = {
      member,
      generation: member.generation,
      partition: message.partition,
      offset: message.offset,
    }
    member.tracker.track(message.partition, message.offset, message.leaderEpoch)
    this.#decodeChain = this.#decodeChain.then(async () => {
      const execution = await decodeExecution(this.#decoderDeps, member.topic, message)
      if (execution === 'dead-lettered') this.#markDone(delivery)
      else if (execution !== undefined) this.#accept(delivery, execution)
      // undefined: stopping while the registry was away; the offset stays uncommitted, so it is redelivered.
    })
    if (this.#queue.size + 1 >= this.#o.maxQueuedExecutions && !this.#paused) {
      this.#paused = true
      for (const m of this.#members) m.stream?.pause()
    }
  }

  #accept(delivery: Delivery, execution: TaskExecution): void {
    if (delivery.generation !== delivery.member.generation || this.#stopping) return
    const key = `${execution.executionId}#${execution.attempt}`
    const running = this.#running.get(key)
    if (running !== undefined) {
      running.deliveries.push(delivery)
      return
    }
    if (this.#finished.has(key)) {
      this.#markDone(delivery)
      return
    }
    const queued = this.#queuedByKey.get(key)
    if (queued !== undefined) {
      queued.deliveries.push(delivery)
      return
    }
    const pending: Pending = {
      key,
      member: delivery.member,
      partition: delivery.partition,
      execution,
      deliveries: [delivery],
      priority: execution.priority,
      dueAtMs: execution.dueAtMs,
      seq: this.#seq++,
    }
    this.#queue.push(pending)
    this.#queuedByKey.set(key, pending)
    this.#schedulePump(this.#o.nowMs())
  }

  #schedulePump(atMs: number): void {
    if (this.#stopping) return
    if (this.#pumpTimer !== undefined && this.#pumpAtMs <= atMs) return
    clearTimeout(this.#pumpTimer)
    this.#pumpAtMs = atMs
    this.#pumpTimer = setTimeout(
      () => {
        this.#pumpTimer = undefined
        this.#pumpAtMs = Infinity
        this.#pump()
      },
      Math.max(0, atMs - this.#o.nowMs()),
    )
  }

  /** Starts every queued execution the limits allow, in priority order; plans the next pump. */
  #pump(): void {
    if (this.#stopping) return
    const { toStart, nextAtMs } = selectStartable(
      this.#queue.view(),
      this.#limiter,
      this.#o.limits.concurrency,
      this.#o.nowMs(),
    )
    this.#queue.removeAll(new Set(toStart.map(([p]) => p)))
    for (const [p, release] of toStart) {
      this.#queuedByKey.delete(p.key)
      this.#start(p, release)
    }
    if (nextAtMs < Infinity) this.#schedulePump(nextAtMs)
    if (this.#paused && this.#queue.size < this.#o.maxQueuedExecutions / 2) {
      this.#paused = false
      for (const m of this.#members) m.stream?.resume()
    }
  }

  #start(p: Pending, release: () => void): void {
    this.#running.set(p.key, p)
    const handler = this.#o.handlers.get(p.execution.category, p.execution.type)
    const writes: Promise<void>[] = []
    const attempt = runAttempt(p.execution, handler, {
      workerId: this.#o.workerId,
      nowMs: this.#o.nowMs,
      limits: this.#o.attempt,
      sinks: {
        started: (result) => writes.push(this.#producer.result(result)),
        log: (line) => writes.push(this.#producer.log(line)),
      },
    })
    p.running = attempt
    this.stats.started++
    this.emit('started', p.execution, attempt.startedAtMs)
    void attempt.settled.then(() => {
      release()
      this.#schedulePump(this.#o.nowMs())
    })
    void attempt.done
      .then(async (result) => {
        // STARTED and the log lines are acknowledged before the terminal result is queued (it follows them).
        await Promise.all(writes)
        if (result !== undefined) await this.#producer.result(result)
        this.#running.delete(p.key)
        if (result === undefined) return // revoked: the new owner reports
        this.#count(result)
        this.#finished.set(p.key, true)
        if (this.#finished.size > 20_000) this.#finished.delete(this.#finished.keys().next().value as string)
        for (const d of p.deliveries) this.#markDone(d)
        this.emit('result', result, p.execution)
      })
      .catch((error: unknown) => this.#fail(coerceError(error)))
  }

  #count(result: TaskResult): void {
    if (result.status === 'SUCCEEDED') this.stats.succeeded++
    else if (result.status === 'TIMED_OUT') this.stats.timedOut++
    else this.stats.failed++
  }

  #markDone(d: Delivery): void {
    if (d.generation !== d.member.generation) return
    d.member.tracker.done(d.partition, d.offset)
    this.#scheduleCommit()
  }

  #scheduleCommit(): void {
    if (this.#commitTimer !== undefined) return
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined
      this.#commit().catch((error: unknown) => this.#fail(coerceError(error)))
    }, this.#o.commitIntervalMs)
  }

  async #commit(): Promise<void> {
    for (const m of this.#members) {
      const outcome = await commitMember(m, this.#o.logger)
      if (outcome === 'committed') this.stats.commits++
      else if (outcome === 'retry') this.#scheduleCommit()
    }
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#pumpTimer)
    this.#queue.removeWhere(() => true)
    this.#queuedByKey.clear()
    for (const m of this.#members) m.stream?.pause()
    const deadline = this.#o.nowMs() + this.#o.shutdownGraceMs
    while (this.#running.size > 0 && this.#o.nowMs() < deadline) await sleep(20)
    if (this.#running.size > 0) {
      this.#o.logger.warn({ running: this.#running.size }, 'worker: grace period over; aborting running executions')
      for (const p of this.#running.values()) p.running?.abort('shutdown')
    }
    while (this.#running.size > 0) await sleep(20)
    clearTimeout(this.#commitTimer)
    this.#commitTimer = undefined
    await this.#commit().catch(() => undefined)
    for (const m of this.#members) await leaveCategory(m)
    await this.#producer.close().catch(() => undefined)
  }

  #fail(error: FlextaskError): void {
    if (this.#fatal || this.#stopping) return
    this.#fatal = error
    this.#o.logger.error({ code: error.code }, `worker: fatal: ${error.message}`)
    this.emit('error', error)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
