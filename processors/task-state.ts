/**
 * The scheduler's state layout: what the stores `tasks` and `timers` hold, their key codecs, the names of the
 * scheduler's children (sinks) and its configuration. Everything a TaskScheduler knows is in these two stores,
 * so a restored task (new owner, restart, aborted cycle) continues exactly where the committed state left off.
 *
 * Store `tasks`: taskId → TaskState; store values are compact binary (task-state-serde.ts; JSON written by
 * earlier versions is still read).
 * Store `timers` (the due index): `<due ms, 15 digits>|<taskId>|<kind>` for FIRE, and
 * `<due ms, 15 digits>|<taskId>|<kind>|<scheduledForMs>` for RETRY and TIMEOUT, which can exist for several
 * executions of one task at once (overlap ALLOW_ALL). Keys sort by due instant first, so "everything due up to
 * now" is one range scan `[ , pad(now + 1))`. The task state names the timer keys it armed (`fireKey`,
 * `InFlight.timerKey`); a timer whose key its task no longer names is stale and ignored.
 */
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { ExecutionTrigger } from '../schemas/task-execution.ts'

export const StoreNames = { tasks: 'tasks', timers: 'timers' } as const

/** The TaskScheduler's children, by name: the topology wires a sink to each. */
export const SchedulerChildren = {
  executions: 'executions',
  occurrences: 'occurrences',
  results: 'results',
  deadLetters: 'dead-letters',
} as const

export const TimerKinds = { fire: 'FIRE', retry: 'RETRY', timeout: 'TIMEOUT' } as const
export type TimerKind = (typeof TimerKinds)[keyof typeof TimerKinds]

/** A value in the `timers` store. */
export interface TimerEntry {
  taskId: string
  kind: TimerKind
  executionId: string
  /** The schedule slot the execution belongs to. */
  scheduledForMs: number
  /** FIRE: 1; RETRY: the attempt to start; TIMEOUT: the attempt that times out. */
  attempt: number
}

/**
 * One execution whose latest attempt has no terminal result yet.
 * PENDING (emitted) → RUNNING (STARTED seen) → ended, or → RETRY_WAIT (attempt failed, a RETRY timer is armed)
 * → PENDING (the retry is emitted with attempt + 1).
 */
export interface InFlight {
  executionId: string
  scheduledForMs: number
  attempt: number
  trigger: ExecutionTrigger
  status: 'PENDING' | 'RUNNING' | 'RETRY_WAIT'
  /** The TIMEOUT (PENDING, RUNNING) or RETRY (RETRY_WAIT) timer armed for this execution, if any. */
  timerKey: string | null
}

/** A value in the `tasks` store. */
export interface TaskState {
  definition: TaskDefinition
  /** The last schedule slot handled (fired, skipped, missed, paused or cancelled); next slots come after it. */
  lastScheduledMs: number | null
  /** Scheduled fires so far (manual triggers and retries excluded); compared with schedule.maxRuns. */
  runs: number
  paused: boolean
  /** No further slot: maxRuns reached or the schedule ended. Results for in-flight executions still apply. */
  completed: boolean
  /** The armed FIRE timer and its slot. */
  fireKey: string | null
  nextSlotMs: number | null
  /** Catch-up fires in the current misfire episode (FIRE_ALL), bounded by maxOccurrencesPerCatchUp. */
  catchUpFired: number
  /** BUFFER_ONE: the one slot waiting for the in-flight execution to end. */
  buffered: number | null
  /** At most maxInFlightPerTask entries: starting one more abandons the oldest (execution-lifecycle.ts). */
  inFlight: Record<string, InFlight>
  /** Recently ended executions (bounded), so RETRY_EXECUTION can start another attempt of a dead one. */
  ended: Record<string, { scheduledForMs: number; attempt: number; outcome: EndedOutcome }>
  /**
   * Set when handling one of the task's timers failed for a reason other than a transient one (a bug, or a
   * state that would be over the record limit): the task was dead-lettered, its timers removed, and nothing
   * fires until a new definition (any update of the taskId) releases it. Absent on healthy tasks.
   */
  quarantined?: { reasonCode: string; message: string; atMs: number }
}

export type EndedOutcome = 'SUCCEEDED' | 'DEAD' | 'CANCELLED' | 'ABANDONED'

