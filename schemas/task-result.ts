/**
 * TaskResult: progress or outcome of one attempt of an execution, the value of `flextask.task-results`, keyed by
 * taskId. Workers write it; the scheduler (retries, overlap, timeouts) and the Postgres sink read it. Mirrors
 * `task-result.v<N>.avsc` exactly.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/**
 * Avro enum ResultStatus. UNKNOWN is never written: it is the enum's default symbol, what a reader sees for a
 * status newer than itself, and it must not be treated as any real transition.
 */
export const ResultStatuses = ['STARTED', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'SKIPPED', 'DEAD', 'UNKNOWN'] as const
export type ResultStatus = (typeof ResultStatuses)[number]

export type ResultError = {
  code: string
  message: string
  /** Whether another attempt may succeed. */
  retriable: boolean
}

export type TaskResult = {
  executionId: string
  taskId: string
  /** 1-based attempt this result is about. */
  attempt: number
  status: ResultStatus
  workerId: string | null
  startedAtMs: number | null
  finishedAtMs: number | null
  durationMs: number | null
  output: string | null
  error: ResultError | null
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const taskResultVersions: readonly SchemaVersion[] = [loadAvsc('task-result.v1.avsc')]
export const taskResultSchema: RecordSchema = latestVersion(taskResultVersions).schema
