/**
 * The work of one pass on the running tasks (≈ Kafka Streams' TaskExecutor): hand buffered records to their
 * tasks, then fire due timers, and say how long the loop may sleep.
 *
 * - Records: each pass processes input within three budgets, then lets due timers have their turn (issue 15):
 *   the cycle's records (maxRecordsPerCycle minus what the cycle already holds), the cycle's input bytes
 *   (maxBytesPerCycle) and the pass's time (maxInputMsPerPass, on a monotonic clock). Tasks take turns in rounds of
 *   a few records, the first turn rotating from pass to pass, so no partition's flood holds another's input; a
 *   record is the unit (one slow record can overrun the time budget by its own cost, no more). Records taken but
 *   not processed go back to the head of their queue, so offset order is kept. A record below the task's
 *   committed offset was already processed and committed by a previous owner and is skipped (TaskManager's
 *   committed offsets).
 * - A record whose writer schema cannot be looked up now (FLEXTASK_REGISTRY_REQUEST_FAILED, retriable: the registry
 *   is away) holds only its own partition: it goes back to the head of its queue and that partition's input waits
 *   a backoff (200 ms doubling to 5 s, `onRetrying`) while the other partitions' records and every due timer go on
 *   (the partition's own timers wait for it at the input barrier, up to its maxWaitMs). Decoding is the first step
 *   of a record (stream-task.ts) and the record's unit was undone, so nothing else needs rolling back. Any other
 *   retriable error is thrown (the runtime aborts the cycle), and so is this one once the partition has waited
 *   outageGiveUpMs (the runtime's outage policy then decides).
 * - Timers: a task whose earliest timer is due fires once its input is read up to the instant (input-barrier.ts,
 *   issue 8): the timers due up to the instant the barrier observed fire (the due horizon, api.ts), on the real
 *   clock, so firedAtMs, lateness and misfire see how late they really are; without the barrier the horizon
 *   is now. A task whose barrier is not yet passed makes the pass "waiting" (the loop polls again in 5 ms).
 *   Tasks on time fire before tasks catching up on a backlog, and those yield after a slice when others are
 *   due (timer-fairness.ts, issue 14: a herd on one partition does not hold the others' timers).
 */
import { coerceError, ErrorCodes } from '../errors.ts'
import type { Clock } from './api.ts'
import type { CommitCycle } from './commit-cycle.ts'
import type { InputBarrier } from './input-barrier.ts'
import { type RecordBuffer, toRawRecord } from './record-buffer.ts'
import type { RuntimeEvents } from './runtime-events.ts'
import type { StreamTask } from './stream-task.ts'
import type { TaskEntry, TaskManager } from './task-manager.ts'
import { TimerFairness } from './timer-fairness.ts'

export interface TaskExecutorOptions {
  tasks: Pick<TaskManager, 'running' | 'assigned' | 'nextRetryMs'>
  buffer: Pick<RecordBuffer, 'take' | 'putBack'> & Parameters<InputBarrier['decide']>[2]
  cycle: Pick<CommitCycle, 'uncommittedRecords' | 'uncommittedBytes' | 'consumed' | 'timersRan'>
  barrier: Pick<InputBarrier, 'decide'> | undefined
  /** The tasks' wall clock (never held: the barrier bounds which timers are due, not what time it is). */
  clock: Clock
  /** Records a catching-up task adds to a cycle before it yields to due timers of others (timer-fairness.ts). */
  catchUpSliceRecords: number
  events: RuntimeEvents
  maxRecordsPerCycle: number
  maxBytesPerCycle: number
  maxInputMsPerPass: number
  /** The monotonic clock of the time budget and input backoffs, in ms. @default performance.now */
  elapsedMs?: () => number
  /** How long a partition's input waits out an unreachable registry before the error aborts the cycle. */
  outageGiveUpMs: number
}

/** A partition whose next record waits for the registry (see the header). */
interface ParkedInput {
  untilMs: number
  attempt: number
  sinceMs: number
}

