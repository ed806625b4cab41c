/**
 * The stream runtime on a real Kafka cluster: one consumer-group member per process, one StreamTask per
 * assigned partition number, and an exactly-once commit loop. This file is the loop; each of its parts has one
 * job: runtime-options.ts (options, clients) · group-membership.ts (joins queued by the callback) ·
 * task-manager.ts (tasks, assignment) · record-buffer.ts (input stream, inbox) · task-executor.ts (records and
 * timers of a pass) · input-barrier.ts (read up to the instant before firing) · commit-cycle.ts +
 * eos-producer.ts (the transaction) · outage-policy.ts (backoff, give-up) · internal-topics.ts ·
 * runtime-events.ts (the typed observer) · kafka-errors.ts (the error decision) · loop-signal.ts (wake-up).
 *
 * One pass of the loop (runOnce):
 *   apply a queued join (keep the tasks of partitions held throughout, close the others, drop the cycle,
 *   restart the stream; while the client syncs a newer generation, wait for its join) → close tasks not assigned,
 *   open assigned ones (concurrently, off the loop) → process buffered records of running tasks (within the
 *   cycle's record and byte caps and the pass's time budget, so a flood of input holds due timers for about
 *   maxInputMsPerPass per pass, not for a whole cycle of records) → fire due timers of tasks whose input is read
 *   up to the instant → if anything was produced, consumed or written: commit one transaction (outputs +
 *   changelog + consumed offsets under the applied generation) → otherwise wait for records, a timer or a state
 *   change.
 *
 * Errors decide (kafka-errors.ts decideError, outage-policy.ts): a retriable error anywhere in a pass (a Kafka
 * fault, a refused record, a fenced producer, a retriable FlextaskError from a task, the input stream failing)
 * aborts the cycle: every running task drops it and re-initialises from committed state, the stream stops,
 * the loop sleeps a backoff that only close() interrupts, and the stream restarts from the committed offsets.
 * A fenced producer also closes every task (treated as migrated, as Kafka Streams does). Retriable failures
 * past outageGiveUpMs without progress, and any error that is not retriable, are fatal: the loop stops,
 * onFatal is called, and close() still releases every client, task and LevelDB lock.
 *
 * No transaction is open between passes (eos-producer.ts begins and ends one inside commit), so a join applied
 * at the start of a pass never interleaves with one (Kafka Streams applies assignments inside poll() on the
 * stream thread for the same reason).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCodes, type FlextaskError } from '../errors.ts'
import type { KeyRange } from './api.ts'
import { ChangelogRestorer } from './changelog-restorer.ts'
import { CommitCycle } from './commit-cycle.ts'
import { EosProducer } from './eos-producer.ts'
import { GroupMembership } from './group-membership.ts'
import { InputBarrier } from './input-barrier.ts'
import { ensureChangelogTopics } from './internal-topics.ts'
import { decideError, isRebalance } from './kafka-errors.ts'
import { LoopSignal } from './loop-signal.ts'
import { OutagePolicy } from './outage-policy.ts'
import { RecordBuffer } from './record-buffer.ts'
import { type FencedEvent, type RuntimeObserver, RuntimeEvents } from './runtime-events.ts'
import {
  createRuntimeClients,
  type ResolvedRuntimeOptions,
  type RuntimeClients,
  resolveRuntimeOptions,
  type StreamRuntimeOptions,
} from './runtime-options.ts'
import { TaskExecutor } from './task-executor.ts'
import { TaskManager } from './task-manager.ts'
import type { Topology } from './topology-builder.ts'
import { ZombieFencer } from './zombie-fencer.ts'

export { GAVE_UP } from './outage-policy.ts'
export type { KafkaConnectionOptions, StreamRuntimeOptions } from './runtime-options.ts'

export class StreamRuntime {
  readonly #topology: Topology
  readonly #o: ResolvedRuntimeOptions
  readonly #events = new RuntimeEvents()
  readonly #signal = new LoopSignal()
  readonly #clients: RuntimeClients
  readonly #producer: EosProducer
  readonly #group: GroupMembership
  readonly #tasks: TaskManager
  readonly #buffer: RecordBuffer
  readonly #cycle: CommitCycle
  readonly #barrier: InputBarrier
  readonly #executor: TaskExecutor
  readonly #fencer: ZombieFencer
  readonly #outage: OutagePolicy
  readonly #ignored: (what: string) => (error: unknown) => void
  /** Aborted by close(): ends every sleep of the loop. */
  readonly #stop = new AbortController()
  #partitionCount = 0
  #joined = false
  #lastCommitAt = 0
  #loop: Promise<void> | undefined
  #fatal: FlextaskError | undefined
  #closing: Promise<void> | undefined

  constructor(topology: Topology, options: StreamRuntimeOptions) {
    this.#topology = topology
    const o = (this.#o = resolveRuntimeOptions(options))
    const { connection = {}, logger } = options
    if (options.observer !== undefined) this.#events.add(options.observer)
    this.#ignored = (what) => (error) => logger?.debug({ err: error }, `ignored a failure ${what}`)
    const notify = (): void => this.#signal.notify()
    const { clock } = o
    const { consumer, restoreConsumer, admin, offsetsAdmin } = (this.#clients = createRuntimeClients(o, connection))
    this.#producer = new EosProducer({ ...o, connection })
    this.#fencer = new ZombieFencer({ ...o, admin, connection })
    this.#outage = new OutagePolicy({ giveUpAfterMs: o.outageGiveUpMs, events: this.#events, stop: this.#stop.signal })
    this.#group = new GroupMembership(consumer, topology.sourceTopics, notify)
    this.#tasks = new TaskManager({
      ...o,
      topology,
      clock,
      admin: offsetsAdmin,
      restoreConsumer,
      restorer: new ChangelogRestorer({ consumer: restoreConsumer, stallTimeoutMs: o.restoreStallTimeoutMs }),
      changelogTopic: (store) => this.changelogTopic(store),
      partitionCount: () => this.#partitionCount,
      events: this.#events,
      notify,
      fail: (error) => this.#fail(error),
      onUnstable: (partition, what) => this.#fenceDeparted(partition, what),
    })
    this.#buffer = new RecordBuffer({
      consumer,
      topics: topology.sourceTopics,
      maxBufferedRecords: o.maxBufferedRecords,
      maxBufferedBytes: o.maxBufferedBytes,
      onRecords: notify,
      onError: (error) => this.#group.reportError(error),
    })
    this.#cycle = new CommitCycle({ producer: this.#producer, consumer, clock: o.clock })
    const { sourceTopics: topics } = topology
    this.#barrier = new InputBarrier({
      ...o,
      consumer: restoreConsumer,
      maxWaitMs: o.inputBarrierMaxWaitMs,
      notify,
      topics,
    })
    this.#executor = new TaskExecutor({
      ...o,
      tasks: this.#tasks,
      buffer: this.#buffer,
      cycle: this.#cycle,
      barrier: o.inputBarrier ? this.#barrier : undefined,
      clock,
      events: this.#events,
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
    const changelogs = [...this.#topology.stores.keys()].map((s) => this.changelogTopic(s))
    await this.#outage.retrying('topics', async () => {
      this.#partitionCount = await ensureChangelogTopics(this.#clients.admin, this.#topology.sourceTopics, changelogs)
    })
    await this.#outage.retrying('fence previous session', () => this.#producer.fencePreviousSession())
    this.#loop = this.#run().catch((error: unknown) => this.#fail(decideError(error, ErrorCodes.unknown)))
  }

  /** Resolves once every assigned task is restored and running (or rejects after timeoutMs). */
  async waitUntilRunning(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(this.#joined && !this.#group.joinPending && this.#tasks.allRunning())) {
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
    this.#signal.notify()
    await this.#loop?.catch(() => {})
    this.#tasks.closeAllTasks()
    await this.#tasks.closed()
    await this.#buffer.stop()
    await this.#clients.close(this.#ignored)
    await this.#producer.close()
  }

  get #stopping(): boolean {
    return this.#stop.signal.aborted || this.#fatal !== undefined
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#runOnce()
      } catch (error) {
        await this.#cycleFailed(error)
      }
    }
    const group = this.#group
    const settled =
      this.#fatal === undefined && !group.joinPending && !group.rebalancing && !group.syncing(this.#tasks.generation)
    if (settled && this.#executor.hasWork()) await this.#commit().catch(() => {})
  }

  async #runOnce(): Promise<void> {
    const join = this.#group.takeJoin()
    if (join !== undefined) await this.#applyJoin(join)
    if (this.#group.hasError) throw decideError(this.#group.takeError(), ErrorCodes.commitFailed)
    if (this.#group.rejoinNeeded) {
      // Throws while the broker is unreachable (the flag stays set, the pass is retried with backoff).
      await this.#clients.consumer.joinGroup({})
      this.#group.rejoined()
    }
    if (!this.#buffer.streaming) await this.#restartStream()
    if (!this.#joined || this.#group.rebalancing || this.#group.syncing(this.#tasks.generation)) return this.#wait(50)
    this.#tasks.reconcile()
    const processed = await this.#executor.processRecords()
    const { ran, waiting } = await this.#executor.runTimers()
    const intervalDue = this.#o.clock.nowMs() - this.#lastCommitAt >= this.#o.commitIntervalMs
    const full =
      this.#cycle.uncommittedRecords >= this.#o.maxRecordsPerCycle ||
      this.#cycle.uncommittedBytes >= this.#o.maxBytesPerCycle
    const idle = this.#buffer.size() === 0
    if (this.#executor.hasWork() && (ran > 0 || intervalDue || full || idle)) await this.#commit()
    else if (processed === 0 && ran === 0) await this.#wait(waiting ? 5 : this.#executor.msUntilNextWake())
    this.#buffer.applyBackpressure()
  }

  /**
   * Applies the latest join (task-manager.ts): tasks of partitions held throughout are kept, dropping their
   * uncommitted work; the others close; the stream restarts from the committed offsets (C7, C10).
   */
  async #applyJoin(join: NonNullable<ReturnType<GroupMembership['takeJoin']>>): Promise<void> {
    this.#joined = true
    const { closed, kept } = this.#tasks.applyJoin(join)
    await this.#cycle.rollBack(kept)
    this.#barrier.reset()
    if (closed.length > 0) this.#events.emit('onRevoked', { generation: join.generation, partitions: closed })
    const keptPartitions = kept.map((e) => e.partition)
    this.#events.emit('onAssigned', {
      generation: join.generation,
      partitions: [...join.partitions],
      kept: keptPartitions,
    })
    void this.#fencer.observeMembers().catch(this.#ignored('listing group members'))
    await this.#restartStream()
  }

  async #restartStream(): Promise<void> {
    await this.#buffer.restart(this.#tasks.generation, this.#tasks.assigned)
    this.#outage.streamStarted()
  }

  async #commit(): Promise<void> {
    const event = await this.#cycle.commit(this.#tasks.running(), this.#tasks.generation)
    this.#lastCommitAt = this.#o.clock.nowMs()
    this.#outage.committed()
    this.#events.emit('onCommitted', event)
  }

  /**
   * A pass failed. Retriable: abort the cycle (tasks re-initialise from committed state; a fenced producer
   * closes every task), stop the stream, back off, and let the next pass restart the stream. Otherwise, or
   * past outageGiveUpMs, the error is fatal (thrown).
   */
  async #cycleFailed(error: unknown): Promise<void> {
    const { error: decided, streak, backoffMs } = this.#outage.cycleFailed(error)
    if (decided.code === ErrorCodes.fenced) this.#tasks.closeAllTasks()
    await this.#cycle.aborted(this.#tasks.running())
    // Our membership is gone or stale (the broker restarted, a rejoin failed during an outage): the next pass
    // joins the group again, unless a join is queued (group-membership.ts).
    if (isRebalance(decided.cause ?? decided)) this.#group.needRejoin(this.#tasks.generation)
    this.#buffer.suspend()
    this.#events.emit('onAborted', {
      code: decided.code,
      retriable: true,
      message: decided.message,
      error: decided,
      streak,
      backoffMs,
    })
    await this.#outage.backOff(backoffMs)
  }

  /** A task open waits on an open transaction: fence the departed instances (zombie-fencer.ts), report it. */
  #fenceDeparted(partition: number, what: 'offsets' | 'changelog'): void {
    const startedAt = performance.now()
    const report = (): FencedEvent['report'] => this.#fencer.lastReport
    this.#fencer.fenceDeparted().then(
      (instances) =>
        this.#events.emit('onFenced', {
          partition,
          waitingOn: what,
          instances,
          durationMs: performance.now() - startedAt,
          report: report(),
        }),
      (error: unknown) =>
        this.#events.emit('onFenced', {
          partition,
          waitingOn: what,
          instances: [],
          durationMs: performance.now() - startedAt,
          report: report(),
          error,
        }),
    )
  }

  #wait(ms: number): Promise<void> {
    return this.#signal.wait(ms, () => this.#stopping || this.#group.joinPending || this.#group.hasError)
  }

  #fail(error: FlextaskError): void {
    if (this.#fatal !== undefined) return
    this.#fatal = error
    this.#signal.notify()
    this.#events.emit('onFatal', error)
  }
}
