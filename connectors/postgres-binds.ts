/**
 * The functions that bind the sink's rows to the statements of postgres-sql.ts: one array per bind parameter
 * (the `unnest` form), text cleaned of NUL (Postgres text and jsonb refuse it), instants as epoch milliseconds.
 */
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskLog } from '../schemas/task-log.ts'
import { type Queryable, sql } from './postgres-sql.ts'
import type { CancellationRow, DeadLetterRow, RunRow, TaskRow } from './projection.ts'
import { topicPartitionKey } from './sink-task.ts'

/** Ids longer than this are cut in dead_letters' indexed columns (a btree entry holds at most ~2.7 KB). */
export const maxIndexedIdLength = 512

/** Postgres text cannot hold NUL; a NUL in a record would otherwise stop the sink on every retry. */
export function text(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value
}

/** JSON text for a jsonb column, with NUL removed from every string (jsonb refuses \u0000). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? text(v) : v))
}

/** A field meant to be JSON text that may not be (size-capped by a worker): kept as a JSON string then. */
export function jsonOrString(value: string | null): string | null {
  if (value === null) return null
  try {
    return jsonText(JSON.parse(value))
  } catch {
    return jsonText(value)
  }
}

export async function advanceOffsets(
  db: Queryable,
  group: string,
  writer: string,
  moves: { topic: string; partition: number; expected: bigint; next: bigint }[],
): Promise<number> {
  const result = await db.query(sql.offsets.advance, [
    group,
    writer,
    moves.map((m) => m.topic),
    moves.map((m) => m.partition),
    moves.map((m) => m.expected.toString()),
    moves.map((m) => m.next.toString()),
  ])
  return result.rowCount ?? 0
}

export async function readOffsets(
  db: Queryable,
  group: string,
  partitions: { topic: string; partition: number }[],
): Promise<Map<string, bigint>> {
  const params = [group, partitions.map((p) => p.topic), partitions.map((p) => p.partition)]
  await db.query(sql.offsets.ensure, params)
  const { rows } = await db.query<{ topic: string; partition: number; next_offset: string }>(sql.offsets.read, params)
  return new Map(rows.map((r) => [topicPartitionKey(r), BigInt(r.next_offset)]))
}

export async function upsertTasks(db: Queryable, rows: TaskRow[]): Promise<void> {
  const live = rows.filter((r) => r.definition !== null)
  const deleted = rows.filter((r) => r.definition === null)
  if (live.length > 0) {
    const defs = live.map((r) => r.definition!)
    await db.query(sql.tasks.upsert, [
      live.map((r) => text(r.taskId)),
      defs.map((d) => text(d.name)),
      defs.map((d) => text(d.category)),
      defs.map((d) => text(d.type)),
      defs.map((d) => text(d.tenant)),
      defs.map((d) => jsonText(d.labels)),
      live.map((r) => r.status),
      defs.map((d) => jsonText(d)),
      defs.map((d) => d.version),
      defs.map((d) => d.schedule.kind),
      defs.map((d) => d.createdAtMs),
      defs.map((d) => d.updatedAtMs),
    ])
  }
  if (deleted.length > 0) {
    await db.query(sql.tasks.markDeleted, [deleted.map((r) => text(r.taskId)), deleted.map((r) => r.deletedAtMs)])
  }
}

export async function upsertRuns(db: Queryable, rows: RunRow[]): Promise<void> {
  if (rows.length === 0) return
  const col = <T>(pick: (r: RunRow) => T): T[] => rows.map(pick)
  await db.query(sql.runs.upsert, [
    col((r) => text(r.executionId)),
    col((r) => r.attempt),
    col((r) => text(r.taskId)),
    col((r) => text(r.category)),
    col((r) => text(r.type)),
    col((r) => text(r.tenant)),
    col((r) => (r.labels === null ? null : jsonOrString(r.labels))),
    col((r) => r.trigger),
    col((r) => r.priority),
    col((r) => r.definitionVersion),
    col((r) => r.scheduledForMs),
    col((r) => r.dueAtMs),
    col((r) => r.firedAtMs),
    col((r) => r.deadlineAtMs),
    col((r) => r.startedAtMs),
    col((r) => r.finishedAtMs),
    col((r) => r.durationMs),
    col((r) => text(r.worker)),
    col((r) => r.status),
    col((r) => text(r.errorCode)),
    col((r) => text(r.errorMessage)),
    col((r) => r.errorRetriable),
    col((r) => text(r.output)),
  ])
}

