/**
 * Occurrence: what became of one scheduled instant of a task (fired, or why not). Mirrors `occurrence.v<N>.avsc`
 * exactly.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/** Avro enum OccurrenceOutcome, default FIRED (also what a reader sees for a newer outcome). */
export const OccurrenceOutcomes = ['FIRED', 'SKIPPED', 'MISSED', 'PAUSED', 'CANCELLED', 'DEAD'] as const
export type OccurrenceOutcome = (typeof OccurrenceOutcomes)[number]

export type Occurrence = {
  taskId: string
  /** The schedule slot. */
  scheduledForMs: number
  /** Set when the slot produced an execution. */
  executionId: string | null
  outcome: OccurrenceOutcome
  /** Why, e.g. the policy applied. */
  reason: string | null
  recordedAtMs: number
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const occurrenceVersions: readonly SchemaVersion[] = [loadAvsc('occurrence.v1.avsc')]
export const occurrenceSchema: RecordSchema = latestVersion(occurrenceVersions).schema
