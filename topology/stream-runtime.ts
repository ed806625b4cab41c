/**
 * The stream runtime on a real Kafka cluster: one consumer-group member per process, one StreamTask per
 * assigned partition number, and an exactly-once commit loop. This file is the loop; its parts:
 *   task-manager.ts (tasks, assignment) · record-buffer.ts (input stream, inbox) · input-barrier.ts (read up
 *   to the instant before firing) · commit-cycle.ts + eos-producer.ts (the transaction) · internal-topics.ts ·
 *   runtime-events.ts (the typed observer) · kafka-errors.ts (the error decision).
 *
 * One pass of the loop (runOnce):
 *   apply a queued join (close every task, restart the stream, reset the cycle) → close tasks not assigned,
 *   open assigned ones (concurrently, off the loop) → process buffered records of running tasks → fire due
 *   timers of tasks whose input is read up to the instant (input barrier) → if anything was produced,
 *   consumed or written: commit one transaction (outputs + changelog + consumed offsets under the applied
 *   generation) → otherwise wait for records, a timer or a state change.
 *
 * Errors decide (kafka-errors.ts decideError): a retriable error anywhere in a pass (a Kafka fault, a
 * refused record, a fenced producer, a FlextaskError with `retriable: true` from a task's processing or
 * timers, the input stream failing) aborts the cycle: every running task drops it and re-initialises from
 * committed state, the stream stops, the loop sleeps an exponential backoff that only close() interrupts,
 * and the stream restarts from the committed offsets. A fenced producer also closes every task (treated as
 * migrated, as Kafka Streams does). Retriable failures that last longer than outageGiveUpMs without a single
 * commit or stream start in between, and any error that is not retriable, are fatal: the loop stops,
 * onFatal is called, and close() still releases every client, task and LevelDB lock.
 *
 * Group joins arrive on the client's callback; it only records them (and wakes the loop). The loop applies
 * the latest at the start of a pass (Kafka Streams applies assignments inside poll() on the stream thread for
 * the same reason: a join must never interleave with a cycle).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, type AdminOptions, Consumer, FetchIsolationLevels } from '@platformatic/kafka'
import type { Logger } from '../logger.ts'
import { ErrorCodes, type FlextaskError, FlextaskError as FlextaskErrorClass } from '../errors.ts'
import type { Clock, KeyRange } from './api.ts'
import { backoffMs, sleepUnless } from './backoff.ts'
import { ChangelogRestorer } from './changelog-restorer.ts'
import { coPartitionedAssigner } from './co-partitioned-assigner.ts'
import { systemClock } from './clocks.ts'
import { CommitCycle } from './commit-cycle.ts'
import { EosProducer } from './eos-producer.ts'
import { HoldableClock, InputBarrier } from './input-barrier.ts'
import { changelogTopicConfigs, coPartitionedCount, ensureTopics } from './internal-topics.ts'
import { decideError, isRebalance } from './kafka-errors.ts'
import { RecordBuffer, toRawRecord } from './record-buffer.ts'
import { type RuntimeObserver, RuntimeEvents } from './runtime-events.ts'
import { TaskManager } from './task-manager.ts'
import { ZombieFencer } from './zombie-fencer.ts'
import type { Topology } from './topology-builder.ts'

export interface StreamRuntimeOptions {
  /** Consumer group id, transactional id prefix and changelog topic prefix. */
  applicationId: string
  bootstrapBrokers: string[]
  /** Directory for task state: <stateDir>/<applicationId>/<partition>. */
  stateDir: string
  /** Stable id of this process: static group membership and transactional id. @default random */
  instanceId?: string
  /** Minimum spacing of commits while records flow; timers commit at once. @default 100 */
  commitIntervalMs?: number
  /** How long the group waits for a silent member before moving its partitions (failover detection). @default 6000 */
  sessionTimeoutMs?: number
  /** Also how soon a member learns of a rebalance. @default 500 */
  heartbeatIntervalMs?: number
  /** @default 30000 */
  rebalanceTimeoutMs?: number
  /**
   * Transaction timeout sent to the coordinator: the longest a dead instance's open transaction can hold the
   * new owner of its partitions (see README "Failover"). @default 10000
   */
  transactionTimeoutMs?: number
  /** Records processed per cycle before committing. @default 5000 */
  maxRecordsPerCycle?: number
  /** Buffered records above which fetching pauses. @default 20000 */
  maxBufferedRecords?: number
  /** Use static membership (groupInstanceId = instanceId). @default true */
  staticMembership?: boolean
  /**
   * How long retriable failures (broker unreachable, coordinator loading, aborted cycles) may go on with no
   * commit and no stream start in between before the runtime gives up with FLEXTASK_TOPOLOGY_GAVE_UP.
   * @default 900000 (15 minutes)
   */
  outageGiveUpMs?: number
  /**
   * Fire the timers due at T only once the inputs are read up to their end observed at or after T
   * (input-barrier.ts; the "committed before the instant wins" guarantee). Off: timers fire as soon as they
   * are due, on what has been read (for comparison in benchmarks). @default true
   */
  inputBarrier?: boolean
  /** Longest a due timer waits for its input to be read up to its instant (input-barrier.ts). @default 5000 */
  inputBarrierMaxWaitMs?: number
  /** A restore that makes no progress for this long fails (and is retried). @default 60000 */
  restoreStallTimeoutMs?: number
  /** Typed events (more with `observe`). */
  observer?: RuntimeObserver
  clock?: Clock
  /** Security options every client of the runtime gets (SASL, TLS); see kafka-clients.ts. @default plain */
  connection?: KafkaConnectionOptions
  /** Receives debug lines for errors the runtime deliberately ignores (best-effort cleanup). @default silent */
  logger?: Pick<Logger, 'debug'>
}

