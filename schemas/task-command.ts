/**
 * TaskCommand: an imperative request about one task (trigger now, pause, resume, retry or cancel an execution),
 * the value of `flextask.task-commands`, keyed by taskId. Mirrors `task-command.v<N>.avsc` exactly.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/**
 * Avro enum CommandKind. UNKNOWN is never written: it is the enum's default symbol, what a reader sees for a kind
 * newer than itself, and such a command is dead-lettered, never acted on.
 */
export const CommandKinds = [
  'TRIGGER_NOW',
  'PAUSE',
  'RESUME',
  'RETRY_EXECUTION',
  'CANCEL_EXECUTION',
  'UNKNOWN',
] as const
export type CommandKind = (typeof CommandKinds)[number]

export type TaskCommand = {
  /** Unique per command, for deduplication. */
  commandId: string
  taskId: string
  kind: CommandKind
  /** Target of RETRY_EXECUTION and CANCEL_EXECUTION. */
  executionId: string | null
  requestedAtMs: number
  requestedBy: string | null
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const taskCommandVersions: readonly SchemaVersion[] = [loadAvsc('task-command.v1.avsc')]
export const taskCommandSchema: RecordSchema = latestVersion(taskCommandVersions).schema
