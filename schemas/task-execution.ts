/**
 * TaskExecution: one attempt of one fire of a task, the value of `flextask.executions.<category>`, keyed by taskId.
 * `executionId = <taskId>:<scheduledForMs>`; retries keep it and raise `attempt`, so `(executionId, attempt)`
 * identifies a delivery for deduplication. Mirrors `task-execution.v<N>.avsc` exactly.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/** Avro enum ExecutionTrigger; a reader meeting a newer trigger sees SCHEDULE. */
export const ExecutionTriggers = ['SCHEDULE', 'CATCH_UP', 'MANUAL', 'RETRY'] as const
export type ExecutionTrigger = (typeof ExecutionTriggers)[number]

export type TaskExecution = {
  /** `<taskId>:<scheduledForMs>`. */
  executionId: string
  taskId: string
  /** 1-based. */
  attempt: number
  /** The schedule slot, before jitter. */
  scheduledForMs: number
  /** scheduledForMs + jitter, or the retry time. */
  dueAtMs: number
  /** Wall-clock instant the scheduler emitted it. */
  firedAtMs: number
  /** null = no timeout. */
  deadlineAtMs: number | null
  priority: number
  category: string
  type: string
  /** JSON text. */
  payload: string
  trigger: ExecutionTrigger
  /** TaskDefinition.version it was built from. */
  definitionVersion: number
  labels: Record<string, string>
  tenant: string | null
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const taskExecutionVersions: readonly SchemaVersion[] = [loadAvsc('task-execution.v1.avsc')]
export const taskExecutionSchema: RecordSchema = latestVersion(taskExecutionVersions).schema
