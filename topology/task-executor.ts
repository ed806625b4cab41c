/**
 * The work of one pass on the running tasks (≈ Kafka Streams' TaskExecutor): hand buffered records to their
 * tasks, then fire due timers, and say how long the loop may sleep.
 *
 * - Records: the cycle's record budget (maxRecordsPerCycle minus what the cycle already holds) is shared
 *   fairly between the running tasks; a record below the task's committed offset was already processed and
 *   committed by a previous owner and is skipped (TaskManager's committed offsets).
 * - Timers: a task whose earliest timer is due fires once its input is read up to the instant (input-barrier.ts,
 *   issue 8): the timers due up to the instant the barrier observed fire (the due horizon, api.ts), on the real
 *   clock, so firedAtMs, lateness and misfire see how late they really are; without the barrier the horizon
 *   is now. A task whose barrier is not yet passed makes the pass "waiting" (the loop polls again in 5 ms).
 */
import type { Clock } from './api.ts'
import type { CommitCycle } from './commit-cycle.ts'
import type { InputBarrier } from './input-barrier.ts'
import { type RecordBuffer, toRawRecord } from './record-buffer.ts'
import type { RuntimeEvents } from './runtime-events.ts'
import type { TaskEntry, TaskManager } from './task-manager.ts'

export interface TaskExecutorOptions {
  tasks: Pick<TaskManager, 'running' | 'assigned' | 'nextRetryMs'>
  buffer: Pick<RecordBuffer, 'take'> & Parameters<InputBarrier['decide']>[2]
  cycle: Pick<CommitCycle, 'uncommittedRecords' | 'consumed' | 'timersRan'>
  barrier: Pick<InputBarrier, 'decide'> | undefined
  /** The tasks' wall clock (never held: the barrier bounds which timers are due, not what time it is). */
  clock: Clock
  events: RuntimeEvents
  maxRecordsPerCycle: number
}

export class TaskExecutor {
  readonly #o: TaskExecutorOptions

  constructor(options: TaskExecutorOptions) {
    this.#o = options
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

  /** Fires the due timers of the tasks whose input is read up to the instant. */
  async runTimers(): Promise<{ ran: number; waiting: boolean }> {
    const { tasks, clock, barrier } = this.#o
    let ran = 0
    let waiting = false
    const now = clock.nowMs()
    for (const entry of tasks.running()) {
      const task = entry.task
      const next = task?.nextWakeMs()
      if (task === undefined || next === undefined || next > now) continue
      const decision = barrier
        ? barrier.decide(entry.partition, next, this.#o.buffer, tasks.assigned)
        : { dueUpToMs: now }
      if (decision === undefined) {
        waiting = true
        continue
      }
      if (decision.lateMs !== undefined)
        this.#o.events.emit('onInputLate', { partition: entry.partition, waitedMs: decision.lateMs })
      ran += await task.runDueTimers(decision.dueUpToMs)
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
