/**
 * The one misfire engine. Every FIRE timer passes through `handleFireTimer`, whatever armed it (a new or
 * updated definition, a resume, the previous fire, a restart with overdue timers), so the misfire policy
 * applies identically on every path (anchors-kafka §3.8; kestra-io/kestra#3000, #6027).
 *
 * A FIRE timer handled at `now` is late when now − due > maxLatenessMs (the definition's, or the default).
 * On time: the slot fires (trigger SCHEDULE). Late: the slots from it up to now are the misfire backlog,
 * enumerated at most maxOccurrencesPerCatchUp at a time, and
 * - FIRE_ALL fires each as CATCH_UP, at most maxCatchUpPerWake per wake-up across tasks (it re-arms a FIRE timer
 *   at the next backlog slot, which the next wake-up continues with); after maxOccurrencesPerCatchUp catch-up
 *   fires in one episode the rest of the backlog is recorded MISSED;
 * - FIRE_LAST fires only the most recent as CATCH_UP and records the others MISSED;
 * - SKIP records all MISSED; the next future slot is armed.
 * Each slot gets one Occurrence; a backlog beyond the bound gets one summary record (schedule-driver).
 */
import type { MisfirePolicy } from '../schemas/task-definition.ts'
import type { SchedulerCore } from './scheduler-core.ts'
import {
  armFire,
  fireSlot,
  recordSlotsUntilNow,
  recordSummary,
  runsLeft,
  scheduleNext,
  slotsBetween,
} from './schedule-driver.ts'
import { dueOfTimerKey, type TaskState, type TimerEntry } from './task-state.ts'

/** Work left in the current wake-up. */
export interface WakeBudget {
  catchUp: number
}

/** Handles a due FIRE timer; false when it must wait for the next wake-up (catch-up budget spent). */
export function handleFireTimer(core: SchedulerCore, key: string, entry: TimerEntry, budget: WakeBudget): boolean {
  const state = core.load(entry.taskId)
  if (state?.fireKey !== key) {
    core.deleteTimer(key) // stale: the task was deleted, paused or rescheduled
    return true
  }
  const late = core.nowMs() - dueOfTimerKey(key) > core.maxLatenessMs(state)
  if (late && state.definition.misfirePolicy === 'FIRE_ALL' && budget.catchUp <= 0) {
    if (state.catchUpFired < core.config.maxOccurrencesPerCatchUp) return false
  }
  core.deleteTimer(key)
  state.fireKey = null
  state.nextSlotMs = null
  if (!late) {
    state.catchUpFired = 0
    fireSlot(core, state, entry.scheduledForMs, 'SCHEDULE', 'schedule')
  } else {
    applyMisfire(core, state, entry.scheduledForMs, budget)
  }
  scheduleNext(core, state)
  core.save(state)
  return true
}

type MisfireHandler = (core: SchedulerCore, state: TaskState, budget: WakeBudget) => void

/** One handler per symbol of the Avro enum: the compiler demands a handler for a symbol added to the schema. */
const misfireHandlers = {
  FIRE_ALL: fireAll,
  FIRE_LAST: (core, state) => fireLast(core, state),
  SKIP: (core, state) => {
    state.catchUpFired = 0
    recordSlotsUntilNow(core, state, 'MISSED', 'misfire: skip')
  },
} as const satisfies Record<MisfirePolicy, MisfireHandler>

function applyMisfire(core: SchedulerCore, state: TaskState, slotMs: number, budget: WakeBudget): void {
  // The backlog starts at the timer's slot: lastScheduledMs is the slot before it.
  state.lastScheduledMs = slotMs - 1
  misfireHandlers[state.definition.misfirePolicy](core, state, budget)
}

function fireAll(core: SchedulerCore, state: TaskState, budget: WakeBudget): void {
  const room = core.config.maxOccurrencesPerCatchUp - state.catchUpFired
  if (room <= 0) {
    state.catchUpFired = 0
    recordSlotsUntilNow(core, state, 'MISSED', 'misfire: fire-all, catch-up limit reached')
    return
  }
  const count = Math.min(budget.catchUp, room, runsLeft(state))
  const { slots } = slotsBetween(state, state.lastScheduledMs as number, core.nowMs(), count + 1)
  for (const slotMs of slots.slice(0, count)) {
    fireSlot(core, state, slotMs, 'CATCH_UP', 'misfire: fire-all')
    budget.catchUp--
    state.catchUpFired++
  }
  const rest = slots[count]
  // The rest of the backlog continues on the next wake-up: its timer is already due.
  if (rest !== undefined && runsLeft(state) > 0) armFire(core, state, rest)
}

function fireLast(core: SchedulerCore, state: TaskState): void {
  state.catchUpFired = 0
  const nowMs = core.nowMs()
  const limit = core.config.maxOccurrencesPerCatchUp
  const { slots, truncated } = slotsBetween(state, state.lastScheduledMs as number, nowMs, limit)
  const reason = 'misfire: fire-last, a later slot fired instead'
  let latest = slots.at(-1)
  if (latest === undefined) return
  if (truncated) {
    const last = latest
    latest = latestSlotUntil(state, last, nowMs) ?? last
    for (const slotMs of slots) core.occurrence(state.definition.taskId, slotMs, 'MISSED', reason)
    state.lastScheduledMs = last
    recordSummary(core, state, 'MISSED', reason)
  } else {
    for (const slotMs of slots.slice(0, -1)) core.occurrence(state.definition.taskId, slotMs, 'MISSED', reason)
  }
  fireSlot(core, state, latest, 'CATCH_UP', 'misfire: fire-last')
  state.lastScheduledMs = Math.max(state.lastScheduledMs ?? latest, latest)
}

/** The latest slot in (afterMs, nowMs], searched in growing windows back from now (bounded work). */
function latestSlotUntil(state: TaskState, afterMs: number, nowMs: number): number | null {
  for (const windowMs of [1_000, 60_000, 3_600_000, 86_400_000, 31 * 86_400_000, 366 * 86_400_000]) {
    const from = Math.max(afterMs, nowMs - windowMs)
    const { slots } = slotsBetween(state, from, nowMs, 100_000)
    if (slots.length > 0) return slots.at(-1) as number
    if (from === afterMs) return null
  }
  return null
}