/** How many ended executions a task remembers for RETRY_EXECUTION. */
export const maxEndedRemembered = 16

/** Scheduler options, with units and defaults. */
export interface SchedulerConfig {
  /** Known execution categories; a definition with another category is invalid. */
  categories: readonly string[]
  /** Largest payload in UTF-8 bytes. @default 262144 */
  maxPayloadBytes: number
  /** Timer entries handled per wake-up before yielding to commit. @default 1000 */
  maxFiresPerWake: number
  /** Catch-up (misfire FIRE_ALL) fires per wake-up, across tasks. @default 100 */
  maxCatchUpPerWake: number
  /** Missed instants enumerated (and recorded one by one) per misfire episode. @default 10000 */
  maxOccurrencesPerCatchUp: number
  /** Lateness beyond which a fire is a misfire, when the definition sets none. @default 60000 */
  defaultMaxLatenessMs: number
  /**
   * Executions of one task tracked in flight at once. Starting one more abandons the oldest: it is recorded
   * ABANDONED (a dead letter with its executionId), its timeout and retry timers are removed and a later result
   * for it is ignored. Bounds the task's state when no results come back (no workers, a lost results topic).
   * @default 500 (about 17 KB of state in the binary store format, 80 KB as JSON; under 1 MB with a 256 KiB payload,
   * a 200-character taskId and timeouts: 0.5 MB binary, 0.66 MB JSON)
   */
  maxInFlightPerTask: number
  /**
   * Records (outputs and store writes) one partition's cycle may carry before a wake-up stops handling timers
   * and continues in the next cycle; a late timer's catch-up ledger is produced in chunks of this size.
   * @default 5000
   */
  maxRecordsPerWake: number
  /** Output bytes one partition's cycle may carry before a wake-up yields the same way. @default 8388608 */
  maxBytesPerWake: number
  /**
   * Largest record the scheduler produces (executions, ledger, dead letters, and its own state per task): a
   * task whose state would pass it is quarantined, a dead letter carries a capped prefix of the original.
   * Keep it under the topics' max.message.bytes. @default 1000000
   */
  maxRecordBytes: number
}

export const defaultSchedulerConfig: Omit<SchedulerConfig, 'categories'> = {
  maxPayloadBytes: 262_144,
  maxFiresPerWake: 1000,
  maxCatchUpPerWake: 100,
  maxOccurrencesPerCatchUp: 10_000,
  defaultMaxLatenessMs: 60_000,
  maxInFlightPerTask: 500,
  maxRecordsPerWake: 5000,
  maxBytesPerWake: 8 * 1024 * 1024,
  maxRecordBytes: 1_000_000,
}

const dueDigits = 15

/** Zero-padded due instant: keys compare as UTF-8 bytes, so fixed width keeps them in time order. */
export function padDueMs(dueMs: number): string {
  return String(Math.max(0, Math.floor(dueMs))).padStart(dueDigits, '0')
}

export function timerKey(dueMs: number, entry: TimerEntry): string {
  const base = `${padDueMs(dueMs)}|${entry.taskId}|${entry.kind}`
  return entry.kind === TimerKinds.fire ? base : `${base}|${entry.scheduledForMs}`
}

export function dueOfTimerKey(key: string): number {
  return Number(key.slice(0, dueDigits))
}

export function executionIdFor(taskId: string, scheduledForMs: number): string {
  return `${taskId}:${scheduledForMs}`
}

/**
 * A manual run's id: `<taskId>:manual:<commandId>`. After `<taskId>:` a slot id has only digits, so the two can
 * never be equal within a task, and the command id (unique per command, required by the schema) makes it
 * deterministic on replay (review C14: `<taskId>:<now>` took a slot's id when handled at its instant).
 */
export function manualExecutionIdFor(taskId: string, commandId: string): string {
  return `${taskId}:manual:${commandId}`
}

export function newTaskState(definition: TaskDefinition): TaskState {
  return {
    definition,
    lastScheduledMs: null,
    runs: 0,
    paused: definition.paused,
    completed: false,
    fireKey: null,
    nextSlotMs: null,
    catchUpFired: 0,
    buffered: null,
    inFlight: {},
    ended: {},
  }
}
