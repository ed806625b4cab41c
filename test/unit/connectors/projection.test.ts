/**
 * The pure part of the Postgres projection: how records about one run merge (the same rules the SQL upsert
 * applies), the status of a definition, and the next fire time. Instants are fixed numbers.
 */
import { describe, expect, it } from 'vitest'
import {
  mergeRun,
  nextFireMs,
  project,
  type RunRow,
  runFromExecution,
  runFromResult,
  taskStatus,
} from '../../../connectors/projection.ts'
import { buildTaskDefinition, emptySchedule } from '../../../schemas/task-definition-builder.ts'
import type { TaskExecution } from '../../../schemas/task-execution.ts'
import type { TaskResult } from '../../../schemas/task-result.ts'

const slot = 1_796_040_000_000
const execution: TaskExecution = {
  executionId: `t:${slot}`,
  taskId: 't',
  attempt: 1,
  scheduledForMs: slot,
  dueAtMs: slot,
  firedAtMs: slot + 2,
  deadlineAtMs: slot + 10_000,
  priority: 0,
  category: 'http',
  type: 'HealthCheck',
  payload: '{}',
  trigger: 'SCHEDULE',
  definitionVersion: 3,
  labels: { team: 'a' },
  tenant: 'acme',
}
function result(status: TaskResult['status'], extra: Partial<TaskResult> = {}): TaskResult {
  return {
    executionId: `t:${slot}`,
    taskId: 't',
    attempt: 1,
    status,
    workerId: 'w1',
    startedAtMs: slot + 5,
    finishedAtMs: status === 'STARTED' ? null : slot + 50,
    durationMs: status === 'STARTED' ? null : 45,
    output: null,
    error: null,
    ...extra,
  }
}

describe('mergeRun', () => {
  it('reaches the same row wherever the execution falls among its results (another topic, any order)', () => {
    // The results of one run share a partition, so their order is fixed; the execution comes from another topic.
    const results: RunRow[] = [
      runFromResult(result('STARTED'))!,
      runFromResult(result('FAILED', { workerId: 'w2', error: { code: 'E', message: 'boom', retriable: true } }))!,
      runFromResult(result('DEAD', { workerId: null, startedAtMs: null, finishedAtMs: slot + 90, durationMs: null }))!,
    ]
    const outcomes = [0, 1, 2, 3].map((at) =>
      [...results.slice(0, at), runFromExecution(execution), ...results.slice(at)].reduce((a, b) => mergeRun(a, b)),
    )
    for (const merged of outcomes) expect(merged).toEqual(outcomes[0])
    expect(outcomes[0]).toMatchObject({
      status: 'DEAD',
      category: 'http',
      definitionVersion: 3,
      startedAtMs: slot + 5,
      worker: 'w1',
      finishedAtMs: slot + 90,
      durationMs: 45,
      errorCode: null,
    })
  })

  it('never lets a live status overwrite a terminal one, and keeps the first of two worker results', () => {
    const succeeded = runFromResult(result('SUCCEEDED'))!
    expect(mergeRun(succeeded, runFromResult(result('STARTED'))!).status).toBe('SUCCEEDED')
    expect(mergeRun(succeeded, runFromExecution(execution)).status).toBe('SUCCEEDED')
    const failed = runFromResult(result('FAILED', { error: { code: 'E', message: 'm', retriable: true } }))!
    expect(mergeRun(succeeded, failed)).toMatchObject({ status: 'SUCCEEDED', errorCode: null })
    expect(mergeRun(failed, succeeded)).toMatchObject({ status: 'FAILED', errorCode: 'E' })
  })

  it('ignores a result status newer than this reader (UNKNOWN) and counts it as skipped', () => {
    expect(runFromResult(result('UNKNOWN'))).toBeUndefined()
    const batch = project([
      { topic: 'r', partition: 0, offset: 0n, timestampMs: 0, value: { kind: 'result', value: result('UNKNOWN') } },
    ])
    expect(batch.runs.size).toBe(0)
    expect(batch.skipped).toBe(1)
  })
})

describe('tasks', () => {
  const definition = buildTaskDefinition({
    taskId: 'd',
    category: 'http',
    type: 'x',
    createdAtMs: slot,
    schedule: { ...emptySchedule, kind: 'INTERVAL', everyMs: 60_000 },
  })

  it('says ACTIVE, PAUSED, INVALID (a schedule the scheduler refuses) or DELETED (a tombstone)', () => {
    expect(taskStatus(definition)).toBe('ACTIVE')
    expect(taskStatus({ ...definition, paused: true })).toBe('PAUSED')
    expect(taskStatus({ ...definition, schedule: { ...emptySchedule, kind: 'CRON', cron: '61 * * * * *' } })).toBe(
      'INVALID',
    )
    expect(taskStatus(null)).toBe('DELETED')
  })

  it('puts the next fire at the first slot after the latest occurrence, and none when not active', () => {
    expect(nextFireMs('ACTIVE', definition, null)).toBe(slot)
    expect(nextFireMs('ACTIVE', definition, slot + 120_000)).toBe(slot + 180_000)
    expect(nextFireMs('PAUSED', definition, slot)).toBeNull()
    const oneShot = { ...definition, schedule: { ...emptySchedule, kind: 'ONE_SHOT' as const, atMs: slot + 5 } }
    expect(nextFireMs('ACTIVE', oneShot, null)).toBe(slot + 5)
    expect(nextFireMs('ACTIVE', oneShot, slot + 5)).toBeNull()
  })
})
