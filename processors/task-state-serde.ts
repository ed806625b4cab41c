/**
 * The value encodings of the scheduler's stores `tasks` (TaskState) and `timers` (TimerEntry): compact binary
 * behind a leading format byte, instead of JSON (issue 14: JSON store values were ~11 % of a 1M ingest's CPU).
 *
 * Upgrade: stores and changelog topics written by earlier versions hold JSON, which always starts with `{`
 * (0x7b) here. A value whose first byte is not a known format byte is read as JSON, so a store or changelog
 * written before keeps working (restore replays it as is); every write uses the binary format, so old values
 * are rewritten as their tasks change. A downgrade to a version that reads JSON only is not supported.
 *
 * `tasks` value (format 1): format byte, flags (paused, completed, quarantined), the progress fields
 * (lastScheduledMs, runs, fireKey, nextSlotMs, catchUpFired, buffered, inFlight, ended, quarantined), then the
 * definition (schemas/task-definition-codec.ts) up to the end. The definition is last and self-delimiting so a
 * value can reuse its bytes: a definition decoded here is frozen (deeply) and remembered with its bytes, and
 * writing a state that still holds that same object copies the bytes instead of encoding the definition (and its
 * payload) again. A fire changes only progress fields, so it re-encodes those alone; a new definition is a new
 * object and is encoded. Freezing makes "the same object" mean "the same content": nothing can change a decoded
 * definition in place.
 *
 * `timers` value (format 1): format byte, kind, attempt, scheduledForMs, taskId, and the executionId only when it
 * is not `<taskId>:<scheduledForMs>` (a manual run's): most of a timer is in its key already.
 */
import type { StoreSerde } from '../topology/api.ts'
import { ByteReader, ByteWriter, symbolIndex } from '../schemas/compact-binary.ts'
import { readTaskDefinition, writeTaskDefinition } from '../schemas/task-definition-codec.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import { ExecutionTriggers } from '../schemas/task-execution.ts'
import {
  TimerKinds,
  executionIdFor,
  type EndedOutcome,
  type InFlight,
  type TaskState,
  type TimerEntry,
  type TimerKind,
} from './task-state.ts'

/** The first byte of a binary value. JSON values start with `{`. */
export const StoreFormats = { binaryV1: 0x01 } as const

const inFlightStatuses = ['PENDING', 'RUNNING', 'RETRY_WAIT'] as const satisfies readonly InFlight['status'][]
const endedOutcomes = ['SUCCEEDED', 'DEAD', 'CANCELLED', 'ABANDONED'] as const satisfies readonly EndedOutcome[]
const timerKinds = [TimerKinds.fire, TimerKinds.retry, TimerKinds.timeout] as const satisfies readonly TimerKind[]
// Each closed set above must list every member of its type: a member added to the type fails to compile here.
const complete: [
  Exclude<InFlight['status'], (typeof inFlightStatuses)[number]>,
  Exclude<EndedOutcome, (typeof endedOutcomes)[number]>,
  Exclude<TimerKind, (typeof timerKinds)[number]>,
] extends [never, never, never]
  ? true
  : false = true
void complete

const flagPaused = 1
const flagCompleted = 2
const flagQuarantined = 4

/** One scratch buffer per process: serialize is synchronous, so values never interleave. */
const writer = new ByteWriter()
/** Definitions decoded here (frozen) → their encoded bytes. Weak: an entry lives as long as its definition. */
const encodedDefinitions = new WeakMap<TaskDefinition, Buffer>()

export const taskStateSerde: StoreSerde<TaskState> = {
  serialize: (state) => encodeTaskState(state),
  deserialize: (data) => (data[0] === StoreFormats.binaryV1 ? decodeTaskState(data) : parseJson<TaskState>(data)),
}

export const timerEntrySerde: StoreSerde<TimerEntry> = {
  serialize: (entry) => encodeTimerEntry(entry),
  deserialize: (data) => (data[0] === StoreFormats.binaryV1 ? decodeTimerEntry(data) : parseJson<TimerEntry>(data)),
}

function parseJson<T>(data: Buffer): T {
  return JSON.parse(data.toString('utf8')) as T
}

