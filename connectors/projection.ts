/**
 * Turns a batch of decoded sink records into the rows of the Postgres projection: pure, no I/O, no clock.
 * Several records about one row in a batch are merged here by the same rules the SQL upserts apply to a row
 * already in the table (`mergeRun` ↔ `sql.runs.upsert`), because one INSERT … ON CONFLICT cannot touch a row twice.
 *
 * Run status: a run row (one attempt of an execution) only moves up this ladder, whatever order the executions,
 * results and occurrences topics are read in (they are separate topics, so a rebuild may read a result before its
 * execution):
 *
 *   PENDING (execution) ─▶ PROCESSING (result STARTED) ─▶ SUCCEEDED | FAILED | SKIPPED (worker results)
 *       ─▶ TIMED_OUT (scheduler) ─▶ DEAD (scheduler) ─▶ CANCELLED (occurrence CANCELLED of the execution)
 *
 * A lower rank never overwrites a higher one; between worker results of equal rank the first one read wins (they
 * share the results topic partition, so "first" is the same in every replay). A cancellation carries no attempt:
 * it applies to the execution's latest attempt, which the SQL resolves after the upsert (`reported_status` keeps
 * what executions and results said, `status` shows CANCELLED on top).
 */
import { ScheduleCalculator } from '../processors/schedule-calculator.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskLog } from '../schemas/task-log.ts'
import type { TaskResult } from '../schemas/task-result.ts'

/** task_runs.status values, in rank order (equal ranks: SUCCEEDED, FAILED, SKIPPED). */
export const RunStatuses = [
  'PENDING',
  'PROCESSING',
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'TIMED_OUT',
  'DEAD',
  'CANCELLED',
] as const
export type RunStatus = (typeof RunStatuses)[number]

/** Mirrors the SQL function flextask_run_status_rank (migration 0001). */
export const runStatusRank: Readonly<Record<RunStatus, number>> = {
  PENDING: 0,
  PROCESSING: 1,
  SUCCEEDED: 2,
  FAILED: 2,
  SKIPPED: 2,
  TIMED_OUT: 3,
  DEAD: 4,
  CANCELLED: 5,
}

/** A decoded record value, by the topic it came from. */
export type SinkValue =
  | { kind: 'definition'; taskId: string; definition: TaskDefinition | null }
  | { kind: 'execution'; value: TaskExecution }
  | { kind: 'result'; value: TaskResult }
  | { kind: 'log'; value: TaskLog }
  | { kind: 'occurrence'; value: Occurrence }
  | { kind: 'deadLetter'; value: DeadLetter }
  /** Nothing to project (undecodable and dead-lettered, or a status this reader does not know): only the offset. */
  | { kind: 'skipped'; reason: string }

export interface SinkRecord {
  topic: string
  partition: number
  offset: bigint
  value: SinkValue
  /** The record's bytes as consumed, for a dead letter if Postgres refuses its row. */
  source?: { key: Buffer | null; value: Buffer | null }
}

/** tasks.status: INVALID is a definition the scheduler dead-letters (its schedule does not validate). */
export type TaskStatus = 'ACTIVE' | 'PAUSED' | 'INVALID' | 'DELETED'

export interface TaskRow {
  taskId: string
  status: TaskStatus
  /** null: a tombstone, the task is marked DELETED at `deletedAtMs`. */
  definition: TaskDefinition | null
  /** The tombstone's record timestamp. */
  deletedAtMs: number | null
}

export interface RunRow {
  executionId: string
  attempt: number
  taskId: string
  category: string | null
  type: string | null
  tenant: string | null
  /** JSON text. */
  labels: string | null
  trigger: string | null
  priority: number | null
  definitionVersion: number | null
  scheduledForMs: number | null
  dueAtMs: number | null
  firedAtMs: number | null
  deadlineAtMs: number | null
  startedAtMs: number | null
  finishedAtMs: number | null
  durationMs: number | null
  worker: string | null
  /** What executions and results reported (task_runs.reported_status). */
  status: RunStatus
  errorCode: string | null
  errorMessage: string | null
  errorRetriable: boolean | null
  output: string | null
}

