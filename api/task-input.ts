/**
 * From a request body to a TaskDefinition, and the definition back to what reads show. The rules of a valid
 * definition are the scheduler's (findDefinitionProblem): the API answers 400 with the field the scheduler would
 * dead-letter it for, so nothing the API accepts is ever dead-lettered as INVALID_DEFINITION.
 */
import { findDefinitionProblem, type DefinitionLimits } from '../processors/definition-validator.ts'
import { emptySchedule } from '../schemas/task-definition-builder.ts'
import type { TaskDefinition } from '../schemas/task-definition.ts'
import type { UpdateTaskBody } from './api-schemas.ts'
import { ApiErrorCodes, apiError } from './problems.ts'
import type { TaskView } from './read-model.ts'
import { redactPayloadText } from './redact.ts'

const defaultRetry = { maxAttempts: 1, backoffBaseMs: 1000, backoffFactor: 2, backoffMaxMs: 300_000, jitterRatio: 0 }

/**
 * The definition a create (previous = undefined) or an update produces. An update keeps createdAtMs and raises
 * the version; fields left out of an update take their defaults (PUT replaces the definition).
 */
export function definitionFromInput(
  taskId: string,
  input: UpdateTaskBody,
  nowMs: number,
  previous?: TaskDefinition,
): TaskDefinition {
  return {
    taskId,
    name: input.name ?? taskId,
    category: input.category,
    type: input.type,
    payload: input.payload === undefined ? '{}' : payloadText(input.payload),
    schedule: {
      ...emptySchedule,
      ...Object.fromEntries(Object.entries(input.schedule).filter(([, v]) => v !== undefined)),
    },
    priority: input.priority ?? 0,
    misfirePolicy: input.misfirePolicy ?? 'FIRE_LAST',
    maxLatenessMs: input.maxLatenessMs ?? null,
    overlapPolicy: input.overlapPolicy ?? 'ALLOW_ALL',
    jitterMs: input.jitterMs ?? 0,
    timeoutMs: input.timeoutMs ?? null,
    retry: {
      ...defaultRetry,
      ...Object.fromEntries(Object.entries(input.retry ?? {}).filter(([, v]) => v !== undefined)),
    },
    paused: input.paused ?? false,
    labels: input.labels ?? {},
    tenant: input.tenant ?? null,
    createdAtMs: previous?.createdAtMs ?? nowMs,
    updatedAtMs: nowMs,
    version: (previous?.version ?? 0) + 1,
  }
}

/** Deepest payload nesting accepted: JSON.stringify (here, and in every reader) recurses once per level. */
export const maxPayloadDepth = 100

/**
 * The payload as JSON text; 400 naming `payload` when it nests deeper than maxPayloadDepth. A body parses at any
 * depth, but stringifying 10,000 levels overflows the stack: a 500 before (found by the API fuzz, issue 15).
 */
function payloadText(payload: unknown): string {
  checkPayloadDepth(payload)
  return JSON.stringify(payload)
}

/** Throws a 400 naming `payload` when it nests deeper than maxPayloadDepth; iterative, so any depth is safe. */
export function checkPayloadDepth(payload: unknown): void {
  let level: unknown[] = [payload]
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > maxPayloadDepth) {
      throw apiError(ApiErrorCodes.requestInvalid, `payload: nests deeper than ${maxPayloadDepth} levels`, 'payload')
    }
    level = level.flatMap((v): unknown[] => (typeof v === 'object' && v !== null ? Object.values(v) : []))
  }
}

/** Throws the 400 the scheduler's validator implies, naming the field. */
export function assertValidDefinition(definition: TaskDefinition, limits: DefinitionLimits): void {
  const problem = findDefinitionProblem(definition.taskId, definition, limits)
  if (problem !== null) throw apiError(problem.code, `${problem.field}: ${problem.message}`, problem.field)
}

/** Whether two definitions say the same thing (ignoring when they were written and their version). */
export function sameDefinition(a: TaskDefinition, b: TaskDefinition): boolean {
  const strip = ({ createdAtMs: _c, updatedAtMs: _u, version: _v, ...rest }: TaskDefinition) => rest
  return JSON.stringify(sortKeys(strip(a))) === JSON.stringify(sortKeys(strip(b)))
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, sortKeys(v)]),
  )
}

/** A task as reads show it: the payload parsed and its secrets redacted. */
export type PublicTask = Omit<TaskView, 'definition'> & { definition: Record<string, unknown> | null }

export function publicTask(task: TaskView): PublicTask {
  const definition =
    task.definition === null
      ? null
      : { ...task.definition, payload: redactPayloadText(task.definition.payload, task.definition.labels) }
  return { ...task, definition }
}
