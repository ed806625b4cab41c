/**
 * The tasks of one runtime instance (≈ Kafka Streams' TaskManager): which partitions have a task, in which
 * state, and the opening and closing of tasks. The loop calls it at one fixed point of each pass; a group
 * join never touches tasks from its callback (review C2, §2.2 rule 1).
 *
 *   (absent) ──open──▶ opening ──restored, same generation──▶ running
 *                         │                                     │
 *                         └────── join / not assigned ──────────┴──▶ closing ──▶ (absent)
 *
 * - A join (applyJoin) keeps a task only when this member held its partition in every generation since the
 *   task was opened (group-membership.ts `heldSince`): the task is re-stamped with the new generation and
 *   goes on running (or opening) with its store and committed offsets. Every other task closes: a process
 *   that was frozen (GC pause, SIGSTOP) may have lost and regained a partition without seeing it, while
 *   another owner advanced its changelog. Uncommitted work of kept tasks is the loop's to drop (the stream
 *   restarts from the committed offsets on every join).
 * - Every pass (reconcile) closes tasks whose partition is not assigned or whose generation is not the
 *   current one, and opens assigned partitions that have no task.
 * - Tasks open concurrently and off the loop: while one waits (for a dead owner's open transaction, a long
 *   restore), every running task keeps processing and firing (review C11). A restore reports its progress per
 *   store (onRestoreProgress) while it runs.
 * - An open stamped with a generation that has changed when it completes is dropped, never started.
 * - A partition's LevelDB is opened only after its previous task closed it (the lock).
 * - An open that fails with a retriable error is retried with backoff while the partition stays assigned;
 *   anything else is fatal.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Admin, type Consumer, ListOffsetTimestamps } from '@platformatic/kafka'
import { ErrorCodes, type FlextaskError } from '../errors.ts'
import type { Clock, KeyRange } from './api.ts'
import { backoffMs, sleepUnless } from './backoff.ts'
import type { ChangelogRestorer } from './changelog-restorer.ts'
import type { GroupJoin } from './group-membership.ts'
import { decideError, kafkaErrorIds } from './kafka-errors.ts'
import type { RuntimeEvents } from './runtime-events.ts'
import { LevelStoreBackend, type StoreBackend, TaskStores } from './state-stores.ts'
import { StreamTask } from './stream-task.ts'
import type { Topology } from './topology-builder.ts'

export type TaskStatus = 'opening' | 'running' | 'closing'

export interface TaskEntry {
  readonly partition: number
  /** The group generation the task was opened under, or the latest join that kept it. */
  generation: number
  status: TaskStatus
  task: StreamTask | undefined
  backend: StoreBackend | undefined
  /** source topic → committed offset (next to read) of the group, for fencing commits and dropping re-reads. */
  committed: Map<string, bigint>
  readonly abort: AbortController
  opened: Promise<void>
}

export interface TaskManagerOptions {
  topology: Topology
  applicationId: string
  stateDir: string
  transactionTimeoutMs: number
  clock: Clock
  admin: Admin
  /** A consumer that never joins a group: list offsets and restore fetches. */
  restoreConsumer: Consumer
  restorer: ChangelogRestorer
  changelogTopic: (store: string) => string
  partitionCount: () => number
  events: RuntimeEvents
  /** Wakes the loop (a task became running). */
  notify: () => void
  /** A task open failed with an error that is not retried. */
  fail: (error: FlextaskError) => void
  /**
   * Called when an open waits on a transaction another instance left open (unstable committed offsets or
   * changelog): the runtime fences departed instances (zombie-fencer.ts).
   */
  onUnstable?: (partition: number, what: 'offsets' | 'changelog') => void
  /** Creates a partition's store backend. @default LevelDB under <stateDir>/<applicationId>/<partition> */
  openBackend?: (partition: number) => StoreBackend
}

export class TaskManager {
  readonly #o: TaskManagerOptions
  readonly #tasks = new Map<number, TaskEntry>()
  /** partition → the close in progress of its previous task. */
  readonly #closing = new Map<number, Promise<void>>()
  /** partition → failed opens in a row, and when the next attempt may start. */
  readonly #retry = new Map<number, { attempts: number; notBeforeMs: number }>()
  #generation = -1
  #assigned: ReadonlySet<number> = new Set()

  constructor(options: TaskManagerOptions) {
    this.#o = options
  }

  get generation(): number {
    return this.#generation
  }

  get assigned(): ReadonlySet<number> {
    return this.#assigned
  }

