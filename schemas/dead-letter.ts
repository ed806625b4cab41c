/**
 * DeadLetter: input that could not be processed, the value of `flextask.dead-letter`, keyed by the original key.
 * Carries the original bytes and where they came from, so nothing is dropped silently. Mirrors
 * `dead-letter.v<N>.avsc` exactly.
 */
import { createHash } from 'node:crypto'
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

/**
 * Bytes of the original key and of the message a dead letter carries at most; the original value gets what is
 * left under the record limit (less 1 KiB for the other fields), so it is kept whole whenever it can be produced.
 */
export const deadLetterCaps = { key: 4096, message: 8192, otherFields: 1024 } as const

/** The record limit of a dead letter when its writer has none of its own: under the broker's default 1048588. */
export const defaultMaxDeadLetterBytes = 1_000_000

/**
 * The dead letter, cut so that it can always be produced (issues 7 and 15): an original key or value too large
 * (e.g. a 2 MB record on a topic that accepts it, while the dead-letter topic does not) is carried as a capped
 * prefix, and the message gives its full size and SHA-256 (DeadLetter v1 has no fields for them; the message is
 * free text). Every writer of dead letters (scheduler, worker, sink) goes through here, so none can be refused by
 * the broker and retried forever.
 */
export function cappedDeadLetter(deadLetter: DeadLetter, maxRecordBytes = defaultMaxDeadLetterBytes): DeadLetter {
  const notes: string[] = []
  const key = capped(deadLetter.key, deadLetterCaps.key, 'key', notes)
  // The key is in the record twice (record key and field); the message is at most its cap plus the notes.
  const valueRoom = maxRecordBytes - 2 * deadLetterCaps.key - deadLetterCaps.message - deadLetterCaps.otherFields
  const originalValue = capped(deadLetter.originalValue, valueRoom, 'originalValue', notes)
  const message = [deadLetter.message.slice(0, deadLetterCaps.message), ...notes].join(' ')
  return { ...deadLetter, key, originalValue, message }
}

function capped(bytes: Buffer | null, maxBytes: number, what: string, notes: string[]): Buffer | null {
  if (bytes === null || bytes.length <= maxBytes) return bytes
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  notes.push(`[${what} truncated: ${bytes.length} bytes, sha256 ${sha256}; the first ${maxBytes} bytes are kept]`)
  return bytes.subarray(0, maxBytes)
}
