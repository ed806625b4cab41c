/**
 * The work of one pass on the running tasks (≈ Kafka Streams' TaskExecutor): hand buffered records to their
 * tasks, then fire due timers, and say how long the loop may sleep.
 *
 * - Records: the cycle's record budget (maxRecordsPerCycle minus what the cycle already holds) is shared
 *   fairly between the running tasks; a record below the task's committed offset was already processed and
 *   committed by a previous owner and is skipped (TaskManager's committed offsets).
 * - Timers: a task whose earliest timer is due fires once its input is read up to the instant (input-barrier.ts,
 *   issue 8), with its clock held at the instant the barrier observed; without the barrier it fires at once.
 *   A task whose barrier is not yet passed makes the pass "waiting" (the loop polls again in 5 ms). Tasks on
 *   time fire before tasks catching up on a backlog, and those yield after a slice when others are due
 *   (timer-fairness.ts, issue 14: a herd on one partition does not hold the others' timers).
 */
import type { Clock } from './api.ts'
import type { CommitCycle } from './commit-cycle.ts'
import type { HoldableClock, InputBarrier } from './input-barrier.ts'
import { type RecordBuffer, toRawRecord } from './record-buffer.ts'
import type { RuntimeEvents } from './runtime-events.ts'
import type { StreamTask } from './stream-task.ts'
import type { TaskEntry, TaskManager } from './task-manager.ts'
import { TimerFairness } from './timer-fairness.ts'

export interface TaskExecutorOptions {
  tasks: Pick<TaskManager, 'running' | 'assigned' | 'nextRetryMs'>
  buffer: Pick<RecordBuffer, 'take'> & Parameters<InputBarrier['decide']>[2]
  cycle: Pick<CommitCycle, 'uncommittedRecords' | 'consumed' | 'timersRan'>
  barrier: Pick<InputBarrier, 'decide'> | undefined
  /** The tasks' clock: held at the barrier's instant while timers fire. */
  clock: Pick<HoldableClock, 'runHeldAt'> & Clock
  /** The real clock, never held (timer-fairness.ts: is another task's timer due?). */
  wallClock: Clock
  events: RuntimeEvents
  maxRecordsPerCycle: number
  /** Records a catching-up task adds to a cycle before it yields to due timers of others (timer-fairness.ts). */
  catchUpSliceRecords: number
}

export class TaskExecutor {
  readonly #o: TaskExecutorOptions
  readonly #fairness: TimerFairness

  constructor(options: TaskExecutorOptions) {
    this.#o = options
    this.#fairness = new TimerFairness(options.catchUpSliceRecords, options.wallClock)
  }

  /** Processes buffered records, sharing the cycle's budget fairly between the running tasks. */
  async processRecords(): Promise<number> {
    const { tasks, buffer, cycle } = this.#o
    let processed = 0
    const running = tasks.running()
    const budget = this.#o.maxRecordsPerCycle - cycle.uncommittedRecords
    const perTask = Math.max(1, Math.ceil(budget / Math.max(1, running.length)))
    for (const entry of running) {
      for (const message of buffer.take(entry.partition, Math.min(perTask, budget - processed))) {
        if (entry.status !== 'running' || entry.task === undefined) break
        if (message.offset < (entry.committed.get(message.topic) ?? 0n)) continue
        await entry.task.process(toRawRecord(message))
        cycle.consumed(message)
        processed++
      }
    }
    return processed
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
    const due = running.filter(({ task }) => (task.nextWakeMs() ?? Infinity) <= now)
    const all = running.map((r) => r.task)
    for (const { entry, task } of this.#fairness.order(due.map((d) => ({ ...d, ...fairView(d.task) })))) {
      const next = task.nextWakeMs()
      if (next === undefined || next > now) continue
      const decision = barrier
        ? barrier.decide(entry.partition, next, this.#o.buffer, tasks.assigned)
        : { fireAtMs: now }
      if (decision === undefined) {
        waiting = true
        continue
      }
      if (decision.lateMs !== undefined)
        this.#o.events.emit('onInputLate', { partition: entry.partition, waitedMs: decision.lateMs })
      const shouldYield = this.#fairness.yieldPredicate(task, all, onTimeRan)
      const onTime = !task.catchingUp
      const fired = await clock.runHeldAt(decision.fireAtMs, () => task.runDueTimers(shouldYield))
      ran += fired
      if (onTime && fired > 0) onTimeRan = true
    }
    this.#o.cycle.timersRan(ran)
    return { ran, waiting }
  }

  /** How long the loop may sleep: until the earliest timer or task-open retry, at most 1 s. */
  msUntilNextWake(): number {
    let next = this.#o.tasks.nextRetryMs() ?? Infinity
    for (const entry of this.#o.tasks.running()) next = Math.min(next, entry.task?.nextWakeMs() ?? Infinity)
    return Math.max(0, Math.min(next - this.#o.clock.nowMs(), 1000))
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
