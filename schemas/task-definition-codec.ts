/**
 * A TaskDefinition as compact bytes, for the scheduler's `tasks` store (processors/task-state-serde.ts), not for
 * any topic: topics carry the Avro `TaskDefinition` of task-definition.v<N>.avsc. Fields in schema order; enums as
 * their index in the schema's symbols; numbers as compact-binary.ts `number` (JSON's meaning, so a value the
 * validator would refuse still round-trips unchanged instead of being written wrong).
 *
 * A field added to the schema must be added here (the decoder builds a typed object, so the compiler asks for
 * it; test/unit/schemas/task-definition-codec.test.ts compares the fields with the newest .avsc) and the store
 * format byte raised, so values written before stay readable.
 */
import {
  FallBackRepeats,
  MisfirePolicies,
  OverlapPolicies,
  ScheduleKinds,
  type ScheduleSpec,
  type TaskDefinition,
} from './task-definition.ts'
import { symbolIndex, type ByteReader, type ByteWriter } from './compact-binary.ts'

export function writeTaskDefinition(w: ByteWriter, d: TaskDefinition): void {
  w.string(d.taskId)
  w.string(d.name)
  w.string(d.category)
  w.string(d.type)
  w.string(d.payload)
  writeSchedule(w, d.schedule)
  w.num(d.priority)
  w.byte(symbolIndex(MisfirePolicies, d.misfirePolicy, 'misfirePolicy'))
  w.number(d.maxLatenessMs)
  w.byte(symbolIndex(OverlapPolicies, d.overlapPolicy, 'overlapPolicy'))
  w.num(d.jitterMs)
  w.number(d.timeoutMs)
  w.num(d.retry.maxAttempts)
  w.num(d.retry.backoffBaseMs)
  w.num(d.retry.backoffFactor)
  w.num(d.retry.backoffMaxMs)
  w.num(d.retry.jitterRatio)
  w.byte(d.paused ? 1 : 0)
  const labels = Object.entries(d.labels)
  w.uint(labels.length)
  for (const [key, value] of labels) {
    w.string(key)
    w.string(value)
  }
  w.string(d.tenant)
  w.num(d.createdAtMs)
  w.num(d.updatedAtMs)
  w.num(d.version)
}

function writeSchedule(w: ByteWriter, s: ScheduleSpec): void {
  w.byte(symbolIndex(ScheduleKinds, s.kind, 'schedule.kind'))
  w.string(s.cron)
  w.string(s.timezone)
  w.number(s.everyMs)
  w.number(s.atMs)
  w.number(s.delayMs)
  w.number(s.startAtMs)
  w.number(s.endAtMs)
  w.num(s.phaseMs)
  w.number(s.maxRuns)
  w.byte(symbolIndex(FallBackRepeats, s.fallBackRepeat, 'schedule.fallBackRepeat'))
}

/** Reads what `writeTaskDefinition` wrote; the result is frozen, nested objects included (see the store serde). */
export function readTaskDefinition(r: ByteReader): TaskDefinition {
  const taskId = r.str()
  const name = r.str()
  const category = r.str()
  const type = r.str()
  const payload = r.str()
  const schedule = Object.freeze(readSchedule(r))
  const priority = r.num()
  const misfirePolicy = r.symbol(MisfirePolicies)
  const maxLatenessMs = r.number()
  const overlapPolicy = r.symbol(OverlapPolicies)
  const jitterMs = r.num()
  const timeoutMs = r.number()
  const retry = Object.freeze({
    maxAttempts: r.num(),
    backoffBaseMs: r.num(),
    backoffFactor: r.num(),
    backoffMaxMs: r.num(),
    jitterRatio: r.num(),
  })
  const paused = r.byte() === 1
  const labels: Record<string, string> = {}
  for (let n = r.uint(); n > 0; n--) labels[r.str()] = r.str()
  const definition: TaskDefinition = {
    taskId,
    name,
    category,
    type,
    payload,
    schedule,
    priority,
    misfirePolicy,
    maxLatenessMs,
    overlapPolicy,
    jitterMs,
    timeoutMs,
    retry,
    paused,
    labels: Object.freeze(labels),
    tenant: r.string(),
    createdAtMs: r.num(),
    updatedAtMs: r.num(),
    version: r.num(),
  }
  return Object.freeze(definition)
}

function readSchedule(r: ByteReader): ScheduleSpec {
  return {
    kind: r.symbol(ScheduleKinds),
    cron: r.string(),
    timezone: r.str(),
    everyMs: r.number(),
    atMs: r.number(),
    delayMs: r.number(),
    startAtMs: r.number(),
    endAtMs: r.number(),
    phaseMs: r.num(),
    maxRuns: r.number(),
    fallBackRepeat: r.symbol(FallBackRepeats),
  }
}
