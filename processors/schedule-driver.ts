/**
 * Moves a task along its schedule: arms the FIRE timer for the next slot, fires a slot under the overlap
 * policy, and pauses / resumes. Next slots are always computed from `lastScheduledMs` (strictly after it),
 * never from the wall clock, so a backward clock step cannot bring a handled slot back; a slot that is late
 * when its timer is handled goes through the misfire engine (misfire-engine.ts), on every path alike.
 *
 * Overlap (an execution of the task is in flight): SKIP records the slot SKIPPED; BUFFER_ONE keeps one slot
 * and fires it when the in-flight execution ends (further slots are SKIPPED); ALLOW_ALL fires.
 */
import type { OccurrenceOutcome } from '../schemas/occurrence.ts'
import type { OverlapPolicy } from '../schemas/task-definition.ts'
import { inFlightCount, startExecution } from './execution-lifecycle.ts'
import { jitterOffsetMs } from './jitter.ts'
import { ScheduleCalculator } from './schedule-calculator.ts'
import type { SchedulerCore } from './scheduler-core.ts'
import { TimerKinds, executionIdFor, type TaskState } from './task-state.ts'

/** A slot's due instant: the slot plus its jitter, fixed per execution id so a replay fires at the same instant. */
export function dueForSlot(state: TaskState, slotMs: number): number {
  const d = state.definition
  return slotMs + jitterOffsetMs(executionIdFor(d.taskId, slotMs), d.jitterMs)
}

export function slotAfter(state: TaskState, afterMs: number): number | null {
  const d = state.definition
  return ScheduleCalculator.occurrenceAfter(d.schedule, d.createdAtMs, afterMs)
}

/** Slots in (afterMs, untilMs], at most `limit`, and whether more slots up to untilMs were left out. */
export function slotsBetween(
  state: TaskState,
  afterMs: number,
  untilMs: number,
  limit: number,
): { slots: number[]; truncated: boolean } {
  const d = state.definition
  const slots = ScheduleCalculator.occurrencesBetween(d.schedule, d.createdAtMs, afterMs, untilMs, limit)
  const last = slots.at(-1)
  const next = last === undefined ? null : slotAfter(state, last)
  return { slots, truncated: slots.length === limit && next !== null && next <= untilMs }
}

export function runsLeft(state: TaskState): number {
  const maxRuns = state.definition.schedule.maxRuns
  return maxRuns === null ? Infinity : maxRuns - state.runs
}

export function armFire(core: SchedulerCore, state: TaskState, slotMs: number): void {
  const taskId = state.definition.taskId
  const entry = { taskId, kind: TimerKinds.fire, executionId: executionIdFor(taskId, slotMs), scheduledForMs: slotMs }
  state.fireKey = core.putTimer({ ...entry, attempt: 1 }, dueForSlot(state, slotMs))
  state.nextSlotMs = slotMs
}

/** Arms the FIRE timer of the next slot after lastScheduledMs, unless paused, quarantined or armed; else completes. */
export function scheduleNext(core: SchedulerCore, state: TaskState): void {
  if (state.fireKey !== null || state.paused || state.quarantined !== undefined) return
  const d = state.definition
  const next = runsLeft(state) <= 0 ? null : slotAfter(state, state.lastScheduledMs ?? d.createdAtMs - 1)
  state.completed = next === null
  if (next !== null) armFire(core, state, next)
}

/** What a slot does while an execution of its task is in flight: fire, wait (buffer), or be skipped for a reason. */
type OverlapDecision = { action: 'fire' } | { action: 'buffer' } | { action: 'skip'; why: string }

/** One rule per symbol of the Avro enum: the compiler demands a rule for a symbol added to the schema. */
const overlapRules = {
  ALLOW_ALL: () => ({ action: 'fire' }),
  SKIP: () => ({ action: 'skip', why: 'skip' }),
  BUFFER_ONE: (state) =>
    state.buffered === null ? { action: 'buffer' } : { action: 'skip', why: 'buffer-one, a slot is already buffered' },
} as const satisfies Record<OverlapPolicy, (state: TaskState) => OverlapDecision>

/** A scheduled slot (SCHEDULE or CATCH_UP) fires unless the overlap policy holds it back. */
export function fireSlot(
  core: SchedulerCore,
  state: TaskState,
  slotMs: number,
  trigger: 'SCHEDULE' | 'CATCH_UP',
  reason: string,
): void {
  const taskId = state.definition.taskId
  state.lastScheduledMs = slotMs
  const decision: OverlapDecision =
    inFlightCount(state) > 0 ? overlapRules[state.definition.overlapPolicy](state) : { action: 'fire' }
  switch (decision.action) {
    case 'fire':
      startExecution(core, state, slotMs, trigger, dueForSlot(state, slotMs), reason)
      return
    case 'buffer':
      state.buffered = slotMs
      return
    case 'skip':
      core.occurrence(taskId, slotMs, 'SKIPPED', `overlap: ${decision.why}; an execution is in flight`)
  }
}

/**
 * Records one outcome for every slot in (lastScheduledMs, due horizon], bounded by maxOccurrencesPerCatchUp; beyond
 * the bound one summary record stands for the rest and the schedule jumps to now.
 */
export function recordSlotsUntilNow(
  core: SchedulerCore,
  state: TaskState,
  outcome: OccurrenceOutcome,
  reason: string,
): void {
  const dueUpToMs = core.dueUpToMs()
  const after = state.lastScheduledMs ?? state.definition.createdAtMs - 1
  const { slots, truncated } = slotsBetween(state, after, dueUpToMs, core.config.maxOccurrencesPerCatchUp)
  for (const slotMs of slots) core.occurrence(state.definition.taskId, slotMs, outcome, reason)
  state.lastScheduledMs = slots.at(-1) ?? state.lastScheduledMs
  if (truncated) recordSummary(core, state, outcome, reason)
}

/**
 * One record for the slots after lastScheduledMs up to the due horizon that were not listed; the schedule jumps
 * to the horizon.
 */
export function recordSummary(core: SchedulerCore, state: TaskState, outcome: OccurrenceOutcome, reason: string): void {
  const dueUpToMs = core.dueUpToMs()
  const first = slotAfter(state, state.lastScheduledMs ?? state.definition.createdAtMs - 1)
  if (first !== null && first <= dueUpToMs) {
    const limit = core.config.maxOccurrencesPerCatchUp
    const why = `${reason}; catch-up limit ${limit} reached: this record stands for every slot up to ${dueUpToMs}`
    core.occurrence(state.definition.taskId, first, outcome, why)
  }
  state.lastScheduledMs = Math.max(state.lastScheduledMs ?? 0, dueUpToMs)
}

export function pause(core: SchedulerCore, state: TaskState): void {
  if (state.paused) return
  state.paused = true
  core.deleteTimer(state.fireKey)
  state.fireKey = null
  state.nextSlotMs = null
}

/** The slots that fell in the pause are recorded PAUSED; the next slot is armed as usual. */
export function resume(core: SchedulerCore, state: TaskState): void {
  if (!state.paused) return
  state.paused = false
  recordSlotsUntilNow(core, state, 'PAUSED', 'paused')
  scheduleNext(core, state)
}
