/**
 * TaskLog: one handler log line of one attempt, the value of `flextask.task-logs`, keyed by taskId. Workers write
 * it next to the attempt's results; the Postgres sink projects it into `task_logs` by its natural key
 * (executionId, attempt, seq), so a redelivered attempt changes nothing. Mirrors `task-log.v<N>.avsc` exactly.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/** Avro enum LogLevel; a reader meeting a newer level sees INFO. */
export const LogLevels = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const
export type LogLevel = (typeof LogLevels)[number]

export type TaskLog = {
  executionId: string
  taskId: string
  /** 1-based attempt the line belongs to. */
  attempt: number
  /** 0-based position of the line within the attempt. */
  seq: number
  level: LogLevel
  message: string
  /** Structured fields as JSON text. */
  fields: string | null
  loggedAtMs: number
  workerId: string | null
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const taskLogVersions: readonly SchemaVersion[] = [loadAvsc('task-log.v1.avsc')]
export const taskLogSchema: RecordSchema = latestVersion(taskLogVersions).schema
