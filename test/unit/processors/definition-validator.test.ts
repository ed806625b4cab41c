/**
 * DefinitionValidator on its own, with a context that captures forwards: closed sets (misfire and overlap policy,
 * the fall-back rule) reject a value outside the Avro enum with the field named, even though Avro decoding would
 * have mapped an unknown symbol to the enum's default.
 */
import { describe, expect, it } from 'vitest'
import { DefinitionValidator } from '../../../processors/definition-validator.ts'
import { defaultSchedulerConfig } from '../../../processors/task-state.ts'
import type { TaskDefinition } from '../../../schemas/task-definition.ts'
import { buildTaskDefinition } from '../../../schemas/task-definition-builder.ts'
import type { ProcessorContext, StreamRecord } from '../../../topology/api.ts'
import { ManualClock } from '../../../topology/clocks.ts'

function validator(): { validator: DefinitionValidator; forwarded: StreamRecord<string, TaskDefinition | null>[] } {
  const forwarded: StreamRecord<string, TaskDefinition | null>[] = []
  const context = {
    applicationId: 'test',
    partition: 0,
    partitionCount: 1,
    clock: new ManualClock(0),
    recordMetadata: undefined,
    forward: (record: StreamRecord<string, TaskDefinition | null>) => forwarded.push(record),
  } as unknown as ProcessorContext<string, TaskDefinition | null>
  const processor = new DefinitionValidator({ ...defaultSchedulerConfig, categories: ['http'] }, () => 0)
  processor.init(context)
  return { validator: processor, forwarded }
}

const valid = buildTaskDefinition({
  taskId: 't',
  category: 'http',
  type: 'HealthCheck',
  createdAtMs: 0,
  schedule: { kind: 'CRON', cron: '0 * * * * *' },
})

function record(value: TaskDefinition): StreamRecord<string, TaskDefinition | null> {
  return { key: value.taskId, value, timestampMs: 0 }
}

describe('DefinitionValidator: closed sets', () => {
  it('forwards a definition whose policies are symbols of the schema', () => {
    const { validator: v, forwarded } = validator()
    v.process(record(valid))
    expect(forwarded).toHaveLength(1)
  })

  it.each([
    [
      'misfirePolicy',
      { misfirePolicy: 'NEVER' },
      /^misfirePolicy: must be one of FIRE_ALL, FIRE_LAST, SKIP, got "NEVER"/,
    ],
    ['overlapPolicy', { overlapPolicy: 'QUEUE' }, /^overlapPolicy: must be one of SKIP, BUFFER_ONE, ALLOW_ALL/],
    [
      'schedule.fallBackRepeat',
      { schedule: { ...valid.schedule, fallBackRepeat: 'TWICE' } },
      /^schedule\.fallBackRepeat: must be one of BY_PATTERN, FIRST_PASS_ONLY, BOTH_PASSES/,
    ],
  ])('rejects an unknown %s, naming the field', (field, overrides, message) => {
    const { validator: v, forwarded } = validator()
    const invalid = { ...valid, ...overrides } as unknown as TaskDefinition
    let thrown: unknown
    try {
      v.process(record(invalid))
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({ context: { field } })
    expect((thrown as Error).message).toMatch(message)
    expect(forwarded).toEqual([])
  })
})
