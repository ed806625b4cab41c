/**
 * The one misfire engine. Every FIRE timer passes through `handleFireTimer`, whatever armed it (a new or
 * updated definition, a resume, the previous fire, a restart with overdue timers), so the misfire policy
 * applies identically on every path (anchors-kafka §3.8; kestra-io/kestra#3000, #6027).
 *
 * A FIRE timer handled at `now` is late when now − due > maxLatenessMs (the definition's, or the default); `now`
 * is the real clock, also when the wake-up's due horizon trails it during an input backlog (a timer handled
 * 230 s after its instant is 230 s late, whatever the horizon). On time: the slot fires (trigger SCHEDULE).
 * Late: the slots from it up to the due horizon (scheduler-core `dueUpToMs`) are the misfire backlog,
 * enumerated at most maxOccurrencesPerCatchUp at a time, and
 * - FIRE_ALL fires each as CATCH_UP, at most maxCatchUpPerWake per wake-up across tasks (it re-arms a FIRE timer
 *   at the next backlog slot, which the next wake-up continues with); after maxOccurrencesPerCatchUp catch-up
 *   fires in one episode the rest of the backlog is recorded MISSED;
 * - FIRE_LAST fires only the most recent as CATCH_UP and records the others MISSED;
 * - SKIP records all MISSED; the next future slot is armed.
 * Each slot gets one Occurrence; a backlog beyond the bound gets one summary record (schedule-driver).
 *
 * The ledger of one late timer is written in chunks that fit the wake-up's record budget (`budget.records`):
 * when the budget cuts it short, the chunk is recorded, `lastScheduledMs` moves to its last slot, and a FIRE
 * timer is armed at the next backlog slot (already due), so the next wake-up (the next cycle, after a commit)
 * continues the same episode. `catchUpFired` counts what the episode listed so far, for every policy.
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
  slotAfter,
  slotsBetween,
} from './schedule-driver.ts'
import { dueOfTimerKey, type TaskState, type TimerEntry } from './task-state.ts'

/** Work left in the current wake-up. */
export interface WakeBudget {
  catchUp: number
  /** Records the current timer may still produce (set by the wake-up before each timer). */
  records: number
}

/** Records one catch-up fire may produce (execution, occurrence, timers): FIRE_ALL waits below this. */
const recordsPerCatchUpFire = 3

/**
 * Handles a due FIRE timer; false when it left work for the next wake-up (catch-up budget spent, or the
 * ledger cut by the record budget).
 */
export function handleFireTimer(core: SchedulerCore, key: string, entry: TimerEntry, budget: WakeBudget): boolean {
  const state = core.load(entry.taskId)
  if (state?.fireKey !== key) {
    core.deleteTimer(key) // stale: the task was deleted, paused or rescheduled
    return true
  }
  const late = core.nowMs() - dueOfTimerKey(key) > core.maxLatenessMs(state)
  const spent = budget.catchUp <= 0 || budget.records < recordsPerCatchUpFire
  if (late && state.definition.misfirePolicy === 'FIRE_ALL' && spent) {
    if (state.catchUpFired < core.config.maxOccurrencesPerCatchUp) return false
  }
  core.deleteTimer(key)
  state.fireKey = null
  state.nextSlotMs = null
  let done = true
  if (!late) {
    state.catchUpFired = 0
    fireSlot(core, state, entry.scheduledForMs, 'SCHEDULE', 'schedule')
  } else {
    done = applyMisfire(core, state, entry.scheduledForMs, budget)
  }
  scheduleNext(core, state)
  core.save(state)
  return done
}

/** Returns false when the record budget cut the ledger and the episode continues in the next wake-up. */
type MisfireHandler = (core: SchedulerCore, state: TaskState, budget: WakeBudget) => boolean

/** One handler per symbol of the Avro enum: the compiler demands a handler for a symbol added to the schema. */
const misfireHandlers = {
  FIRE_ALL: (core, state, budget) => {
    fireAll(core, state, budget)
    return true
  },
  FIRE_LAST: (core, state, budget) => fireLast(core, state, budget),
  SKIP: (core, state, budget) => skipAll(core, state, budget),
} as const satisfies Record<MisfirePolicy, MisfireHandler>

function applyMisfire(core: SchedulerCore, state: TaskState, slotMs: number, budget: WakeBudget): boolean {
  // The backlog starts at the timer's slot: lastScheduledMs is the slot before it.
  state.lastScheduledMs = slotMs - 1
  return misfireHandlers[state.definition.misfirePolicy](core, state, budget)
}

/**
 * The next part of the backlog (lastScheduledMs, now]: at most what the episode bound and the record budget
 * allow. `byBudget`: the record budget cut it, so the episode continues in the next wake-up.
 */