/** The security part of a client's options (SASL, TLS), as kafka-clients.ts builds it. */
export type KafkaConnectionOptions = Pick<AdminOptions, 'sasl' | 'tls' | 'tlsServerName'>

type ResolvedOptions = Required<Omit<StreamRuntimeOptions, 'observer' | 'connection' | 'logger'>>

interface PendingJoin {
  generation: number
  partitions: Set<number>
}

export const GAVE_UP = 'FLEXTASK_TOPOLOGY_GAVE_UP'

export class StreamRuntime {
  readonly #topology: Topology
  readonly #o: ResolvedOptions
  readonly #events = new RuntimeEvents()
  readonly #logger: Pick<Logger, 'debug'>
  readonly #clock: HoldableClock
  readonly #consumer: Consumer
  readonly #restoreConsumer: Consumer
  readonly #admin: Admin
  readonly #producer: EosProducer
  readonly #tasks: TaskManager
  readonly #buffer: RecordBuffer
  readonly #cycle: CommitCycle
  readonly #barrier: InputBarrier
  readonly #fencer: ZombieFencer
  /** Aborted by close(): ends every sleep of the loop. */
  readonly #stop = new AbortController()
  #partitionCount = 0
  #pendingJoin: PendingJoin | undefined
  #joined = false
  #rebalancing = false
  #streamError: unknown
  /** The consumer is out of the group (failed rejoin, stale member or generation): join again. */
  #rejoinNeeded = false
  #lastCommitAt = 0
  #abortStreak = 0
  #failingSince: number | undefined
  #loop: Promise<void> | undefined
  #signal: (() => void) | undefined
  #fatal: FlextaskError | undefined
  #closing: Promise<void> | undefined

