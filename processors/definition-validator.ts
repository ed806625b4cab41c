/**
 * DefinitionValidator: checks every record of the definitions topic before the scheduler sees it, and forwards
 * the valid ones (and tombstones) unchanged. An invalid definition throws a coded FlextaskError whose message
 * starts with the field path (`schedule.cron: ...`); the task's dead-letter handler then writes the ORIGINAL
 * record to the dead-letter topic with the mapped reason and the partition moves on.
 *
 * Checks: key = value.taskId; the key belongs to this partition (murmur2 of the UTF-8 taskId, the Java client's
 * default partitioner; a producer using another partitioner is caught here, see etf1/kafka-message-scheduler#44);
 * the schedule (ScheduleCalculator.validate) and a one-shot not before its createdAtMs; a known category; known
 * misfire and overlap policies; payload size (OVERSIZED) and JSON; sane retry, jitter, timeout and lateness numbers.
 * Stateless; uses no time.
 */
import { ErrorCodes } from '../errors.ts'
import { MisfirePolicies, OverlapPolicies, type TaskDefinition } from '../schemas/task-definition.ts'
import type { Processor, ProcessorContext, StreamRecord } from '../topology/api.ts'
import { ScheduleCalculator } from './schedule-calculator.ts'
import { SchedulerErrorCodes, invalidField } from './scheduler-errors.ts'
import type { SchedulerConfig } from './task-state.ts'

const maxRetryAttempts = 100
const maxDurationMs = 366 * 86_400_000

/**
 * The partition that owns a key: the topology injects the runtime's `partitionForKey` (Java murmur2), which
 * processors may not import directly.
 */
export type OwnerPartition = (key: string, partitionCount: number) => number

type Check = (definition: TaskDefinition) => [field: string, message: string] | null

/**
 * Throws FLEXTASK_WRONG_PARTITION (dead letter WRONG_PARTITION) when the key belongs to another partition. Used
 * for definitions here and for commands by the TaskScheduler: a command on the wrong partition would otherwise
 * look like one for a task that does not exist.
 */
export function checkOwnerPartition(
  key: string,
  context: Pick<ProcessorContext, 'partition' | 'partitionCount'>,
  ownerPartition: OwnerPartition,
): void {
  const { partition, partitionCount } = context
  const owner = ownerPartition(key, partitionCount)
  if (owner !== partition) {
    throw invalidField(
      ErrorCodes.wrongPartition,
      'taskId',
      `key ${JSON.stringify(key)} belongs to partition ${owner} of ${partitionCount} (murmur2 of the UTF-8 ` +
        `taskId, the Java client's default partitioner) but arrived on partition ${partition}`,
      key,
    )
  }
}

function isIntIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

const retryChecks: Check[] = [
  ({ retry }) =>
    isIntIn(retry.maxAttempts, 1, maxRetryAttempts)
      ? null
      : ['retry.maxAttempts', `must be an integer from 1 to ${maxRetryAttempts}, got ${retry.maxAttempts}`],
  ({ retry }) =>
    isIntIn(retry.backoffBaseMs, 0, maxDurationMs)
      ? null
      : ['retry.backoffBaseMs', `must be an integer from 0 to ${maxDurationMs}, got ${retry.backoffBaseMs}`],
  ({ retry }) =>
    Number.isFinite(retry.backoffFactor) && retry.backoffFactor >= 1 && retry.backoffFactor <= 100
      ? null
      : ['retry.backoffFactor', `must be a number from 1 to 100, got ${retry.backoffFactor}`],
  ({ retry }) =>
    isIntIn(retry.backoffMaxMs, 0, maxDurationMs)
      ? null
      : ['retry.backoffMaxMs', `must be an integer from 0 to ${maxDurationMs}, got ${retry.backoffMaxMs}`],
  ({ retry }) =>
    Number.isFinite(retry.jitterRatio) && retry.jitterRatio >= 0 && retry.jitterRatio <= 1
      ? null
      : ['retry.jitterRatio', `must be a number from 0 to 1, got ${retry.jitterRatio}`],
]

/** Closed sets: Avro decoding maps an unknown symbol to the enum's default, but a value built in code may not. */
const policyChecks: Check[] = [
  ({ misfirePolicy }) =>
    (MisfirePolicies as readonly string[]).includes(misfirePolicy)
      ? null
      : ['misfirePolicy', `must be one of ${MisfirePolicies.join(', ')}, got ${JSON.stringify(misfirePolicy)}`],
  ({ overlapPolicy }) =>
    (OverlapPolicies as readonly string[]).includes(overlapPolicy)
      ? null
      : ['overlapPolicy', `must be one of ${OverlapPolicies.join(', ')}, got ${JSON.stringify(overlapPolicy)}`],
]