function backlogPart(
  core: SchedulerCore,
  state: TaskState,
  budget: WakeBudget,
): { slots: number[]; truncated: boolean; byBudget: boolean } {
  const room = core.config.maxOccurrencesPerCatchUp - state.catchUpFired
  if (room <= 0) return { slots: [], truncated: true, byBudget: false }
  const limit = Math.max(1, Math.min(room, budget.records - 2)) // leave room for a fire and a summary
  const { slots, truncated } = slotsBetween(state, state.lastScheduledMs as number, core.dueUpToMs(), limit)
  return { slots, truncated, byBudget: truncated && limit < room }
}

/** Records a part of the backlog MISSED and arms the next backlog slot (already due) to continue the episode. */
function recordPart(core: SchedulerCore, state: TaskState, slots: number[], budget: WakeBudget, reason: string): void {
  for (const slotMs of slots) core.occurrence(state.definition.taskId, slotMs, 'MISSED', reason)
  const last = slots.at(-1) as number
  state.lastScheduledMs = last
  state.catchUpFired += slots.length
  budget.records -= slots.length
  const next = slotAfter(state, last)
  if (next !== null) armFire(core, state, next)
}

function skipAll(core: SchedulerCore, state: TaskState, budget: WakeBudget): boolean {
  const reason = 'misfire: skip'
  const { slots, truncated, byBudget } = backlogPart(core, state, budget)
  if (byBudget) {
    recordPart(core, state, slots, budget, reason)
    return false
  }
  state.catchUpFired = 0
  for (const slotMs of slots) core.occurrence(state.definition.taskId, slotMs, 'MISSED', reason)
  state.lastScheduledMs = slots.at(-1) ?? state.lastScheduledMs
  if (truncated) recordSummary(core, state, 'MISSED', reason)
  return true
}

function fireAll(core: SchedulerCore, state: TaskState, budget: WakeBudget): void {
  const room = core.config.maxOccurrencesPerCatchUp - state.catchUpFired
  if (room <= 0) {
    state.catchUpFired = 0
    // Not chunked: at most maxOccurrencesPerCatchUp + 1 records, once per episode of that many catch-up fires.
    recordSlotsUntilNow(core, state, 'MISSED', 'misfire: fire-all, catch-up limit reached')
    return
  }
  const count = Math.min(budget.catchUp, room, runsLeft(state), Math.floor(budget.records / recordsPerCatchUpFire))
  const { slots } = slotsBetween(state, state.lastScheduledMs as number, core.dueUpToMs(), count + 1)
  for (const slotMs of slots.slice(0, count)) {
    fireSlot(core, state, slotMs, 'CATCH_UP', 'misfire: fire-all')
    budget.catchUp--
    budget.records -= recordsPerCatchUpFire
    state.catchUpFired++
  }
  const rest = slots[count]
  // The rest of the backlog continues on the next wake-up: its timer is already due.
  if (rest !== undefined && runsLeft(state) > 0) armFire(core, state, rest)
}

function fireLast(core: SchedulerCore, state: TaskState, budget: WakeBudget): boolean {
  const reason = 'misfire: fire-last, a later slot fired instead'
  const { slots, truncated, byBudget } = backlogPart(core, state, budget)
  if (byBudget) {
    recordPart(core, state, slots, budget, reason)
    return false
  }
  state.catchUpFired = 0
  const dueUpToMs = core.dueUpToMs()
  let latest = slots.at(-1)
  if (truncated) {
    // The episode bound: the listed slots are MISSED, one summary stands for the rest, the latest slot fires.
    const last = latest ?? (state.lastScheduledMs as number)
    latest = latestSlotUntil(state, last, dueUpToMs) ?? latest
    for (const slotMs of slots) core.occurrence(state.definition.taskId, slotMs, 'MISSED', reason)
    state.lastScheduledMs = last
    recordSummary(core, state, 'MISSED', reason)
  } else {
    for (const slotMs of slots.slice(0, -1)) core.occurrence(state.definition.taskId, slotMs, 'MISSED', reason)
  }
  if (latest === undefined) return true
  fireSlot(core, state, latest, 'CATCH_UP', 'misfire: fire-last')
  state.lastScheduledMs = Math.max(state.lastScheduledMs ?? latest, latest)
  return true
}

/** The latest slot in (afterMs, untilMs], searched in growing windows back from now (bounded work). */
function latestSlotUntil(state: TaskState, afterMs: number, untilMs: number): number | null {
  for (const windowMs of [1_000, 60_000, 3_600_000, 86_400_000, 31 * 86_400_000, 366 * 86_400_000]) {
    const from = Math.max(afterMs, untilMs - windowMs)
    const { slots } = slotsBetween(state, from, untilMs, 100_000)
    if (slots.length > 0) return slots.at(-1) as number
    if (from === afterMs) return null
  }
  return null
}
