/**
 * The public API of flextask's stream-processing runtime: the only module processors import.
 *
 * Glossary
 * - topic partition: the unit Kafka orders and assigns. Co-partitioned topics (same partition count, same
 *   key → partition mapping) are processed together.
 * - task: one instance of the topology for one partition number across all co-partitioned source topics.
 *   It owns its processors, its state stores and its wall-clock timers; nothing is shared between tasks.
 * - partition owner: the process whose consumer-group member is currently assigned a task's partitions.
 *   Only the owner may process, fire timers or commit for that task; a former owner is fenced.
 * - state store: a key-value store local to a task (LevelDB), backed by a compacted changelog topic.
 *   Restore = replaying that changelog from the offset stored with the data up to the end offset captured
 *   at assignment. A task does nothing until its restore is complete.
 * - commit (cycle): one Kafka transaction holding every record produced (sinks and changelogs) and the
 *   consumed offsets of every task; local store writes are applied only after it commits.
 * - wall clock: `context.clock.nowMs()`, UTC epoch milliseconds. Timers (`wakeAt`, `schedule`) fire on it. It
 *   is always the real instant, also inside `wake()`: stamp records and judge lateness on it.
 * - due horizon: the `dueUpToMs` a `wake(dueUpToMs)` receives, ≤ the wall clock. Work due at or before it may be
 *   done in this wake-up, work due after it may not (yet): the runtime has read every input partition up to
 *   its end as observed at that instant (input-barrier.ts), so a record committed before a due instant is
 *   always processed before the timer of that instant. During an input backlog the horizon trails the clock.
 * - stream time: the timestamps of records (their CreateTime). Never used to judge whether work is due.
 * - punctuation: a periodic wall-clock callback (`schedule`); `wakeAt` is a one-shot wake-up at an exact
 *   instant, which a processor re-arms from `wake()`.
 * - unit of work: one input record, or one `context.isolate(...)` call inside `wake()`. Its store writes and
 *   forwards are journaled: when it throws, or leaves a record over the topology's `maxRecordBytes`, they are
 *   undone together and the error handler decides (errors.ts `decide`): retry the cycle, dead-letter, or fail.
 */
import type { FlextaskError } from '../errors.ts'

/** One record flowing through a topology. `value === null` is a tombstone (delete). */
export interface StreamRecord<K = string, V = unknown> {
  readonly key: K
  readonly value: V
  /** Record timestamp in epoch ms: CreateTime for source records, wall clock for records a processor creates. */
  readonly timestampMs: number
  readonly headers?: ReadonlyMap<string, Buffer>
}

/** Where the record being processed came from. Undefined inside `wake()` and punctuations. */
export interface RecordMetadata {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
}

export interface Clock {
  /** Wall-clock UTC epoch milliseconds. */
  nowMs(): number
}

export interface Serde<T> {
  serialize(value: T): Buffer
  /** May be async (e.g. a registry lookup of an unseen writer schema). Throws a coded error on bad input. */
  deserialize(data: Buffer): T | Promise<T>
}

/** A state store's value encoding: synchronous both ways (stores are read inside `process`). */
export interface StoreSerde<V> {
  serialize(value: V): Buffer
  deserialize(data: Buffer): V
}

export interface KeyRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  /** At most this many entries, in key order. */
  limit?: number
}

/**
 * A task-local key-value store. Reads see this cycle's uncommitted writes; writes become durable (LevelDB
 * and changelog) only when the cycle's transaction commits, and vanish if it aborts.
 * Keys are compared as UTF-8 bytes: encode numbers fixed-width (e.g. zero-padded) to range-scan in order.
 */
export interface KeyValueStore<V> {
  readonly name: string
  get(key: string): V | undefined
  put(key: string, value: V): void
  delete(key: string): void
  /** Entries in ascending key order within the range, merged with this cycle's pending writes. */
  range(range: KeyRange): Promise<[string, V][]>
}

export interface Cancellable {
  cancel(): void
}

