/**
 * Definitions and commands: create / update / delete a task, and TRIGGER_NOW, PAUSE, RESUME, RETRY_EXECUTION,
 * CANCEL_EXECUTION. Input records are processed before timers in a cycle, so a cancel, pause, update or delete
 * committed before a slot's instant always wins over that slot.
 *
 * - Update (same key): keeps lastScheduledMs and runs; the next slot is recomputed from lastScheduledMs with the
 *   new schedule, and a late one goes through the misfire engine like any other FIRE timer. A change of
 *   `paused` pauses or resumes (re-enable) exactly like the commands.
 * - Delete (tombstone): the task state and every timer of it are removed; later results are ignored.
 * - A command for an unknown task, an UNKNOWN kind or an execution the command does not apply to throws
 *   FLEXTASK_COMMAND_INVALID: the record is dead-lettered (INVALID_COMMAND). A command on a partition its key
 *   does not belong to is caught before (TaskScheduler: WRONG_PARTITION), so "no task" means no task.
 */
import type { TaskCommand } from '../schemas/task-command.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import { endExecution, startExecution, startRetry } from './execution-lifecycle.ts'
import type { SchedulerCore } from './scheduler-core.ts'
import { SchedulerErrorCodes, invalidField } from './scheduler-errors.ts'
import { pause, resume, scheduleNext } from './schedule-driver.ts'
import { executionIdFor, manualExecutionIdFor, newTaskState, type TaskState } from './task-state.ts'

export function applyDefinition(core: SchedulerCore, taskId: string, definition: TaskDefinition | null): void {
  const state = core.load(taskId)
  if (definition === null) {
    if (state === undefined) return
    core.deleteAllTimers(state)
    core.tasks.delete(taskId)
    return
  }
  if (state === undefined) {
    const created = newTaskState(definition)
    scheduleNext(core, created)
    core.save(created)
    return
  }
  const wasPaused = state.definition.paused
  state.definition = definition
  delete state.quarantined // a new definition releases a quarantined task
  core.deleteTimer(state.fireKey)
  state.fireKey = null
  state.nextSlotMs = null
  if (definition.paused && !wasPaused) pause(core, state)
  if (!definition.paused && wasPaused) resume(core, state)
  scheduleNext(core, state)
  core.save(state)
}

function invalidCommand(command: TaskCommand, field: string, message: string): Error {
  return invalidField(SchedulerErrorCodes.commandInvalid, field, message, command.taskId)
}

export function applyCommand(core: SchedulerCore, taskId: string, command: TaskCommand): void {
  const state = core.load(taskId)
  if (command.taskId !== taskId) throw invalidCommand(command, 'taskId', `must equal the record key ${taskId}`)
  if (state === undefined) throw invalidCommand(command, 'taskId', `no task ${JSON.stringify(taskId)} exists`)
  switch (command.kind) {
    case 'TRIGGER_NOW':
      triggerNow(core, state, command)
      break
    case 'PAUSE':
      pause(core, state)
      break
    case 'RESUME':
      resume(core, state)
      break
    case 'RETRY_EXECUTION':
      retryExecution(core, state, command)
      break
    case 'CANCEL_EXECUTION':
      cancelExecution(core, state, command)
      break
    case 'UNKNOWN':
      throw invalidCommand(command, 'kind', `${command.kind} is not a command kind this scheduler knows`)
  }
  core.save(state)
}

/** A manual run, `<taskId>:manual:<commandId>`: never a slot's id; the same command again is a duplicate. */
function triggerNow(core: SchedulerCore, state: TaskState, command: TaskCommand): void {
  if (command.commandId === '') throw invalidCommand(command, 'commandId', 'must be a non-empty id, unique per command')
  const taskId = state.definition.taskId
  const executionId = manualExecutionIdFor(taskId, command.commandId)
  const nowMs = core.nowMs()
  if (state.ended[executionId] !== undefined) {
    core.occurrence(taskId, nowMs, 'SKIPPED', `duplicate: command ${command.commandId} already ran`, executionId)
    return
  }
  const reason = `manual: ${command.requestedBy ?? 'unknown'}`
  startExecution(core, state, nowMs, 'MANUAL', nowMs, reason, executionId)
}

function retryExecution(core: SchedulerCore, state: TaskState, command: TaskCommand): void {
  const executionId = command.executionId ?? ''
  const ended = state.ended[executionId]
  if (ended?.outcome !== 'DEAD') {
    throw invalidCommand(command, 'executionId', `${JSON.stringify(executionId)} is not a dead execution of the task`)
  }
  delete state.ended[executionId]
  const f = {
    executionId,
    scheduledForMs: ended.scheduledForMs,
    attempt: ended.attempt,
    trigger: 'RETRY' as const,
    status: 'PENDING' as const,
    timerKey: null,
  }
  state.inFlight[executionId] = f
  startRetry(core, state, f, ended.attempt + 1, core.nowMs())
}

/** Cancels an in-flight execution, or the upcoming slot (`<taskId>:<next slot>`) before it fires. */
function cancelExecution(core: SchedulerCore, state: TaskState, command: TaskCommand): void {
  const taskId = state.definition.taskId
  const executionId = command.executionId ?? ''
  const reason = `cancelled by ${command.requestedBy ?? 'command'}`
  const f = state.inFlight[executionId]
  if (f !== undefined) {
    core.occurrence(taskId, f.scheduledForMs, 'CANCELLED', reason, executionId)
    endExecution(core, state, f, 'CANCELLED')
    return
  }
  const next = state.nextSlotMs
  if (next !== null && executionId === executionIdFor(taskId, next)) {
    core.deleteTimer(state.fireKey)
    state.fireKey = null
    state.nextSlotMs = null
    state.lastScheduledMs = next
    core.occurrence(taskId, next, 'CANCELLED', reason, executionId)
    scheduleNext(core, state)
    return
  }
  throw invalidCommand(command, 'executionId', `${JSON.stringify(executionId)} is neither in flight nor the next slot`)
}
