/**
 * What results, RETRY timers and TIMEOUT timers do to an execution (the transitions in execution-lifecycle.ts).
 *
 * Results are deduplicated by (executionId, attempt): only a result for the current attempt of an in-flight
 * execution counts, and only once (workers are at-least-once; a DEAD or TIMED_OUT result the scheduler wrote
 * itself comes back through the results topic and is ignored the same way). Results for unknown or deleted
 * tasks, ended or cancelled executions, and other attempts are ignored.
 * A result without a key, on a partition its key does not belong to, or a tombstone never gets here: the
 * TaskScheduler dead-letters it (INVALID_RESULT, WRONG_PARTITION), so "ignored" never hides misrouted input.
 */
import type { TaskResult } from '../schemas/task-result.ts'
import { endExecution, failAttempt, startRetry } from './execution-lifecycle.ts'
import type { SchedulerCore } from './scheduler-core.ts'
import type { InFlight, TaskState, TimerEntry } from './task-state.ts'

/** The in-flight execution a result or timer is about, if it is still the current attempt. */
function current(state: TaskState | undefined, executionId: string, attempt: number): InFlight | undefined {
  const f = state?.inFlight[executionId]
  return f !== undefined && f.attempt === attempt ? f : undefined
}

export function applyResult(core: SchedulerCore, taskId: string, result: TaskResult): void {
  const state = core.load(taskId)
  const f = current(state, result.executionId, result.attempt)
  if (state === undefined || f === undefined || f.status === 'RETRY_WAIT') return
  switch (result.status) {
    case 'STARTED':
      if (f.status !== 'PENDING') return
      f.status = 'RUNNING'
      break
    case 'SUCCEEDED':
    case 'SKIPPED':
      endExecution(core, state, f, 'SUCCEEDED')
      break
    case 'DEAD':
      endExecution(core, state, f, 'DEAD')
      break
    case 'FAILED': {
      const reason = result.error === null ? 'failed' : `failed: ${result.error.code} ${result.error.message}`
      failAttempt(core, state, f, result.error?.retriable !== false, reason)
      break
    }
    case 'TIMED_OUT':
      failAttempt(core, state, f, true, 'timed out')
      break
    case 'UNKNOWN':
      return // a status newer than this reader; not a transition
  }
  core.save(state)
}

/** A RETRY timer is due: start the next attempt, if the execution still waits for it. */
export function handleRetryTimer(core: SchedulerCore, key: string, entry: TimerEntry): void {
  core.deleteTimer(key)
  const state = core.load(entry.taskId)
  const f = state?.inFlight[entry.executionId]
  if (state === undefined || f?.status !== 'RETRY_WAIT' || f.timerKey !== key) return
  f.timerKey = null
  startRetry(core, state, f, entry.attempt, core.nowMs())
  core.save(state)
}

/**
 * A TIMEOUT timer is due while its attempt is still in flight: write TIMED_OUT to the results topic (for the
 * sink and workers) and apply the retry rule now, without waiting for that result to come back.
 */
export function handleTimeoutTimer(core: SchedulerCore, key: string, entry: TimerEntry): void {
  core.deleteTimer(key)
  const state = core.load(entry.taskId)
  const f = current(state, entry.executionId, entry.attempt)
  if (state === undefined || f === undefined || f.status === 'RETRY_WAIT' || f.timerKey !== key) return
  f.timerKey = null
  const nowMs = core.nowMs()
  const timeoutMs = state.definition.timeoutMs ?? 0
  core.emitResult({
    executionId: f.executionId,
    taskId: entry.taskId,
    attempt: f.attempt,
    status: 'TIMED_OUT',
    workerId: null,
    startedAtMs: null,
    finishedAtMs: nowMs,
    durationMs: null,
    output: null,
    error: { code: 'TIMEOUT', message: `no result within timeoutMs ${timeoutMs}`, retriable: true },
  })
  failAttempt(core, state, f, true, 'timed out')
  core.save(state)
}
