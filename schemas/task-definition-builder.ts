/**
 * Builds a complete TaskDefinition from the fields a caller cares about, with the schema's defaults for the
 * rest (the same defaults a reader applies to an older writer's records). Used by the CLI demo, the API and
 * tests; external producers may send any subset the Avro defaults cover.
 */
import type { ScheduleSpec, TaskDefinition } from './task-definition.ts'

export const emptySchedule: ScheduleSpec = {
  kind: 'ONE_SHOT',
  cron: null,
  timezone: 'UTC',
  everyMs: null,
  atMs: null,
  delayMs: null,
  startAtMs: null,
  endAtMs: null,
  phaseMs: 0,
  maxRuns: null,
  fallBackRepeat: 'BY_PATTERN',
}

export function buildTaskDefinition(
  fields: Pick<TaskDefinition, 'taskId' | 'category' | 'type' | 'createdAtMs'> & {
    schedule: Partial<ScheduleSpec> & Pick<ScheduleSpec, 'kind'>
  } & Partial<Omit<TaskDefinition, 'schedule'>>,
): TaskDefinition {
  return {
    name: fields.taskId,
    payload: '{}',
    priority: 0,
    misfirePolicy: 'FIRE_LAST',
    maxLatenessMs: null,
    overlapPolicy: 'ALLOW_ALL',
    jitterMs: 0,
    timeoutMs: null,
    retry: { maxAttempts: 1, backoffBaseMs: 1000, backoffFactor: 2, backoffMaxMs: 300_000, jitterRatio: 0 },
    paused: false,
    labels: {},
    tenant: null,
    updatedAtMs: fields.createdAtMs,
    version: 1,
    ...fields,
    schedule: { ...emptySchedule, ...fields.schedule },
  }
}
