/**
 * Watches a benchmarked scheduler's runtime through its observer port: counters (transactions committed and
 * aborted, records processed), a fatal error, and a livelock of aborted transactions, which fail the run loudly
 * instead of letting it time out.
 */
import type { Scheduler } from '../../scheduler/scheduler.ts'
import { countingObserver, type RuntimeCounters } from '../../topology/runtime-events.ts'

/** Aborted transactions in a row, with no commit between, after which the run is declared a livelock. */
const MAX_CONSECUTIVE_ABORTS = 5

const runtimeCounters = new WeakMap<object, RuntimeCounters>()

export function statsOf(runtime: object): RuntimeCounters {
  const counters = runtimeCounters.get(runtime)
  if (counters === undefined) throw new Error('watchRuntime was not called for this runtime')
  return counters
}

/** Watches the runtime for a fatal error or a livelock of aborted transactions. */
export function watchRuntime(app: Scheduler): { failure: () => Error | undefined; lastCommitAt: () => number } {
  let fatal: Error | undefined
  let abortsInARow = 0
  let lastCommitAt = performance.now()
  const counting = countingObserver()
  runtimeCounters.set(app.runtime, counting.counters)
  app.runtime.observe(counting)
  app.runtime.observe({
    onFatal: (error) => (fatal ??= error),
    onCommitted: () => {
      abortsInARow = 0
      lastCommitAt = performance.now()
    },
    onAborted: (event) => {
      abortsInARow++
      if (abortsInARow >= MAX_CONSECUTIVE_ABORTS && fatal === undefined) {
        fatal = new Error(`livelock: ${abortsInARow} transactions aborted in a row; last: ${event.message}`)
      }
    },
  })
  return { failure: () => fatal, lastCommitAt: () => lastCommitAt }
}
