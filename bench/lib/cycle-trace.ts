/**
 * The scheduler's cycles as a latency breakdown sees them (issue 14, isolation): for every committed
 * transaction, the tasks' wake-ups that ran in it (when each task's timers were due, how long they waited at the
 * input barrier, when they ran) and when the transaction ended. Built from the runtime's observer events
 * (onTimersRan, onCommitted, onAborted) in the scheduler process; the bench joins it with the fires it observed
 * (latency-breakdown.ts). An aborted cycle's wake-ups are dropped: their fires are redone in a later cycle.
 */
import type { RuntimeObserver, TimersRanEvent } from '../../topology/runtime-events.ts'

export type WakeTrace = TimersRanEvent

export interface CycleTrace {
  /** Wall clock when onCommitted was emitted (after the transaction and the stores' apply). */
  endMs: number
  /** The commit's duration as the runtime measured it (transaction + apply). */
  durationMs: number
  /** Records produced (outputs and changelog) and source records consumed in the transaction. */
  records: number
  consumed: number
  wakes: WakeTrace[]
}

/** An observer that hands one CycleTrace per committed transaction to `onCycle`. */
export function traceCycles(onCycle: (cycle: CycleTrace) => void): RuntimeObserver {
  let wakes: WakeTrace[] = []
  return {
    onTimersRan: (e) => void wakes.push({ ...e }),
    onAborted: () => void (wakes = []),
    onCommitted: (e) => {
      onCycle({ endMs: Date.now(), durationMs: e.durationMs, records: e.records, consumed: e.consumed, wakes })
      wakes = []
    },
  }
}