  /**
   * Applies a join: keeps the tasks whose partition was held in every generation since they were opened,
   * closes the others (see the header), then opens assigned partitions without a task.
   */
  applyJoin(join: GroupJoin): { closed: number[]; kept: TaskEntry[] } {
    this.#generation = join.generation
    this.#assigned = join.partitions
    this.#retry.clear()
    const closed: number[] = []
    const kept: TaskEntry[] = []
    for (const entry of [...this.#tasks.values()]) {
      const heldSince = join.heldSince.get(entry.partition)
      if (join.partitions.has(entry.partition) && heldSince !== undefined && heldSince <= entry.generation) {
        entry.generation = join.generation
        kept.push(entry)
      } else {
        closed.push(entry.partition)
        this.#beginClose(entry)
      }
    }
    this.reconcile()
    return { closed, kept }
  }

  /** Closes tasks not assigned or of another generation; opens assigned partitions without a task. */
  reconcile(): void {
    for (const entry of [...this.#tasks.values()]) {
      if (!this.#assigned.has(entry.partition) || entry.generation !== this.#generation) this.#beginClose(entry)
    }
    const now = Date.now()
    for (const partition of this.#assigned) {
      if (this.#tasks.has(partition) || (this.#retry.get(partition)?.notBeforeMs ?? 0) > now) continue
      this.#startOpen(partition)
    }
  }

  running(): TaskEntry[] {
    return [...this.#tasks.values()].filter((e) => e.status === 'running')
  }

  /** True when every assigned partition has a running task of the current generation. */
  allRunning(): boolean {
    for (const p of this.#assigned) if (this.#tasks.get(p)?.status !== 'running') return false
    return true
  }

  /** Earliest instant a failed open may be retried (for the loop's wait), or undefined. */
  nextRetryMs(): number | undefined {
    let next: number | undefined
    for (const [p, r] of this.#retry)
      if (this.#assigned.has(p) && !this.#tasks.has(p)) next = Math.min(next ?? Infinity, r.notBeforeMs)
    return next
  }

  /** Closes every task (revocation handled as a close; after an abort fenced the producer; on close()). */
  closeAllTasks(): number[] {
    const closed = [...this.#tasks.keys()]
    for (const entry of [...this.#tasks.values()]) this.#beginClose(entry)
    return closed
  }

  /** Waits for every close in progress. */
  async closed(): Promise<void> {
    while (this.#closing.size > 0) await Promise.all([...this.#closing.values()])
  }

  async queryStore<V>(store: string, partition: number, range: KeyRange = {}): Promise<[string, V][] | undefined> {
    const entry = this.#tasks.get(partition)
    const spec = this.#o.topology.stores.get(store)
    if (entry?.status !== 'running' || spec === undefined || entry.backend === undefined) return undefined
    const entries = await entry.backend.range(store, range)
    return entries.map(([k, v]) => [k, spec.valueSerde.deserialize(v) as V])
  }

  #startOpen(partition: number): void {
    const entry: TaskEntry = {
      partition,
      generation: this.#generation,
      status: 'opening',
      task: undefined,
      backend: undefined,
      committed: new Map(),
      abort: new AbortController(),
      opened: Promise.resolve(),
    }
    this.#tasks.set(partition, entry)
    entry.opened = this.#open(entry).catch((error: unknown) => this.#openFailed(entry, error))
  }

  #openFailed(entry: TaskEntry, error: unknown): void {
    if (entry.status === 'closing') return // closed while opening: not a failure
    const decided = decideError(error, ErrorCodes.storeRestore)
    this.#beginClose(entry)
    if (!decided.retriable) {
      this.#o.fail(decided)
      return
    }
    const attempts = (this.#retry.get(entry.partition)?.attempts ?? 0) + 1
    const wait = backoffMs(attempts, { initialMs: 500, maxMs: 10_000 })
    this.#retry.set(entry.partition, { attempts, notBeforeMs: Date.now() + wait })
    this.#o.events.emit('onTaskFailed', {
      partition: entry.partition,
      code: decided.code,
      retriable: true,
      message: decided.message,
    })
    this.#o.notify()
  }

  async #open(entry: TaskEntry): Promise<void> {
    const o = this.#o
    const { partition } = entry
    const signal = entry.abort.signal
    const startedAt = performance.now()
    await this.#closing.get(partition)
    signal.throwIfAborted()
    const backend = o.openBackend?.(partition) ?? this.#levelBackend(partition)
    entry.backend = backend
    await backend.open()
    signal.throwIfAborted()
    const serdes = new Map([...o.topology.stores].map(([name, spec]) => [name, spec.valueSerde]))
    const stores = new TaskStores(backend, serdes, o.changelogTopic, partition)
    const task = new StreamTask({
      topology: o.topology,
      partition,
      partitionCount: o.partitionCount(),
      stores,
      clock: o.clock,
      applicationId: o.applicationId,
    })
    entry.task = task
    entry.committed = await this.#committedOffsets(partition, signal)
    const targets = [...o.topology.stores.keys()].map((store) => ({ store, topic: o.changelogTopic(store) }))
    // End offsets are captured once no transaction is open on the changelogs (a previous owner's last
    // cycle): nothing fires before the state is restored up to them.
    const ends = await o.restorer.stableEndOffsets(
      targets.map((t) => t.topic),
      partition,
      2 * o.transactionTimeoutMs,
      () => o.onUnstable?.(partition, 'changelog'),
    )
    signal.throwIfAborted()
    const progress = await o.restorer.restoreTask(stores, partition, targets, ends, signal, (p) =>
      o.events.emit('onRestoreProgress', p),
    )
    signal.throwIfAborted()
    await task.init()
    if (entry.status !== 'opening' || entry.generation !== this.#generation) return // dropped, never started
    entry.status = 'running'
    this.#retry.delete(partition)
    const records = progress.reduce((n, p) => n + p.records, 0)
    o.events.emit('onRestored', { partition, records, durationMs: performance.now() - startedAt, progress })
    o.notify()
  }

  #levelBackend(partition: number): LevelStoreBackend {
    const directory = join(this.#o.stateDir, this.#o.applicationId, String(partition))
    mkdirSync(directory, { recursive: true })
    return new LevelStoreBackend(directory, [...this.#o.topology.stores.keys()])
  }

  #beginClose(entry: TaskEntry): void {
    if (this.#tasks.get(entry.partition) === entry) this.#tasks.delete(entry.partition)
    if (entry.status === 'closing') return
    entry.status = 'closing'
    entry.abort.abort()
    const previous = this.#closing.get(entry.partition) ?? Promise.resolve()
    const done: Promise<void> = previous
      .then(() => entry.opened)
      .then(async () => {
        await entry.task?.closeProcessors().catch(() => {})
        await entry.backend?.close().catch(() => {})
      })
      .finally(() => {
        if (this.#closing.get(entry.partition) === done) this.#closing.delete(entry.partition)
      })
    this.#closing.set(entry.partition, done)
  }

  /**
   * The group's committed offsets for a new task's partition, read with require_stable (KIP-447): while the
   * previous owner's transaction that commits offsets for this partition is still open, the broker answers
   * UNSTABLE_OFFSET_COMMIT and we wait, so the task never starts behind its previous owner's last commit.
   * (The client's own offset fetch does not ask for stable offsets; records below these are dropped.)
   * The admin client does not retry (runtime-options.ts adminOptions): this loop sees every UNSTABLE answer,
   * has the departed instances fenced at once and every second after, and waits out other retriable failures
   * (a coordinator moving during the failover) every 100 ms, all up to twice the transaction timeout.
   */
  async #committedOffsets(partition: number, signal: AbortSignal): Promise<Map<string, bigint>> {
    const o = this.#o
    const topics = [...o.topology.sourceTopics]
    const deadline = Date.now() + 2 * o.transactionTimeoutMs
    let waited = 0
    let groups
    for (;;) {
      try {
        groups = await o.admin.listConsumerGroupOffsets({
          groups: [
            { groupId: o.applicationId, topics: topics.map((name) => ({ name, partitionIndexes: [partition] })) },
          ],
          requireStable: true,
        })
        break
      } catch (error) {
        const unstable = kafkaErrorIds(error).has('UNSTABLE_OFFSET_COMMIT')
        if ((!unstable && !decideError(error, ErrorCodes.storeRestore).retriable) || Date.now() > deadline) throw error
        // Asked again every second of the wait (zombie-fencer.ts: one fence run at a time).
        if (unstable && waited++ % 10 === 0) o.onUnstable?.(partition, 'offsets')
        await sleepUnless(100, signal)
        signal.throwIfAborted()
      }
    }
    const starts = await o.restoreConsumer.listOffsets({
      topics,
      partitions: Object.fromEntries(topics.map((t) => [t, [partition]])),
      timestamp: ListOffsetTimestamps.EARLIEST,
    })
    const committed = new Map<string, bigint>()
    for (const t of topics) {
      const c = groups[0]?.topics
        .find((x) => x.name === t)
        ?.partitions.find((x) => x.partitionIndex === partition)?.committedOffset
      committed.set(t, c !== undefined && c >= 0n ? c : (starts.get(t)?.[partition] ?? 0n))
    }
    return committed
  }
}