/** Records a task takes per turn: small, so turns interleave; large enough that a turn is not all overhead. */
const recordsPerTurn = 16

export class TaskExecutor {
  readonly #o: TaskExecutorOptions
  /** Rotates which task takes the first turn of a pass. */
  #turn = 0
  readonly #parked = new WeakMap<TaskEntry, ParkedInput>()
  readonly #fairness: TimerFairness
  /** partition → when a pass first found its timers due and asked the barrier (onTimersRan's barrierWaitMs). */
  readonly #askedAtMs = new Map<number, number>()

  constructor(options: TaskExecutorOptions) {
    this.#o = options
    this.#fairness = new TimerFairness(options.catchUpSliceRecords, options.clock)
  }

  /**
   * Processes buffered records within the pass's budgets (see the header), tasks taking turns. Returns how many
   * were processed; the loop commits when the cycle is full (records or bytes) and runs due timers either way.
   */
  async processRecords(): Promise<number> {
    const { tasks, cycle } = this.#o
    const elapsedMs = this.#elapsedMs
    const startedMs = elapsedMs()
    const running = tasks.running().filter((e) => (this.#parked.get(e)?.untilMs ?? 0) <= startedMs)
    if (running.length === 0) return 0
    const deadline = startedMs + this.#o.maxInputMsPerPass
    const budget = this.#o.maxRecordsPerCycle - cycle.uncommittedRecords
    const share = Math.max(1, Math.ceil(budget / running.length))
    const taken = new Map<TaskEntry, number>()
    const first = this.#turn++ % running.length
    const order = [...running.slice(first), ...running.slice(0, first)]
    let processed = 0
    const spent = (): boolean =>
      processed >= budget || cycle.uncommittedBytes >= this.#o.maxBytesPerCycle || elapsedMs() >= deadline
    for (let active = order; active.length > 0 && !spent();) {
      const next: TaskEntry[] = []
      for (const entry of active) {
        if (spent()) break
        const max = Math.min(recordsPerTurn, share - (taken.get(entry) ?? 0), budget - processed)
        const n = await this.#processTurn(entry, max, spent)
        taken.set(entry, (taken.get(entry) ?? 0) + n.taken)
        processed += n.processed
        if (n.taken === max && n.taken > 0 && (taken.get(entry) ?? 0) < share) next.push(entry)
      }
      active = next
    }
    return processed
  }

  /** One task's turn: up to `max` records, stopping early once `spent`; what it did not process goes back. */
  async #processTurn(
    entry: TaskEntry,
    max: number,
    spent: () => boolean,
  ): Promise<{ taken: number; processed: number }> {
    const { buffer, cycle } = this.#o
    const messages = buffer.take(entry.partition, max)
    let i = 0
    let processed = 0
    for (; i < messages.length; i++) {
      // A task no longer running drops its records: its stream restarts from the committed offsets.
      if (entry.status !== 'running' || entry.task === undefined) return { taken: messages.length, processed }
      if (i > 0 && spent()) break
      const message = messages[i] as (typeof messages)[number]
      if (message.offset < (entry.committed.get(message.topic) ?? 0n)) continue
      try {
        await entry.task.process(toRawRecord(message))
      } catch (error) {
        if (!this.#waitsOut(entry, error)) throw error
        buffer.putBack(entry.partition, messages.slice(i))
        return { taken: i, processed }
      }
      this.#parked.delete(entry)
      cycle.consumed(message)
      processed++
    }
    buffer.putBack(entry.partition, messages.slice(i))
    return { taken: i, processed }
  }

  get #elapsedMs(): () => number {
    return this.#o.elapsedMs ?? (() => performance.now())
  }

  /** Parks the partition's input when `error` is a registry lookup that failed transiently (see the header). */
  #waitsOut(entry: TaskEntry, error: unknown): boolean {
    const e = coerceError(error)
    if (!e.retriable || e.code !== ErrorCodes.registry) return false
    const nowMs = this.#elapsedMs()
    const previous = this.#parked.get(entry)
    const sinceMs = previous?.sinceMs ?? nowMs
    const failingForMs = nowMs - sinceMs
    if (failingForMs >= this.#o.outageGiveUpMs) return false
    const attempt = (previous?.attempt ?? 0) + 1
    const backoffMs = Math.min(5_000, 200 * 2 ** (attempt - 1))
    this.#parked.set(entry, { untilMs: nowMs + backoffMs, attempt, sinceMs })
    this.#o.events.emit('onRetrying', {
      step: `decoding the input of partition ${entry.partition}`,
      code: e.code,
      message: e.message,
      attempt,
      backoffMs,
      failingForMs,
      giveUpInMs: this.#o.outageGiveUpMs - failingForMs,
    })
    return true
  }

  /**
   * Fires the due timers of the tasks whose input is read up to the instant, on-time tasks first and a
   * catching-up task in slices while others are due (timer-fairness.ts).
   */
  async runTimers(): Promise<{ ran: number; waiting: boolean }> {
    const { tasks, clock, barrier } = this.#o
    let ran = 0
    let onTimeRan = false
    let waiting = false
    const now = clock.nowMs()
    const running = tasks.running().flatMap((entry) => (entry.task === undefined ? [] : [{ entry, task: entry.task }]))
    for (const p of this.#askedAtMs.keys()) if (!running.some((r) => r.entry.partition === p)) this.#askedAtMs.delete(p)
    const due = running.filter(({ task }) => (task.nextWakeMs() ?? Infinity) <= now)
    const all = running.map((r) => r.task)
    for (const { entry, task } of this.#fairness.order(due.map((d) => ({ ...d, ...fairView(d.task) })))) {
      const next = task.nextWakeMs()
      if (next === undefined || next > now) continue
      const askedAtMs = this.#askedAtMs.get(entry.partition) ?? clock.nowMs()
      const decision = barrier
        ? barrier.decide(entry.partition, next, this.#o.buffer, tasks.assigned)
        : { dueUpToMs: now }
      if (decision === undefined) {
        this.#askedAtMs.set(entry.partition, askedAtMs)
        waiting = true
        continue
      }
      this.#askedAtMs.delete(entry.partition)
      if (decision.lateMs !== undefined)
        this.#o.events.emit('onInputLate', { partition: entry.partition, waitedMs: decision.lateMs })
      const shouldYield = this.#fairness.yieldPredicate(task, all, onTimeRan)
      const onTime = !task.catchingUp
      const startedAtMs = clock.nowMs()
      const fired = await task.runDueTimers(decision.dueUpToMs, shouldYield)
      ran += fired
      if (onTime && fired > 0) onTimeRan = true
      this.#o.events.emit('onTimersRan', {
        partition: entry.partition,
        dueMs: next,
        barrierWaitMs: startedAtMs - askedAtMs,
        startedAtMs,
        endedAtMs: clock.nowMs(),
        ran: fired,
        catchingUp: !onTime,
      })
    }
    this.#o.cycle.timersRan(ran)
    return { ran, waiting }
  }

  /** How long the loop may sleep: until the earliest timer, task-open retry or parked input, at most 1 s. */
  msUntilNextWake(): number {
    let next = this.#o.tasks.nextRetryMs() ?? Infinity
    let parkedMs = Infinity
    for (const entry of this.#o.tasks.running()) {
      next = Math.min(next, entry.task?.nextWakeMs() ?? Infinity)
      const parked = this.#parked.get(entry)
      if (parked !== undefined) parkedMs = Math.min(parkedMs, parked.untilMs - this.#elapsedMs())
    }
    return Math.max(0, Math.min(next - this.#o.clock.nowMs(), parkedMs, 1000))
  }

  /** True when a running task holds uncommitted work. */
  hasWork(running: readonly TaskEntry[] = this.#o.tasks.running()): boolean {
    return running.some((e) => e.task?.hasWork())
  }
}

/** The task as the fairness policy sees it (its catching-up flag read now, before it fires). */
function fairView(task: StreamTask): { partition: number; catchingUp: boolean } {
  return { partition: task.partition, catchingUp: task.catchingUp }
}