  constructor(topology: Topology, options: StreamRuntimeOptions) {
    this.#topology = topology
    const instanceId = options.instanceId ?? `${options.applicationId}-${Math.random().toString(36).slice(2, 10)}`
    const { observer, connection = {}, logger, ...rest } = options
    this.#logger = logger ?? { debug: () => undefined }
    this.#o = {
      instanceId,
      commitIntervalMs: 100,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      rebalanceTimeoutMs: 30_000,
      transactionTimeoutMs: 10_000,
      maxRecordsPerCycle: 5_000,
      maxBufferedRecords: 20_000,
      staticMembership: true,
      outageGiveUpMs: 15 * 60_000,
      inputBarrier: true,
      inputBarrierMaxWaitMs: 5_000,
      restoreStallTimeoutMs: 60_000,
      clock: systemClock,
      ...rest,
    }
    if (observer !== undefined) this.#events.add(observer)
    const o = this.#o
    this.#clock = new HoldableClock(o.clock)
    this.#consumer = new Consumer({
      ...connection,
      clientId: `${instanceId}-consumer`,
      groupId: o.applicationId,
      ...(o.staticMembership ? { groupInstanceId: instanceId } : {}),
      bootstrapBrokers: o.bootstrapBrokers,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      // A stream task is one partition number across all source topics (co-partitioning).
      partitionAssigner: coPartitionedAssigner,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      maxWaitTime: 500,
      highWaterMark: 1024,
      // Bounded fetches: the client buffers a whole fetch response even while the stream is paused.
      maxBytes: 4 * 1024 * 1024,
      maxBytesPerPartition: 1024 * 1024,
    })
    this.#restoreConsumer = new Consumer({
      ...connection,
      clientId: `${instanceId}-restore`,
      groupId: `${o.applicationId}-restore-never-joins`,
      bootstrapBrokers: o.bootstrapBrokers,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    })
    this.#admin = new Admin({ ...connection, clientId: `${instanceId}-admin`, bootstrapBrokers: o.bootstrapBrokers })
    this.#producer = new EosProducer({ ...o, instanceId, connection })
    const notify = (): void => this.#notify()
    this.#fencer = new ZombieFencer({ ...o, admin: this.#admin, instanceId, connection })
    this.#tasks = new TaskManager({
      topology,
      applicationId: o.applicationId,
      stateDir: o.stateDir,
      transactionTimeoutMs: o.transactionTimeoutMs,
      clock: this.#clock,
      admin: this.#admin,
      restoreConsumer: this.#restoreConsumer,
      restorer: new ChangelogRestorer({ consumer: this.#restoreConsumer, stallTimeoutMs: o.restoreStallTimeoutMs }),
      changelogTopic: (store) => this.changelogTopic(store),
      partitionCount: () => this.#partitionCount,
      events: this.#events,
      notify,
      fail: (error) => this.#fail(error),
      onUnstable: () => void this.#fencer.fenceDeparted().catch(() => {}),
    })
    this.#buffer = new RecordBuffer({
      consumer: this.#consumer,
      topics: topology.sourceTopics,
      maxBufferedRecords: o.maxBufferedRecords,
      onRecords: notify,
      onError: (error) => {
        this.#streamError = error
        this.#notify()
      },
    })
    this.#cycle = new CommitCycle({ producer: this.#producer, consumer: this.#consumer, clock: o.clock })
    this.#barrier = new InputBarrier({
      consumer: this.#restoreConsumer,
      topics: topology.sourceTopics,
      clock: o.clock,
      maxWaitMs: o.inputBarrierMaxWaitMs,
      notify,
    })
    this.#consumer.on(
      'consumer:group:join',
      (event: { generationId?: number; assignments?: { topic: string; partitions: number[] }[] }) => {
        const partitions = new Set<number>()
        for (const a of event.assignments ?? [])
          if (topology.sourceTopics.includes(a.topic)) for (const p of a.partitions) partitions.add(p)
        this.#pendingJoin = { generation: event.generationId ?? -1, partitions }
        this.#rebalancing = false
        this.#notify()
      },
    )
    this.#consumer.on('consumer:group:rebalance', () => {
      this.#rebalancing = true
      this.#notify()
    })
    // A failed rejoin (broker unreachable) is emitted as 'error', and the client then stops heartbeating: the
    // loop waits it out like a stream failure and makes the consumer join again.
    this.#consumer.on('error', (error: unknown) => {
      this.#streamError ??= error
      this.#rejoinNeeded = true
      this.#notify()
    })
  }

  get applicationId(): string {
    return this.#o.applicationId
  }

  /** Registers an observer; returns a function that removes it. */
  observe(observer: RuntimeObserver): () => void {
    return this.#events.add(observer)
  }

  changelogTopic(store: string): string {
    return `${this.#o.applicationId}-${store}-changelog`
  }

  /** Partitions whose tasks are restored and running. */
  runningPartitions(): number[] {
    return this.#tasks.running().map((t) => t.partition)
  }

  /** Reads a running task's store (committed state only), like a Kafka Streams interactive query. */
  queryStore<V>(store: string, partition: number, range: KeyRange = {}): Promise<[string, V][] | undefined> {
    return this.#tasks.queryStore<V>(store, partition, range)
  }

  /**
   * Creates the changelog topics (checking co-partitioning), fences a previous incarnation's open
   * transaction, joins the group and starts the loop. Waits out an unreachable broker or a loading
   * transaction coordinator (backoff, onRetrying) up to outageGiveUpMs.
   */
  async start(): Promise<void> {
    await this.#retrying('topics', () => this.#ensureChangelogs())
    await this.#retrying('fence previous session', () => this.#producer.fencePreviousSession())
    this.#loop = this.#run().catch((error: unknown) => this.#fail(decideError(error, ErrorCodes.unknown)))
  }

  /** Resolves once every assigned task is restored and running (or rejects after timeoutMs). */
  async waitUntilRunning(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(this.#joined && this.#pendingJoin === undefined && this.#tasks.allRunning())) {
      if (this.#fatal) throw this.#fatal
      if (Date.now() > deadline) throw new Error(`${this.applicationId}: tasks not running after ${timeoutMs} ms`)
      await sleep(20)
    }
  }

  /**
   * Finishes the current pass, commits what it holds (unless a join is pending or the runtime failed), closes
   * every task and store, leaves the group and closes every client. Idempotent (every call returns the same
   * promise), and releases everything also after a fatal error.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#stop.abort()
    this.#notify()
    await this.#loop?.catch(() => {})
    this.#tasks.closeAllTasks()
    await this.#tasks.closed()
    await this.#buffer.stop()
    await this.#consumer.close(true).catch(this.#ignored('closing the consumer'))
    await this.#restoreConsumer.close(true).catch(this.#ignored('closing the restore consumer'))
    await this.#producer.close()
    await this.#admin.close().catch(this.#ignored('closing the admin client'))
  }

  /** A catch handler for best-effort steps whose failure changes nothing: logs the reason at debug level. */
  #ignored(what: string): (error: unknown) => void {
    return (error: unknown) => this.#logger.debug({ err: error }, `ignored a failure ${what}`)
  }

  get #stopping(): boolean {
    return this.#stop.signal.aborted || this.#fatal !== undefined
  }

  async #ensureChangelogs(): Promise<void> {
    this.#partitionCount = await coPartitionedCount(this.#admin, this.#topology.sourceTopics)
    await ensureTopics(
      this.#admin,
      [...this.#topology.stores.keys()].map((s) => ({
        name: this.changelogTopic(s),
        partitions: this.#partitionCount,
        configs: changelogTopicConfigs,
      })),
    )
  }

  /** Runs a startup step until it succeeds, waiting out retriable failures (backoff) up to outageGiveUpMs. */
  async #retrying(step: string, fn: () => Promise<void>): Promise<void> {
    const startedAt = Date.now()
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn()
      } catch (error) {
        const decided = decideError(error, ErrorCodes.unknown)
        const failingForMs = Date.now() - startedAt
        if (!decided.retriable) throw decided
        if (failingForMs > this.#o.outageGiveUpMs) throw this.#gaveUp(step, decided, failingForMs)
        if (this.#stop.signal.aborted) throw decided
        const wait = backoffMs(attempt, { initialMs: 200, maxMs: 5000 })
        this.#events.emit('onRetrying', {
          step,
          code: decided.code,
          message: decided.message,
          attempt,
          backoffMs: wait,
          failingForMs,
          giveUpInMs: this.#o.outageGiveUpMs - failingForMs,
        })
        await sleepUnless(wait, this.#stop.signal)
      }
    }
  }

  #gaveUp(step: string, cause: FlextaskError, failingForMs: number): FlextaskError {
    return new FlextaskErrorClass(
      GAVE_UP,
      `${step}: gave up after ${Math.round(failingForMs / 1000)} s of retriable failures (outageGiveUpMs ${this.#o.outageGiveUpMs}): ${cause.message}`,
      { cause },
    )
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#runOnce()
      } catch (error) {
        await this.#cycleFailed(error)
      }
    }
    if (this.#fatal === undefined && this.#pendingJoin === undefined && !this.#rebalancing) {
      const running = this.#tasks.running()
      if (running.some((e) => e.task?.hasWork())) await this.#commit().catch(() => {})
    }
  }

  async #runOnce(): Promise<void> {
    if (this.#pendingJoin !== undefined) await this.#applyJoin()
    if (this.#streamError !== undefined) {
      const error = decideError(this.#streamError, ErrorCodes.commitFailed)
      this.#streamError = undefined
      throw error
    }
    if (this.#rejoinNeeded) {
      // The client stops heartbeating after a failed rejoin and never joins again by itself. Throws while
      // the broker is unreachable (the flag stays set, the pass is retried with backoff).
      await this.#consumer.joinGroup({})
      this.#rejoinNeeded = false
    }
    if (!this.#joined || this.#rebalancing) {
      if (!this.#buffer.streaming) await this.#restartStream()
      await this.#wait(50)
      return
    }
    if (!this.#buffer.streaming) await this.#restartStream()
    this.#tasks.reconcile()
    const processed = await this.#processRecords()
    const { ran, waiting } = await this.#runTimers()
    const running = this.#tasks.running()
    const dirty = running.some((e) => e.task?.hasWork())
    const intervalDue = this.#o.clock.nowMs() - this.#lastCommitAt >= this.#o.commitIntervalMs
    const full = this.#cycle.uncommittedRecords >= this.#o.maxRecordsPerCycle
    if (dirty && (ran > 0 || intervalDue || full || this.#buffer.size() === 0)) await this.#commit()
    else if (processed === 0 && ran === 0) await this.#wait(waiting ? 5 : this.#msUntilNextWake())
    this.#buffer.applyBackpressure()
  }

  /** Applies the latest join: every task closes and reopens (task-manager.ts), the stream restarts (C7). */
  async #applyJoin(): Promise<void> {
    const join = this.#pendingJoin as PendingJoin
    this.#pendingJoin = undefined
    this.#joined = true
    this.#cycle.reset() // C10: nothing consumed under the old generation is committed under the new one
    this.#barrier.reset()
    const closed = this.#tasks.applyJoin(join.generation, join.partitions)
    if (closed.length > 0) this.#events.emit('onRevoked', { generation: join.generation, partitions: closed })
    this.#events.emit('onAssigned', { generation: join.generation, partitions: [...join.partitions] })
    void this.#fencer.observeMembers().catch(() => {})
    await this.#restartStream()
  }

  async #restartStream(): Promise<void> {
    await this.#buffer.restart(this.#tasks.generation, this.#tasks.assigned)
    this.#failingSince = undefined
  }

  /** Processes buffered records, sharing the cycle's budget fairly between the running tasks. */
  async #processRecords(): Promise<number> {
    let processed = 0
    const running = this.#tasks.running()
    const budget = this.#o.maxRecordsPerCycle - this.#cycle.uncommittedRecords
    const perTask = Math.max(1, Math.ceil(budget / Math.max(1, running.length)))
    for (const entry of running) {
      for (const message of this.#buffer.take(entry.partition, Math.min(perTask, budget - processed))) {
        if (entry.status !== 'running' || entry.task === undefined) break
        // Already processed and committed by a previous owner (see TaskManager#committedOffsets).
        if (message.offset < (entry.committed.get(message.topic) ?? 0n)) continue
        await entry.task.process(toRawRecord(message))
        this.#cycle.consumed(message)
        processed++
      }
    }
    return processed
  }

  /** Fires due timers of the tasks whose input is read up to the instant (input-barrier.ts). */
  async #runTimers(): Promise<{ ran: number; waiting: boolean }> {
    let ran = 0
    let waiting = false
    const now = this.#o.clock.nowMs()
    for (const entry of this.#tasks.running()) {
      const task = entry.task
      const next = task?.nextWakeMs()
      if (task === undefined || next === undefined || next > now) continue
      const decision = this.#o.inputBarrier
        ? this.#barrier.decide(entry.partition, next, this.#buffer, this.#tasks.assigned)
        : { fireAtMs: now }
      if (decision === undefined) {
        waiting = true
        continue
      }
      if (decision.lateMs !== undefined)
        this.#events.emit('onInputLate', { partition: entry.partition, waitedMs: decision.lateMs })
      ran += await this.#clock.runHeldAt(decision.fireAtMs, () => task.runDueTimers())
    }
    this.#cycle.timersRan(ran)
    return { ran, waiting }
  }

  #msUntilNextWake(): number {
    let next = this.#tasks.nextRetryMs() ?? Infinity
    for (const entry of this.#tasks.running()) next = Math.min(next, entry.task?.nextWakeMs() ?? Infinity)
    return Math.max(0, Math.min(next - this.#o.clock.nowMs(), 1000))
  }

  async #commit(): Promise<void> {
    const event = await this.#cycle.commit(this.#tasks.running(), this.#tasks.generation)
    this.#lastCommitAt = this.#o.clock.nowMs()
    this.#abortStreak = 0
    this.#failingSince = undefined
    this.#events.emit('onCommitted', event)
  }

  /**
   * A pass failed. Retriable: abort the cycle (tasks re-initialise from committed state; a fenced producer
   * closes every task), stop the stream, back off (only close() cuts the sleep short, C9), and let the next
   * pass restart the stream. Otherwise, or past outageGiveUpMs, the error is fatal.
   */
  async #cycleFailed(error: unknown): Promise<void> {
    const decided = decideError(error, ErrorCodes.commitFailed)
    if (!decided.retriable) throw decided
    this.#failingSince ??= Date.now()
    const failingForMs = Date.now() - this.#failingSince
    if (failingForMs > this.#o.outageGiveUpMs) throw this.#gaveUp('cycle', decided, failingForMs)
    this.#abortStreak++
    if (decided.code === ErrorCodes.fenced) this.#tasks.closeAllTasks()
    await this.#cycle.aborted(this.#tasks.running())
    // Our membership is gone or stale (the broker restarted, a rejoin failed during an outage): the next pass
    // joins the group again; the join then resets tasks, offsets and the stream.
    if (isRebalance(decided.cause ?? decided)) this.#rejoinNeeded = true
    this.#buffer.suspend()
    const wait = backoffMs(this.#abortStreak)
    this.#events.emit('onAborted', {
      code: decided.code,
      retriable: true,
      message: decided.message,
      error: decided,
      streak: this.#abortStreak,
      backoffMs: wait,
    })
    await sleepUnless(wait, this.#stop.signal)
  }

  #notify(): void {
    const signal = this.#signal
    this.#signal = undefined
    signal?.()
  }

  async #wait(ms: number): Promise<void> {
    if (this.#stopping || this.#pendingJoin !== undefined || this.#streamError !== undefined) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#signal = undefined
        resolve()
      }, ms)
      this.#signal = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  #fail(error: FlextaskError): void {
    if (this.#fatal !== undefined) return
    this.#fatal = error
    this.#notify()
    this.#events.emit('onFatal', error)
  }
}
