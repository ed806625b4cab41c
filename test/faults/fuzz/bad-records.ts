/**
 * Bad records for the scheduler's three inputs (definitions, commands, results), one class at a time, each with
 * the dead-letter reason it must produce. Classes built by hand know their reason; random bytes and bit-flipped
 * valid records ask the oracle (fuzz/oracle.ts) and are kept only when it says they are bad: a mutant that still
 * decodes to acceptable input is not bad input.
 *
 * Every bad definition and command is about a task that does not exist (`fz-bad-<n>`), so none of them can
 * touch the valid tasks whose fires the suite audits.
 */
import { SchedulerReasons } from '../../../processors/scheduler-errors.ts'
import type { SerdeRegistry } from '../../../schemas/serde-registry.ts'
import { CommandKinds, type TaskCommand } from '../../../schemas/task-command.ts'
import type { TaskDefinition } from '../../../schemas/task-definition.ts'
import type { TaskResult } from '../../../schemas/task-result.ts'
import type { TopicNames } from '../../../topics.ts'
import { partitionForKey } from '../../../topology/partitioner.ts'
import { taskDefinition } from '../../helpers/scheduler.ts'
import type { FuzzOracle } from './oracle.ts'
import type { Prng } from './prng.ts'

export type InputKind = 'definitions' | 'commands' | 'results'

export interface FuzzRecord {
  cls: string
  input: InputKind
  partition: number
  key: Buffer | null
  value: Buffer | null
  /** The dead-letter reason this record must produce. */
  reason: string
}

export interface FuzzContext {
  rng: Prng
  topics: TopicNames
  partitions: number
  serdes: Pick<SerdeRegistry, 'definition' | 'command' | 'result'>
  oracle: FuzzOracle
  nowMs: number
}

const R = SchedulerReasons
const twoMiB = 2 * 1024 * 1024
const badCrons = ['61 * * * * *', 'not a cron', '* * * * * * * *', '', '*/0 * * * * *', '0 0 25 * * MON-XYZ']
const badZones = ['Mars/Olympus_Mons', 'UTC+25', 'Europe/Atlantis', 'not/a zone', '']
const liveKinds = CommandKinds.filter((k) => k !== 'UNKNOWN')

/**
 * Schema ids far above any the shared registry holds, from a pool of 16 per run: each distinct unknown id costs
 * the scheduler a registry round trip (it does not cache a miss), which would dominate the run's time.
 */
let unknownIds: number[] = []
function unknownSchemaId(rng: Prng): number {
  if (unknownIds.length === 0) unknownIds = Array.from({ length: 16 }, () => rng.int(1_500_000_000, 2_000_000_000))
  return rng.pick(unknownIds)
}

let serial = 0
const badTaskId = (rng: Prng): string => `fz-bad-${rng.int(0, 0xffffff).toString(36)}-${serial++}`
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8')

function definition(ctx: FuzzContext, taskId: string, overrides: Partial<TaskDefinition> = {}): TaskDefinition {
  return taskDefinition(taskId, { kind: 'CRON', cron: '*/5 * * * * *' }, { createdAtMs: ctx.nowMs, ...overrides })
}

function command(ctx: FuzzContext, taskId: string): TaskCommand {
  const kind = ctx.rng.pick(liveKinds)
  const targeted = kind === 'RETRY_EXECUTION' || kind === 'CANCEL_EXECUTION'
  return {
    commandId: `c-${ctx.rng.int(0, 1e9)}`,
    taskId,
    kind,
    executionId: targeted ? `${taskId}:${ctx.nowMs}` : null,
    requestedAtMs: ctx.nowMs,
    requestedBy: ctx.rng.chance(0.5) ? 'fuzz' : null,
  }
}