export async function upsertCancellations(db: Queryable, rows: CancellationRow[]): Promise<void> {
  if (rows.length === 0) return
  await db.query(sql.cancellations.upsert, [
    rows.map((r) => text(r.executionId)),
    rows.map((r) => text(r.taskId)),
    rows.map((r) => r.cancelledAtMs),
    rows.map((r) => text(r.reason)),
  ])
}

export async function applyCancellations(db: Queryable, executionIds: string[]): Promise<void> {
  if (executionIds.length === 0) return
  await db.query(sql.runs.applyCancellations, [executionIds.map(text)])
}

export async function upsertOccurrences(db: Queryable, rows: Occurrence[]): Promise<void> {
  if (rows.length === 0) return
  await db.query(sql.occurrences.upsert, [
    rows.map((o) => text(o.taskId)),
    rows.map((o) => o.scheduledForMs),
    rows.map((o) => o.outcome),
    rows.map((o) => text(o.executionId)),
    rows.map((o) => text(o.reason)),
    rows.map((o) => o.recordedAtMs),
  ])
}

export interface ScheduleInput {
  taskId: string
  status: string
  /** The stored TaskDefinition JSON (null while only runs are known). */
  definition: unknown
  lastScheduledForMs: number | null
}

export async function readForSchedule(db: Queryable, taskIds: string[]): Promise<ScheduleInput[]> {
  if (taskIds.length === 0) return []
  const { rows } = await db.query<{
    task_id: string
    status: string
    definition: unknown
    last_scheduled_for_ms: string | null
  }>(sql.tasks.forSchedule, [taskIds.map(text)])
  return rows.map((r) => ({
    taskId: r.task_id,
    status: r.status,
    definition: r.definition,
    lastScheduledForMs: r.last_scheduled_for_ms === null ? null : Number(r.last_scheduled_for_ms),
  }))
}

export async function setSchedule(
  db: Queryable,
  rows: { taskId: string; lastScheduledForMs: number | null; nextMs: number | null }[],
): Promise<void> {
  if (rows.length === 0) return
  await db.query(sql.tasks.setSchedule, [
    rows.map((r) => text(r.taskId)),
    rows.map((r) => r.lastScheduledForMs),
    rows.map((r) => r.nextMs),
  ])
}

export async function upsertLogs(db: Queryable, rows: TaskLog[]): Promise<void> {
  if (rows.length === 0) return
  await db.query(sql.logs.upsert, [
    rows.map((l) => text(l.executionId)),
    rows.map((l) => l.attempt),
    rows.map((l) => l.seq),
    rows.map((l) => text(l.taskId)),
    rows.map((l) => l.level),
    rows.map((l) => text(l.message)),
    rows.map((l) => jsonOrString(l.fields)),
    rows.map((l) => l.loggedAtMs),
    rows.map((l) => text(l.workerId)),
  ])
}

export async function insertDeadLetters(db: Queryable, rows: DeadLetterRow[]): Promise<void> {
  if (rows.length === 0) return
  await db.query(sql.deadLetters.insert, [
    rows.map((r) => r.topic),
    rows.map((r) => r.partition),
    rows.map((r) => r.offset.toString()),
    rows.map((r) => text(r.value.sourceTopic)),
    rows.map((r) => r.value.sourcePartition),
    rows.map((r) => r.value.sourceOffset),
    rows.map((r) => text(r.value.reasonCode)),
    rows.map((r) => text(r.value.message)),
    // Indexed columns: a dead letter is often about a value too large to index (the full key stays in record_key).
    rows.map((r) => text(r.value.taskId)?.slice(0, maxIndexedIdLength) ?? null),
    rows.map((r) => text(r.value.executionId)?.slice(0, maxIndexedIdLength) ?? null),
    rows.map((r) => r.value.key),
    rows.map((r) => r.value.originalValue),
    rows.map((r) => r.value.failedAtMs),
  ])
}

/** Deletes up to `limit` rows older than `cutoffMs` from `table`; returns how many went. */
export async function deleteExpired(
  db: Queryable,
  table: keyof typeof sql.retention,
  cutoffMs: number,
  limit: number,
): Promise<number> {
  const result = await db.query(sql.retention[table], [cutoffMs, limit])
  return result.rowCount ?? 0
}
