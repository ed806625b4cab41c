/**
 * The life of one execution inside the scheduler, from its first attempt to its end:
 *
 *   start ──▶ PENDING ──STARTED──▶ RUNNING ──SUCCEEDED / SKIPPED / DEAD / cancel──▶ ended
 *                │                    │
 *                └──FAILED / TIMED_OUT┴──▶ retry left? ── yes ──▶ RETRY_WAIT ──RETRY timer──▶ PENDING (attempt + 1)
 *                                                         no ──▶ DEAD result + dead letter + Occurrence DEAD ──▶ ended
 *
 * An execution is "in flight" from start until it ended (RETRY_WAIT included): the overlap policy looks at that.
 * When the last in-flight execution ends, a slot buffered by BUFFER_ONE fires. At most maxInFlightPerTask are
 * tracked: starting one more first abandons the oldest (ended ABANDONED, a dead letter names it, its timers go,
 * a later result for it is ignored), so a task's state stays bounded when no results come back. Retry instants are exact:
 * now + retryDelayMs(retry, failedAttempt, executionId), a timer in the same due index as fires.
 */
import type { ExecutionTrigger } from '../schemas/task-execution.ts'
import { retryDelayMs } from './jitter.ts'
import type { SchedulerCore } from './scheduler-core.ts'
import { SchedulerReasons } from './scheduler-errors.ts'
import {
  TimerKinds,
  executionIdFor,
  maxEndedRemembered,
  type EndedOutcome,
  type InFlight,
  type TaskState,
} from './task-state.ts'

/**
 * Starts attempt 1 of the execution of a slot: emits it, records the slot FIRED, arms the timeout. A manual run
 * passes its own executionId (manualExecutionIdFor); a slot's is `<taskId>:<slotMs>`.
 */
export function startExecution(
  core: SchedulerCore,
  state: TaskState,
  slotMs: number,
  trigger: ExecutionTrigger,
  dueAtMs: number,
  reason: string,
  executionId: string = executionIdFor(state.definition.taskId, slotMs),
): void {
  const taskId = state.definition.taskId
  if (state.inFlight[executionId] !== undefined) {
    core.occurrence(taskId, slotMs, 'SKIPPED', 'duplicate: this execution is already in flight', executionId)
    return
  }
  while (inFlightCount(state) >= core.config.maxInFlightPerTask) abandonOldest(core, state)
  const f: InFlight = { executionId, scheduledForMs: slotMs, attempt: 1, trigger, status: 'PENDING', timerKey: null }
  state.inFlight[executionId] = f
  delete state.ended[executionId]
  if (trigger !== 'MANUAL') state.runs++
  emitAttempt(core, state, f, dueAtMs)
  core.occurrence(taskId, slotMs, 'FIRED', reason, executionId)
}

/** Starts attempt `attempt` of an execution (a RETRY timer, or the RETRY_EXECUTION command). */
export function startRetry(core: SchedulerCore, state: TaskState, f: InFlight, attempt: number, dueAtMs: number): void {
  f.attempt = attempt
  f.status = 'PENDING'
  f.trigger = 'RETRY'
  emitAttempt(core, state, f, dueAtMs)
}

function emitAttempt(core: SchedulerCore, state: TaskState, f: InFlight, dueAtMs: number): void {
  const deadlineAtMs = core.emitExecution(state, f, dueAtMs)
  f.timerKey =
    deadlineAtMs === null
      ? null
      : core.putTimer(
          {
            taskId: state.definition.taskId,
            kind: TimerKinds.timeout,
            executionId: f.executionId,
            scheduledForMs: f.scheduledForMs,
            attempt: f.attempt,
          },
          deadlineAtMs,
        )
}

/** The current attempt failed or timed out: arm a retry, or give up when none is left (or not retriable). */
export function failAttempt(core: SchedulerCore, state: TaskState, f: InFlight, retriable: boolean, why: string): void {
  core.deleteTimer(f.timerKey)
  f.timerKey = null
  const retry = state.definition.retry
  if (!retriable || f.attempt >= retry.maxAttempts) {
    exhaust(core, state, f, why)
    return
  }
  const dueMs = core.nowMs() + retryDelayMs(retry, f.attempt, f.executionId)
  f.status = 'RETRY_WAIT'
  f.timerKey = core.putTimer(
    {
      taskId: state.definition.taskId,
      kind: TimerKinds.retry,
      executionId: f.executionId,
      scheduledForMs: f.scheduledForMs,
      attempt: f.attempt + 1,
    },
    dueMs,
  )
}

function exhaust(core: SchedulerCore, state: TaskState, f: InFlight, why: string): void {
  const taskId = state.definition.taskId
  const nowMs = core.nowMs()
  const message = `${f.executionId} attempt ${f.attempt} ${why}; no retry left (retry.maxAttempts ${state.definition.retry.maxAttempts})`
  core.emitResult({
    executionId: f.executionId,
    taskId,
    attempt: f.attempt,
    status: 'DEAD',
    workerId: null,
    startedAtMs: null,
    finishedAtMs: nowMs,
    durationMs: null,
    output: null,
    error: { code: SchedulerReasons.retriesExhausted, message, retriable: false },
  })
  core.emitDeadLetter(taskId, f.executionId, SchedulerReasons.retriesExhausted, message)
  core.occurrence(taskId, f.scheduledForMs, 'DEAD', `retries exhausted: ${why}`, f.executionId)
  endExecution(core, state, f, 'DEAD')
}

/** Removes an execution from the in-flight set (and its timer); fires the buffered slot when none is left. */
export function endExecution(
  core: SchedulerCore,
  state: TaskState,
  f: InFlight,
  outcome: Exclude<EndedOutcome, 'ABANDONED'>,
): void {
  forget(core, state, f, outcome)
  if (state.buffered === null || Object.keys(state.inFlight).length > 0) return
  const slotMs = state.buffered
  state.buffered = null
  if (state.paused) core.occurrence(state.definition.taskId, slotMs, 'PAUSED', 'paused while buffered (overlap)')
  else startExecution(core, state, slotMs, 'SCHEDULE', core.nowMs(), 'overlap: buffered until the previous one ended')
}

function forget(core: SchedulerCore, state: TaskState, f: InFlight, outcome: EndedOutcome): void {
  core.deleteTimer(f.timerKey)
  delete state.inFlight[f.executionId]
  state.ended[f.executionId] = { scheduledForMs: f.scheduledForMs, attempt: f.attempt, outcome }
  const ended = Object.keys(state.ended)
  for (let i = 0; i < ended.length - maxEndedRemembered; i++) delete state.ended[ended[i] as string]
}

/**
 * The in-flight cap is reached: the scheduler stops tracking the execution started first (insertion order).
 * Recorded with a dead letter (reason ABANDONED, its executionId) so the read model can close it; the worker
 * may still run it, but its result, retries and timeout no longer count.
 */
function abandonOldest(core: SchedulerCore, state: TaskState): void {
  const [oldestId] = Object.keys(state.inFlight)
  const f = oldestId === undefined ? undefined : state.inFlight[oldestId]
  if (f === undefined) return
  const cap = core.config.maxInFlightPerTask
  const message = `${f.executionId} attempt ${f.attempt} abandoned: ${cap} executions of the task are in flight (scheduler.maxInFlightPerTask) and none reported a terminal result; a later result for it is ignored`
  core.emitDeadLetter(state.definition.taskId, f.executionId, SchedulerReasons.abandoned, message)
  forget(core, state, f, 'ABANDONED')
}

export function inFlightCount(state: TaskState): number {
  return Object.keys(state.inFlight).length
}
