/**
 * DeadLetter: input that could not be processed, the value of `flextask.dead-letter`, keyed by the original key.
 * Carries the original bytes and where they came from, so nothing is dropped silently. Mirrors
 * `dead-letter.v<N>.avsc` exactly.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/** The reason codes flextask writes today. `reasonCode` is an open string set; readers must accept others. */
export const DeadLetterReasons = [
  'UNDECODABLE',
  'UNKNOWN_SCHEMA',
  'INVALID_DEFINITION',
  'WRONG_PARTITION',
  'OVERSIZED',
  'RETRIES_EXHAUSTED',
  'PROCESSING_FAILED',
] as const
export type DeadLetterReason = (typeof DeadLetterReasons)[number]

export type DeadLetter = {
  sourceTopic: string
  sourcePartition: number
  /** Exact up to 2^53. */
  sourceOffset: number
  key: Buffer | null
  originalValue: Buffer | null
  /** One of DeadLetterReasons, or a newer code. */
  reasonCode: string
  /** Human-readable, naming the field where there is one. */
  message: string
  failedAtMs: number
  taskId: string | null
  executionId: string | null
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const deadLetterVersions: readonly SchemaVersion[] = [loadAvsc('dead-letter.v1.avsc')]
export const deadLetterSchema: RecordSchema = latestVersion(deadLetterVersions).schema