export interface ProcessorContext<KOut = string, VOut = unknown> {
  readonly applicationId: string
  /** The partition number of the task this processor instance belongs to. */
  readonly partition: number
  /** The partition count of the (co-partitioned) source topics, e.g. to check key → partition. */
  readonly partitionCount: number
  readonly clock: Clock
  /** Metadata of the source record being processed; undefined in `wake()` and punctuations. */
  readonly recordMetadata: RecordMetadata | undefined
  /** Sends a record to every child, or to the named child only. */
  forward(record: StreamRecord<KOut, VOut>, childName?: string): void
  getStateStore<V>(name: string): KeyValueStore<V>
  /**
   * Asks for `wake(dueUpToMs)` at wall-clock instant `atMs` (or as soon as possible if it is past). One pending
   * wake-up per processor: a new call replaces the previous one; `undefined` clears it.
   */
  wakeAt(atMs: number | undefined): void
  /**
   * Calls `callback(dueUpToMs)` every `intervalMs` of wall-clock time (due-ness judged on the due horizon, as a
   * wake-up). Missed intervals are not replayed.
   */
  schedule(intervalMs: number, callback: (nowMs: number) => void | Promise<void>): Cancellable
  /**
   * Runs `unit` as one unit of work, as if it were one input record: its forwards reach the sinks (and are
   * serialized) before this returns, and its store writes and outputs are checked against `maxRecordBytes`.
   * If it throws or a record is too large, everything it did is undone and the coerced error is returned;
   * otherwise undefined. The processor decides what the error means (e.g. quarantine one task and go on).
   */
  isolate(unit: () => void | Promise<void>): Promise<FlextaskError | undefined>
  /**
   * What this task holds for the current cycle so far: records (outputs plus pending store writes) and their
   * bytes (outputs only; store writes are bounded per value). A processor doing a large amount of work in
   * `wake()` stops when this passes its budget and re-arms `wakeAt(now)`: the runtime commits in between,
   * so each transaction stays small (well under the transaction timeout).
   */
  pendingLoad(): { records: number; bytes: number }
  /**
   * True when the runtime asks the running `wake()` to stop early, re-arm `wakeAt(now)` and let the cycle
   * commit: this task is catching up on a backlog, has had its slice, and another task's timers are due
   * (timer-fairness.ts). A processor draining a backlog checks it between items. False outside `wake()`.
   */
  shouldYield(): boolean
}

export interface Processor<KIn = string, VIn = unknown, KOut = string, VOut = unknown> {
  /** Gets stores and arms timers. Called when the task starts (after restore) and again after an abort. */
  init?(context: ProcessorContext<KOut, VOut>): void | Promise<void>
  process(record: StreamRecord<KIn, VIn>): void | Promise<void>
  /**
   * The wake-up requested with `context.wakeAt` is due: its instant is ≤ `dueUpToMs` (the due horizon, see the
   * glossary). Handle what is due up to `dueUpToMs`, never later work; `context.clock.nowMs()` (≥ dueUpToMs) is
   * the real instant of this wake-up, for timestamps and lateness.
   */
  wake?(dueUpToMs: number): void | Promise<void>
  close?(): void | Promise<void>
}

export type ProcessorSupplier<KIn = string, VIn = unknown, KOut = string, VOut = unknown> = () => Processor<
  KIn,
  VIn,
  KOut,
  VOut
>

/**
 * What the task's error handler decides for a record that could not be decoded or processed: dead-letter it
 * (and commit past it), retry (rethrow a retriable error: the runtime aborts the cycle, backs off and processes
 * the record again), or fail the task (and the process) loudly.
 */
export const ErrorDecisions = { deadLetter: 'dead-letter', retry: 'retry', fail: 'fail' } as const
export type ErrorDecision = (typeof ErrorDecisions)[keyof typeof ErrorDecisions]

/** A record that could not be decoded or processed, as handed to the dead-letter writer. */
export interface FailedRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly reasonCode: string
  readonly message: string
  readonly failedAtMs: number
  readonly error: unknown
}