function encodeTaskState(s: TaskState): Buffer {
  const w = writer.reset()
  w.byte(StoreFormats.binaryV1)
  w.byte((s.paused ? flagPaused : 0) | (s.completed ? flagCompleted : 0) | (s.quarantined ? flagQuarantined : 0))
  w.number(s.lastScheduledMs)
  w.num(s.runs)
  w.string(s.fireKey)
  w.number(s.nextSlotMs)
  w.num(s.catchUpFired)
  w.number(s.buffered)
  const inFlight = Object.entries(s.inFlight)
  w.uint(inFlight.length)
  for (const [key, f] of inFlight) {
    w.string(key)
    w.string(f.executionId === key ? null : f.executionId)
    w.num(f.scheduledForMs)
    w.num(f.attempt)
    w.byte(symbolIndex(ExecutionTriggers, f.trigger, 'inFlight.trigger'))
    w.byte(symbolIndex(inFlightStatuses, f.status, 'inFlight.status'))
    w.string(f.timerKey)
  }
  const ended = Object.entries(s.ended)
  w.uint(ended.length)
  for (const [key, e] of ended) {
    w.string(key)
    w.num(e.scheduledForMs)
    w.num(e.attempt)
    w.byte(symbolIndex(endedOutcomes, e.outcome, 'ended.outcome'))
  }
  if (s.quarantined) {
    w.string(s.quarantined.reasonCode)
    w.string(s.quarantined.message)
    w.num(s.quarantined.atMs)
  }
  const cached = encodedDefinitions.get(s.definition)
  if (cached === undefined) writeTaskDefinition(w, s.definition)
  else w.bytes(cached)
  return w.finish()
}

function decodeTaskState(data: Buffer): TaskState {
  const r = new ByteReader(data, 1, 'tasks store value')
  const flags = r.byte()
  const lastScheduledMs = r.number()
  const runs = r.num()
  const fireKey = r.string()
  const nextSlotMs = r.number()
  const catchUpFired = r.num()
  const buffered = r.number()
  const inFlight: Record<string, InFlight> = {}
  for (let n = r.uint(); n > 0; n--) {
    const key = r.str()
    inFlight[key] = {
      executionId: r.string() ?? key,
      scheduledForMs: r.num(),
      attempt: r.num(),
      trigger: r.symbol(ExecutionTriggers),
      status: r.symbol(inFlightStatuses),
      timerKey: r.string(),
    }
  }
  const ended: TaskState['ended'] = {}
  for (let n = r.uint(); n > 0; n--) {
    ended[r.str()] = { scheduledForMs: r.num(), attempt: r.num(), outcome: r.symbol(endedOutcomes) }
  }
  const quarantined =
    (flags & flagQuarantined) === 0 ? undefined : { reasonCode: r.str(), message: r.str(), atMs: r.num() }
  const definitionAt = r.pos
  const definition = readTaskDefinition(r)
  if (r.pos !== data.length) r.fail(`${data.length - r.pos} bytes after the definition`)
  encodedDefinitions.set(definition, data.subarray(definitionAt))
  const state: TaskState = {
    definition,
    lastScheduledMs,
    runs,
    paused: (flags & flagPaused) !== 0,
    completed: (flags & flagCompleted) !== 0,
    fireKey,
    nextSlotMs,
    catchUpFired,
    buffered,
    inFlight,
    ended,
  }
  if (quarantined !== undefined) state.quarantined = quarantined
  return state
}

function encodeTimerEntry(e: TimerEntry): Buffer {
  const w = writer.reset()
  w.byte(StoreFormats.binaryV1)
  w.byte(symbolIndex(timerKinds, e.kind, 'timer kind'))
  w.num(e.attempt)
  w.num(e.scheduledForMs)
  w.string(e.taskId)
  w.string(e.executionId === executionIdFor(e.taskId, e.scheduledForMs) ? null : e.executionId)
  return w.finish()
}

function decodeTimerEntry(data: Buffer): TimerEntry {
  const r = new ByteReader(data, 1, 'timers store value')
  const kind = r.symbol(timerKinds)
  const attempt = r.num()
  const scheduledForMs = r.num()
  const taskId = r.str()
  const executionId = r.string() ?? executionIdFor(taskId, scheduledForMs)
  if (r.pos !== data.length) r.fail(`${data.length - r.pos} bytes after the timer`)
  return { taskId, kind, executionId, scheduledForMs, attempt }
}
