/**
 * Fair timer firing across the tasks (partitions) of one instance: a task draining a backlog — a herd of timers
 * due in the same second, a catch-up after downtime — must not delay the timers of the others (issue 14,
 * "Isolation": crons on other partitions keep their lateness while 100k one-shots drain from one partition).
 *
 * All tasks of an instance share one loop and one transaction per cycle (Kafka Streams' EOS v2: one producer
 * per stream thread), so a task's wake-up that handles a full batch holds every other task's due timers until
 * that batch is built and committed. Two rules bound that:
 *
 * - Order. A task is *catching up* when its last wake-up left work due at once (it re-armed at or before the
 *   instant it ran at: a full batch or a spent cycle budget). In a pass, tasks that are on time fire first,
 *   in partition order; catching-up tasks follow, round-robin from where the previous pass stopped, so two
 *   herds on two partitions take turns at going first.
 * - Slices. A catching-up task's wake-up is asked to yield (`ProcessorContext.shouldYield`) once it has added
 *   `sliceRecords` records to the cycle in this wake-up and either an on-time task already fired in this pass
 *   (its fires should commit now, not after a full batch) or an on-time task has a timer due by the wall
 *   clock (it should fire in the next pass, not after a full batch). The cycle commits the slice, and the next
 *   pass fires the on-time timers first. Before its slice a task never yields, so a catch-up always
 *   progresses, also when an on-time task waits at the input barrier; with nobody else due it keeps its full
 *   batch (the processor's own maxFiresPerWake / maxRecordsPerWake) and the herd drains at full speed.
 *
 * Why not one transaction per partition, run concurrently: that needs a transactional producer per partition
 * (EOS v1, KIP-447 replaced it for its cost in producers and coordinator load); the slices keep one producer
 * and one transaction per cycle, so the exactly-once path is unchanged.
 */
import type { Clock } from './api.ts'

/** What the policy needs of a task. */
export interface FairTask {
  readonly partition: number
  /** Its last wake-up left work due at once. */
  readonly catchingUp: boolean
  nextWakeMs(): number | undefined
  /** Records the task holds for the current cycle (outputs plus store writes). */
  pendingLoad(): { records: number }
}

export class TimerFairness {
  readonly #sliceRecords: number
  readonly #wallClock: Clock
  /** The partition after which the next pass's catching-up tasks start (round-robin). */
  #lastFirst = -1

  /**
   * @param sliceRecords records a catching-up wake-up adds before it may be asked to yield (≥ 1)
   * @param wallClock the real clock (is another task's timer due now?)
   */
  constructor(sliceRecords: number, wallClock: Clock) {
    if (!Number.isSafeInteger(sliceRecords) || sliceRecords < 1) {
      throw new RangeError(`sliceRecords must be a positive integer, got ${sliceRecords}`)
    }
    this.#sliceRecords = sliceRecords
    this.#wallClock = wallClock
  }

  /** The tasks of a pass in firing order: on time first (partition order), then catching up, round-robin. */
  order<T extends Pick<FairTask, 'partition' | 'catchingUp'>>(tasks: readonly T[]): T[] {
    const byPartition = [...tasks].sort((a, b) => a.partition - b.partition)
    const onTime = byPartition.filter((t) => !t.catchingUp)
    const behind = byPartition.filter((t) => t.catchingUp)
    const start = behind.findIndex((t) => t.partition > this.#lastFirst)
    const rotated = start <= 0 ? behind : [...behind.slice(start), ...behind.slice(0, start)]
    const first = rotated[0]
    if (first !== undefined) this.#lastFirst = first.partition
    return [...onTime, ...rotated]
  }

  /**
   * The `shouldYield` of `task`'s wake-up in this pass: always false for an on-time task (its wake-up is
   * bounded by the processor's own batch); for a catching-up task, true once its slice is spent and an
   * on-time task fired in this pass (`onTimeRan`) or another on-time task among `all` is due by the wall clock.
   */
  yieldPredicate(task: FairTask, all: readonly FairTask[], onTimeRan: boolean): () => boolean {
    if (!task.catchingUp) return () => false
    const from = task.pendingLoad().records
    const others = all.filter((t) => t !== task)
    return () => {
      if (task.pendingLoad().records - from < this.#sliceRecords) return false
      if (onTimeRan) return true
      const nowMs = this.#wallClock.nowMs()
      return others.some((t) => !t.catchingUp && (t.nextWakeMs() ?? Infinity) <= nowMs)
    }
  }
}