const timingChecks: Check[] = [
  ({ jitterMs }) =>
    isIntIn(jitterMs, 0, maxDurationMs)
      ? null
      : ['jitterMs', `must be an integer from 0 to ${maxDurationMs}, got ${jitterMs}`],
  ({ timeoutMs }) =>
    timeoutMs === null || isIntIn(timeoutMs, 1, maxDurationMs)
      ? null
      : ['timeoutMs', `must be null or an integer from 1 to ${maxDurationMs}, got ${timeoutMs}`],
  ({ maxLatenessMs }) =>
    maxLatenessMs === null || isIntIn(maxLatenessMs, 0, Number.MAX_SAFE_INTEGER)
      ? null
      : ['maxLatenessMs', `must be null or a non-negative integer, got ${maxLatenessMs}`],
  ({ createdAtMs }) =>
    isIntIn(createdAtMs, 0, Number.MAX_SAFE_INTEGER)
      ? null
      : ['createdAtMs', `must be a non-negative integer epoch ms, got ${createdAtMs}`],
  ({ priority }) => (Number.isSafeInteger(priority) ? null : ['priority', `must be an integer, got ${priority}`]),
]

/** The first problem with a definition: the error code, the field path and the reason (without the path). */
export interface DefinitionProblem {
  readonly code: string
  readonly field: string
  readonly message: string
}

/** What the checks need from the scheduler's configuration. */
export type DefinitionLimits = Pick<SchedulerConfig, 'categories' | 'maxPayloadBytes'>

/**
 * Checks one definition (not its partition): the single implementation behind both the scheduler's ingest and
 * the REST API's 400 answers, so a definition the API accepts is never dead-lettered as INVALID_DEFINITION.
 */
export function findDefinitionProblem(
  key: string,
  definition: TaskDefinition,
  limits: DefinitionLimits,
): DefinitionProblem | null {
  const problem = (field: string, message: string, code: string = SchedulerErrorCodes.definitionInvalid) => ({
    code,
    field,
    message,
  })
  if (definition.taskId !== key) return problem('taskId', `must equal the record key ${JSON.stringify(key)}`)
  const violation = ScheduleCalculator.validate(definition.schedule)
  if (violation !== null) {
    const message = violation.message.startsWith(`${violation.field} `)
      ? violation.message.slice(violation.field.length + 1)
      : violation.message
    return problem(violation.field, message, ErrorCodes.validation)
  }
  const { atMs, kind } = definition.schedule
  if (kind === 'ONE_SHOT' && atMs !== null && atMs < definition.createdAtMs) {
    // The first slot is searched after createdAtMs (schedule-driver), so this task would be stored and never fire,
    // with no occurrence saying so: refuse it instead (issue 15 fuzz finding).
    return problem(
      'schedule.atMs',
      `is ${definition.createdAtMs - atMs} ms before createdAtMs ${definition.createdAtMs}: a one-shot in the past ` +
        'never fires (use DELAY with delayMs 0 to run once now)',
      ErrorCodes.validation,
    )
  }
  if (!limits.categories.includes(definition.category)) {
    return problem(
      'category',
      `must be one of ${limits.categories.join(', ')}, got ${JSON.stringify(definition.category)}`,
    )
  }
  const payloadProblem = checkPayload(definition.payload, limits.maxPayloadBytes)
  if (payloadProblem !== null) return problem('payload', payloadProblem[1], payloadProblem[0])
  for (const check of [...policyChecks, ...retryChecks, ...timingChecks]) {
    const found = check(definition)
    if (found !== null) return problem(found[0], found[1])
  }
  return null
}

function checkPayload(payload: string, maxPayloadBytes: number): [code: string, message: string] | null {
  const bytes = Buffer.byteLength(payload, 'utf8')
  if (bytes > maxPayloadBytes) {
    return [SchedulerErrorCodes.oversized, `is ${bytes} bytes, more than ${maxPayloadBytes}`]
  }
  try {
    JSON.parse(payload)
  } catch (error) {
    return [
      SchedulerErrorCodes.definitionInvalid,
      `must be JSON text (${error instanceof Error ? error.message : String(error)})`,
    ]
  }
  return null
}

export class DefinitionValidator implements Processor<string, TaskDefinition | null, string, TaskDefinition | null> {
  readonly #config: SchedulerConfig
  readonly #ownerPartition: OwnerPartition
  #context!: ProcessorContext<string, TaskDefinition | null>

  constructor(config: SchedulerConfig, ownerPartition: OwnerPartition) {
    this.#config = config
    this.#ownerPartition = ownerPartition
  }

  init(context: ProcessorContext<string, TaskDefinition | null>): void {
    this.#context = context
  }

  process(record: StreamRecord<string, TaskDefinition | null>): void {
    this.#checkPartition(record.key)
    if (record.value !== null) this.#checkDefinition(record.key, record.value)
    this.#context.forward(record)
  }

  #checkPartition(key: string | null): void {
    if (typeof key !== 'string' || key === '') {
      throw invalidField(SchedulerErrorCodes.definitionInvalid, 'taskId', 'the record key must be the taskId')
    }
    checkOwnerPartition(key, this.#context, this.#ownerPartition)
  }

  #checkDefinition(key: string, definition: TaskDefinition): void {
    const problem = findDefinitionProblem(key, definition, this.#config)
    if (problem !== null) throw invalidField(problem.code, problem.field, problem.message, key)
  }
}
