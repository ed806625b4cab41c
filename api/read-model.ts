/**
 * The read side of the API: typed queries against the projection (Postgres, written by the sink in connectors/).
 * The API never reads Kafka to answer a GET; it reads what the sink has projected, and uses `consumedOffset` to
 * wait until the projection has caught up with a write it produced (read your writes).
 *
 * Instants are UTC epoch milliseconds, as on the topics. Paging is by a stable order (task id; newest slot
 * first for runs), so page N stays page N while rows are added elsewhere.
 */
import type { TaskDefinition } from '../schemas/task-definition.ts'

export interface RunCounts {
  total: number
  pending: number
  processing: number
  succeeded: number
  failed: number
  skipped: number
  timedOut: number
  dead: number
  cancelled: number
}

export interface TaskView {
  taskId: string
  name: string | null
  category: string | null
  type: string | null
  tenant: string | null
  labels: Record<string, string>
  /** ACTIVE | PAUSED | INVALID | DELETED | UNKNOWN (runs known, definition not yet). */
  status: string
  version: number | null
  definition: TaskDefinition | null
  createdAtMs: number | null
  updatedAtMs: number | null
  nextFireAtMs: number | null
  lastScheduledForMs: number | null
  runs: RunCounts
  lastRun: { executionId: string; attempt: number; status: string; finishedAtMs: number | null } | null
}

export interface RunView {
  executionId: string
  attempt: number
  taskId: string
  trigger: string | null
  status: string
  worker: string | null
  scheduledForMs: number | null
  dueAtMs: number | null
  firedAtMs: number | null
  startedAtMs: number | null
  finishedAtMs: number | null
  durationMs: number | null
  error: { code: string | null; message: string | null; retriable: boolean | null } | null
  output: string | null
}

export interface LogView {
  attempt: number
  seq: number
  level: string
  message: string
  fields: Record<string, unknown> | null
  loggedAtMs: number
  worker: string | null
}

export interface ExecutionView {
  executionId: string
  taskId: string
  attempts: RunView[]
  logs: LogView[]
}

export interface OccurrenceView {
  scheduledForMs: number
  outcome: string
  reason: string | null
  executionId: string | null
  recordedAtMs: number
}

export interface DeadLetterView {
  topic: string
  partition: number
  offset: string
  sourceTopic: string
  sourcePartition: number
  sourceOffset: string
  reasonCode: string
  message: string
  taskId: string | null
  executionId: string | null
  failedAtMs: number
}

export interface TaskFilter {
  category?: string
  type?: string
  status?: string
  /** `key=value` (or `key` alone: the label is present). */
  label?: string
  tenant?: string
  /** Substring of the task id or name, case-insensitive. */
  q?: string
}

export interface PageRequest {
  /** 0-based. */
  page: number
  size: number
}

export interface Page<T> {
  items: T[]
  page: number
  size: number
  total: number
}

export interface MonitorSummary {
  tasksByStatus: Record<string, number>
  runsByStatus: Record<string, number>
  /** Executions fired in the last hour / failed (FAILED, TIMED_OUT, DEAD) in the last hour. */
  firesLastHour: number
  failuresLastHour: number
  /** firedAtMs − dueAtMs over the last hour's first attempts; null when nothing fired. */
  latenessMs: { p50: number; p95: number; p99: number; max: number } | null
}

export interface ReadModel {
  getTask(taskId: string): Promise<TaskView | null>
  listTasks(filter: TaskFilter, page: PageRequest): Promise<Page<TaskView>>
  listRuns(taskId: string, page: PageRequest): Promise<Page<RunView>>
  getExecution(executionId: string): Promise<ExecutionView | null>
  /** Occurrences with scheduledFor in [fromMs, toMs], oldest first, at most `limit`. */
  listOccurrences(taskId: string, fromMs: number, toMs: number, limit: number): Promise<OccurrenceView[]>
  listDeadLetters(filter: { taskId?: string; reasonCode?: string }, page: PageRequest): Promise<Page<DeadLetterView>>
  summary(nowMs: number): Promise<MonitorSummary>
  /** The next offset the projection will read on (topic, partition): everything below it is visible. */
  consumedOffset(topic: string, partition: number): Promise<bigint | null>
  /** Throws when the database cannot answer. */
  ping(): Promise<void>
  close(): Promise<void>
}

export const emptyRunCounts: RunCounts = {
  total: 0,
  pending: 0,
  processing: 0,
  succeeded: 0,
  failed: 0,
  skipped: 0,
  timedOut: 0,
  dead: 0,
  cancelled: 0,
}