function result(ctx: FuzzContext, taskId: string): TaskResult {
  return {
    executionId: `${taskId}:${ctx.nowMs}`,
    taskId,
    attempt: ctx.rng.int(1, 3),
    status: ctx.rng.pick(['STARTED', 'SUCCEEDED', 'FAILED'] as const),
    workerId: 'fuzz-worker',
    startedAtMs: ctx.nowMs,
    finishedAtMs: ctx.nowMs + 5,
    durationMs: 5,
    output: null,
    error: null,
  }
}

/** A valid record of `input` about a task that does not exist, Avro-encoded. */
function validBytes(ctx: FuzzContext, input: InputKind, taskId: string): Buffer {
  if (input === 'definitions') return ctx.serdes.definition.serialize(definition(ctx, taskId))
  if (input === 'commands') return ctx.serdes.command.serialize(command(ctx, taskId))
  return ctx.serdes.result.serialize(result(ctx, taskId))
}

/** A record on the partition its key belongs to. */
function owned(ctx: FuzzContext, cls: string, input: InputKind, taskId: string, value: Buffer | null, reason: string) {
  return { cls, input, partition: partitionForKey(taskId, ctx.partitions), key: utf8(taskId), value, reason }
}

/** The reason an input record about a task that does not exist gets when it decodes. */
const decodedReason: Record<InputKind, string> = {
  definitions: R.invalidDefinition,
  commands: R.invalidCommand,
  results: R.invalidResult,
}

type Generator = (ctx: FuzzContext, input: InputKind) => FuzzRecord | Promise<FuzzRecord | null> | null

const anyInput: Record<string, Generator> = {
  badMagic(ctx, input) {
    const id = badTaskId(ctx.rng)
    const value = validBytes(ctx, input, id)
    value[0] = ctx.rng.int(1, 255)
    return owned(ctx, 'bad magic byte', input, id, value, R.undecodable)
  },
  unknownSchemaId(ctx, input) {
    const id = badTaskId(ctx.rng)
    const value = validBytes(ctx, input, id)
    value.writeInt32BE(unknownSchemaId(ctx.rng), 1)
    return owned(ctx, 'unknown schema id', input, id, value, R.unknownSchema)
  },
  truncated(ctx, input) {
    const id = badTaskId(ctx.rng)
    const value = validBytes(ctx, input, id)
    return owned(ctx, 'truncated Avro', input, id, value.subarray(0, ctx.rng.int(1, value.length - 1)), R.undecodable)
  },
  randomBytes(ctx, input) {
    const id = badTaskId(ctx.rng)
    const value = ctx.rng.bytes(ctx.rng.int(1, 400))
    // A zero first byte reads bytes 1–4 as a schema id: keep it far above any id the shared registry holds.
    if (value[0] === 0 && value.length >= 5) value.writeInt32BE(unknownSchemaId(ctx.rng), 1)
    const reason = value[0] === 0 && value.length >= 5 ? R.unknownSchema : R.undecodable
    return owned(ctx, 'random bytes', input, id, value, reason)
  },
  twoMiBGarbage(ctx, input) {
    const id = badTaskId(ctx.rng)
    const value = ctx.rng.bytes(twoMiB)
    value[0] = 0xff
    return owned(ctx, '2 MB payload', input, id, value, R.undecodable)
  },
  wrongPartition(ctx, input) {
    const id = badTaskId(ctx.rng)
    const record = owned(ctx, 'wrong partition', input, id, validBytes(ctx, input, id), R.wrongPartition)
    return { ...record, partition: (record.partition + ctx.rng.int(1, ctx.partitions - 1)) % ctx.partitions }
  },
  nullKey(ctx, input) {
    const id = badTaskId(ctx.rng)
    const record = owned(ctx, 'null key', input, id, validBytes(ctx, input, id), decodedReason[input])
    return { ...record, key: null, partition: ctx.rng.int(0, ctx.partitions - 1) }
  },
  async bitFlips(ctx, input) {
    const id = badTaskId(ctx.rng)
    const value = Buffer.from(validBytes(ctx, input, id))
    for (let flips = ctx.rng.int(1, 3); flips > 0; flips--) {
      const at = ctx.rng.chance(0.1) ? ctx.rng.int(0, value.length - 1) : ctx.rng.int(5, value.length - 1)
      // Any bit, the varint continuation bit (7) included: it once turned a block count into ~2^60 and froze
      // avsc, and an int into a number outside int32; schemas/avro-bounds.ts refuses both as undecodable.
      value[at] = (value[at] ?? 0) ^ (1 << ctx.rng.int(0, 7))
    }
    const record = owned(ctx, 'bit flips', input, id, value, '')
    const reason = await ctx.oracle.reasonFor(input, record.partition, record.key, value)
    return reason === null ? null : { ...record, reason }
  },
}

