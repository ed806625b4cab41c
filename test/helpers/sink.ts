/**
 * Helpers for the Postgres sink suites: a fresh database per test file named `ft_sink_<random>` (dropped when the
 * file ends; more on demand with `createDatabase`), snapshots of the projection tables for comparisons, and
 * builders of the records the sink consumes.
 */
import type pg from 'pg'
import { primaryKeys, projectionTables } from '../../connectors/postgres-sql.ts'
import type { Occurrence } from '../../schemas/occurrence.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import type { TaskLog } from '../../schemas/task-log.ts'
import type { TaskResult } from '../../schemas/task-result.ts'
import { createTestDatabase, type TestDatabase } from './postgres.ts'

export type SinkDatabase = TestDatabase

/** Creates an empty database `ft_sink_<random>`; every one created by a file is dropped when the file ends. */
export function createDatabase(): Promise<SinkDatabase> {
  return createTestDatabase({ prefix: 'ft_sink', maxConnections: 3 })
}

/** Every projection table as JSON text rows in primary-key order: equal snapshots mean equal tables. */
export async function snapshot(pool: pg.Pool): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const table of projectionTables) {
    const { rows } = await pool.query<{ row: string }>(
      `SELECT row_to_json(t)::text AS row FROM ${table} t ORDER BY ${primaryKeys[table]}`,
    )
    out[table] = rows.map((r) => r.row)
  }
  return out
}

export async function count(pool: pg.Pool, table: string, where = 'true'): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${where}`)
  return Number(rows[0]?.n ?? 0)
}

export function execution(
  taskId: string,
  slotMs: number,
  attempt = 1,
  extra: Partial<TaskExecution> = {},
): TaskExecution {
  return {
    executionId: `${taskId}:${slotMs}`,
    taskId,
    attempt,
    scheduledForMs: slotMs,
    dueAtMs: slotMs,
    firedAtMs: slotMs + 2,
    deadlineAtMs: null,
    priority: 0,
    category: 'http',
    type: 'HealthCheck',
    payload: '{}',
    trigger: attempt > 1 ? 'RETRY' : 'SCHEDULE',
    definitionVersion: 1,
    labels: { team: 'core' },
    tenant: 'acme',
    ...extra,
  }
}

export function result(
  taskId: string,
  slotMs: number,
  status: TaskResult['status'],
  attempt = 1,
  extra: Partial<TaskResult> = {},
): TaskResult {
  const terminal = status !== 'STARTED'
  return {
    executionId: `${taskId}:${slotMs}`,
    taskId,
    attempt,
    status,
    workerId: 'worker-1',
    startedAtMs: slotMs + 5,
    finishedAtMs: terminal ? slotMs + 50 : null,
    durationMs: terminal ? 45 : null,
    output: status === 'SUCCEEDED' ? '{"ok":true}' : null,
    error: status === 'FAILED' ? { code: 'HTTP_500', message: 'server error', retriable: true } : null,
    ...extra,
  }
}

export function occurrence(taskId: string, slotMs: number, outcome: Occurrence['outcome'] = 'FIRED'): Occurrence {
  return {
    taskId,
    scheduledForMs: slotMs,
    executionId: outcome === 'FIRED' || outcome === 'CANCELLED' || outcome === 'DEAD' ? `${taskId}:${slotMs}` : null,
    outcome,
    reason: outcome === 'FIRED' ? null : `because ${outcome.toLowerCase()}`,
    recordedAtMs: slotMs + 1,
  }
}

export function log(taskId: string, slotMs: number, seq: number, attempt = 1): TaskLog {
  return {
    executionId: `${taskId}:${slotMs}`,
    taskId,
    attempt,
    seq,
    level: 'INFO',
    message: `line ${seq}`,
    fields: JSON.stringify({ seq }),
    loggedAtMs: slotMs + 10 + seq,
    workerId: 'worker-1',
  }
}