export interface CancellationRow {
  executionId: string
  taskId: string
  cancelledAtMs: number
  reason: string | null
}

export interface DeadLetterRow {
  topic: string
  partition: number
  offset: bigint
  value: DeadLetter
}

export interface ProjectionBatch {
  tasks: Map<string, TaskRow>
  runs: Map<string, RunRow>
  cancellations: Map<string, CancellationRow>
  occurrences: Map<string, Occurrence>
  logs: Map<string, TaskLog>
  deadLetters: DeadLetterRow[]
  /** Records that carried nothing to project. */
  skipped: number
}

/** Builds the rows of one batch; records of one partition must come in offset order. */
export function project(records: readonly (SinkRecord & { timestampMs: number })[]): ProjectionBatch {
  const batch: ProjectionBatch = {
    tasks: new Map(),
    runs: new Map(),
    cancellations: new Map(),
    occurrences: new Map(),
    logs: new Map(),
    deadLetters: [],
    skipped: 0,
  }
  for (const record of records) {
    const v = record.value
    switch (v.kind) {
      case 'definition':
        batch.tasks.set(v.taskId, {
          taskId: v.taskId,
          status: taskStatus(v.definition),
          definition: v.definition,
          deletedAtMs: v.definition === null ? record.timestampMs : null,
        })
        break
      case 'execution':
        addRun(batch.runs, runFromExecution(v.value))
        break
      case 'result': {
        const run = runFromResult(v.value)
        if (run === undefined) batch.skipped++
        else addRun(batch.runs, run)
        break
      }
      case 'occurrence':
        batch.occurrences.set(occurrenceKey(v.value), v.value)
        if (v.value.outcome === 'CANCELLED' && v.value.executionId !== null) {
          batch.cancellations.set(v.value.executionId, {
            executionId: v.value.executionId,
            taskId: v.value.taskId,
            cancelledAtMs: v.value.recordedAtMs,
            reason: v.value.reason,
          })
        }
        break
      case 'log':
        batch.logs.set(`${v.value.executionId}\u0000${v.value.attempt}\u0000${v.value.seq}`, v.value)
        break
      case 'deadLetter':
        batch.deadLetters.push({
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          value: v.value,
        })
        break
      case 'skipped':
        batch.skipped++
        break
    }
  }
  return batch
}

export function taskStatus(definition: TaskDefinition | null): TaskStatus {
  if (definition === null) return 'DELETED'
  if (ScheduleCalculator.validate(definition.schedule) !== null) return 'INVALID'
  return definition.paused ? 'PAUSED' : 'ACTIVE'
}

/**
 * tasks.next_fire_at: the first slot of the schedule after the latest slot with an occurrence (or from creation),
 * by the schedule alone — maxRuns and misfire catch-up are the scheduler's to apply. null when not ACTIVE or none.
 */
export function nextFireMs(
  status: string,
  definition: TaskDefinition | null,
  lastScheduledForMs: number | null,
): number | null {
  if (status !== 'ACTIVE' || definition === null) return null
  try {
    const afterMs = lastScheduledForMs ?? definition.createdAtMs - 1
    return ScheduleCalculator.occurrenceAfter(definition.schedule, definition.createdAtMs, afterMs)
  } catch {
    return null
  }
}

export function occurrenceKey(o: Occurrence): string {
  return `${o.taskId}\u0000${o.scheduledForMs}\u0000${o.outcome}`
}

function addRun(runs: Map<string, RunRow>, run: RunRow): void {
  const key = `${run.executionId}\u0000${run.attempt}`
  const existing = runs.get(key)
  runs.set(key, existing === undefined ? run : mergeRun(existing, run))
}

