/**
 * TaskDefinition: a task and its schedule, the value of the compacted topic `flextask.task-definitions` (keyed by
 * taskId, null value = delete). It is the only place a schedule lives.
 *
 * Mirrors `task-definition.v<N>.avsc` exactly (dev.flextask.TaskDefinition); every `…Ms` field is epoch or
 * duration milliseconds as a JS number. Enum readers fall back to the schema's default symbol for symbols they do
 * not know, so a closed set can grow without breaking older readers.
 */
import { latestVersion, loadAvsc, type RecordSchema, type SchemaVersion } from './load-avsc.ts'

/** Avro enum ScheduleKind; a reader meeting a newer kind sees ONE_SHOT with atMs null, which is invalid. */
export const ScheduleKinds = ['CRON', 'INTERVAL', 'ONE_SHOT', 'DELAY'] as const
export type ScheduleKind = (typeof ScheduleKinds)[number]

/** Avro enum MisfirePolicy, default FIRE_LAST. */
export const MisfirePolicies = ['FIRE_ALL', 'FIRE_LAST', 'SKIP'] as const
export type MisfirePolicy = (typeof MisfirePolicies)[number]

/**
 * Avro enum FallBackRepeat (version 2), default BY_PATTERN: which pass of a repeated wall-clock stretch a CRON slot
 * fires on (processors/schedule-calculator.ts states the rule).
 */
export const FallBackRepeats = ['BY_PATTERN', 'FIRST_PASS_ONLY', 'BOTH_PASSES'] as const
export type FallBackRepeat = (typeof FallBackRepeats)[number]

/** Avro enum OverlapPolicy, default ALLOW_ALL. */
export const OverlapPolicies = ['SKIP', 'BUFFER_ONE', 'ALLOW_ALL'] as const
export type OverlapPolicy = (typeof OverlapPolicies)[number]

/** Flat on purpose (not a union of records): `kind` says which fields apply. */
export type ScheduleSpec = {
  kind: ScheduleKind
  /** Cron with seconds, for CRON. */
  cron: string | null
  /** IANA zone for CRON; default 'UTC'. */
  timezone: string
  /** Period, for INTERVAL. */
  everyMs: number | null
  /** Fire instant, for ONE_SHOT. */
  atMs: number | null
  /** Delay after createdAtMs, for DELAY. */
  delayMs: number | null
  startAtMs: number | null
  endAtMs: number | null
  /** Interval slots are phaseMs + n * everyMs; default 0. */
  phaseMs: number
  /** null = unlimited. */
  maxRuns: number | null
  /** CRON only, since version 2; default BY_PATTERN. */
  fallBackRepeat: FallBackRepeat
}

export type RetryPolicy = {
  /** Total attempts including the first; default 1 (no retry). */
  maxAttempts: number
  /** Default 1000. */
  backoffBaseMs: number
  /** Default 2. */
  backoffFactor: number
  /** Default 300000. */
  backoffMaxMs: number
  /** 0..1, default 0. */
  jitterRatio: number
}

export type TaskDefinition = {
  taskId: string
  name: string
  /** Open set: http, email, internal, kubernetes, elasticsearch, … */
  category: string
  type: string
  /** JSON text; default '{}'. */
  payload: string
  schedule: ScheduleSpec
  /** Default 0. */
  priority: number
  /** Default FIRE_LAST. */
  misfirePolicy: MisfirePolicy
  /** Lateness beyond which a slot is a misfire; null = the scheduler's default (60 000 ms), never "no limit". */
  maxLatenessMs: number | null
  /** Default ALLOW_ALL. */
  overlapPolicy: OverlapPolicy
  /** Default 0. */
  jitterMs: number
  timeoutMs: number | null
  retry: RetryPolicy
  /** Default false. */
  paused: boolean
  /** Default {}. */
  labels: Record<string, string>
  tenant: string | null
  createdAtMs: number
  updatedAtMs: number
  /** Default 1. */
  version: number
}

/** Every released version, oldest first; the last one is the current reader and writer schema. */
export const taskDefinitionVersions: readonly SchemaVersion[] = [
  loadAvsc('task-definition.v1.avsc'),
  loadAvsc('task-definition.v2.avsc'),
]
export const taskDefinitionSchema: RecordSchema = latestVersion(taskDefinitionVersions).schema