const definitionsOnly: Record<string, Generator> = {
  invalidCron(ctx) {
    const id = badTaskId(ctx.rng)
    const def = definition(ctx, id, {})
    def.schedule.cron = ctx.rng.pick(badCrons)
    return owned(ctx, 'invalid cron', 'definitions', id, ctx.serdes.definition.serialize(def), R.invalidDefinition)
  },
  unknownZone(ctx) {
    const id = badTaskId(ctx.rng)
    const def = definition(ctx, id, {})
    def.schedule.timezone = ctx.rng.pick(badZones)
    return owned(ctx, 'unknown time zone', 'definitions', id, ctx.serdes.definition.serialize(def), R.invalidDefinition)
  },
  pastOneShot(ctx) {
    const id = badTaskId(ctx.rng)
    const schedule = { ...definition(ctx, id).schedule, kind: 'ONE_SHOT' as const, cron: null }
    const def = definition(ctx, id, { schedule: { ...schedule, atMs: ctx.nowMs - ctx.rng.int(1, 365 * 86_400_000) } })
    return owned(ctx, 'past one-shot', 'definitions', id, ctx.serdes.definition.serialize(def), R.invalidDefinition)
  },
  oversizedPayload(ctx) {
    const id = badTaskId(ctx.rng)
    const def = definition(ctx, id, { payload: JSON.stringify('x'.repeat(twoMiB)) })
    return owned(ctx, '2 MB payload', 'definitions', id, ctx.serdes.definition.serialize(def), R.oversized)
  },
  keyNotTaskId(ctx) {
    const id = badTaskId(ctx.rng)
    const value = ctx.serdes.definition.serialize(definition(ctx, `${id}-other`))
    return owned(ctx, 'key is not the taskId', 'definitions', id, value, R.invalidDefinition)
  },
  unknownCategory(ctx) {
    const id = badTaskId(ctx.rng)
    const value = ctx.serdes.definition.serialize(definition(ctx, id, { category: 'no-such-category' }))
    return owned(ctx, 'unknown category', 'definitions', id, value, R.invalidDefinition)
  },
}

const eventInputsOnly: Record<string, Generator> = {
  tombstone(ctx, input) {
    return owned(ctx, 'tombstone', input, badTaskId(ctx.rng), null, decodedReason[input])
  },
}

const commandsOnly: Record<string, Generator> = {
  unknownTask(ctx) {
    const id = badTaskId(ctx.rng)
    return owned(ctx, 'command for no task', 'commands', id, validBytes(ctx, 'commands', id), R.invalidCommand)
  },
}

/** The generators that apply to an input, by name; `2 MB` ones are rationed by the caller. */
export function generatorsFor(input: InputKind): Record<string, Generator> {
  if (input === 'definitions') {
    // The definitions topic is compacted: the broker itself refuses a record without a key (INVALID_RECORD).
    const { nullKey: _refusedByTheBroker, ...rest } = anyInput
    return { ...rest, ...definitionsOnly }
  }
  return { ...anyInput, ...eventInputsOnly, ...(input === 'commands' ? commandsOnly : {}) }
}

export const largeGenerators: ReadonlySet<string> = new Set(['twoMiBGarbage', 'oversizedPayload'])