const emptyRun = {
  category: null,
  type: null,
  tenant: null,
  labels: null,
  trigger: null,
  priority: null,
  definitionVersion: null,
  scheduledForMs: null,
  dueAtMs: null,
  firedAtMs: null,
  deadlineAtMs: null,
  startedAtMs: null,
  finishedAtMs: null,
  durationMs: null,
  worker: null,
  errorCode: null,
  errorMessage: null,
  errorRetriable: null,
  output: null,
} as const

export function runFromExecution(e: TaskExecution): RunRow {
  return {
    ...emptyRun,
    executionId: e.executionId,
    attempt: e.attempt,
    taskId: e.taskId,
    category: e.category,
    type: e.type,
    tenant: e.tenant,
    labels: JSON.stringify(e.labels),
    trigger: e.trigger,
    priority: e.priority,
    definitionVersion: e.definitionVersion,
    scheduledForMs: e.scheduledForMs,
    dueAtMs: e.dueAtMs,
    firedAtMs: e.firedAtMs,
    deadlineAtMs: e.deadlineAtMs,
    status: 'PENDING',
  }
}

/** undefined for UNKNOWN, a status newer than this reader: it must not be treated as any real transition. */
export function runFromResult(r: TaskResult): RunRow | undefined {
  if (r.status === 'UNKNOWN') return undefined
  return {
    ...emptyRun,
    executionId: r.executionId,
    attempt: r.attempt,
    taskId: r.taskId,
    startedAtMs: r.startedAtMs,
    finishedAtMs: r.finishedAtMs,
    durationMs: r.durationMs,
    worker: r.workerId,
    status: r.status === 'STARTED' ? 'PROCESSING' : r.status,
    errorCode: r.error?.code ?? null,
    errorMessage: r.error?.message ?? null,
    errorRetriable: r.error?.retriable ?? null,
    output: r.output,
  }
}

/**
 * Merges `incoming` (read later) into `existing`, exactly as the SQL upsert does: execution fields, the start and
 * the worker keep the first value seen; the outcome (status, error, output) is the winning record's (higher rank;
 * on equal rank the existing one), finished_at and duration fall back to the other's.
 *
 * Why this is the same in every replay: every field but the execution's comes from the results topic, whose
 * records about one run share a partition and so always come in the same order; an execution record (another
 * topic) only fills the execution fields and ranks lowest, so where it falls in between changes nothing.
 */
export function mergeRun(existing: RunRow, incoming: RunRow): RunRow {
  const up = runStatusRank[incoming.status] > runStatusRank[existing.status]
  const [winner, loser] = up ? [incoming, existing] : [existing, incoming]
  return {
    executionId: existing.executionId,
    attempt: existing.attempt,
    taskId: existing.taskId,
    category: existing.category ?? incoming.category,
    type: existing.type ?? incoming.type,
    tenant: existing.tenant ?? incoming.tenant,
    labels: existing.labels ?? incoming.labels,
    trigger: existing.trigger ?? incoming.trigger,
    priority: existing.priority ?? incoming.priority,
    definitionVersion: existing.definitionVersion ?? incoming.definitionVersion,
    scheduledForMs: existing.scheduledForMs ?? incoming.scheduledForMs,
    dueAtMs: existing.dueAtMs ?? incoming.dueAtMs,
    firedAtMs: existing.firedAtMs ?? incoming.firedAtMs,
    deadlineAtMs: existing.deadlineAtMs ?? incoming.deadlineAtMs,
    startedAtMs: existing.startedAtMs ?? incoming.startedAtMs,
    worker: existing.worker ?? incoming.worker,
    finishedAtMs: winner.finishedAtMs ?? loser.finishedAtMs,
    durationMs: winner.durationMs ?? loser.durationMs,
    status: winner.status,
    errorCode: winner.errorCode,
    errorMessage: winner.errorMessage,
    errorRetriable: winner.errorRetriable,
    output: winner.output,
  }
}
