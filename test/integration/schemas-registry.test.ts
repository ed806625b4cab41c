/**
 * The schemas layer against the real Schema Registry (Apicurio's Confluent API): registration, the wire format
 * round trip, writer → reader resolution across registered versions, and the error codes a consumer classifies
 * for the dead-letter topic. Every test uses its own subject.
 */
import { randomUUID } from 'node:crypto'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, FlextaskError } from '../../errors.ts'
import { AvroSerde } from '../../schemas/avro-serde.ts'
import type { RecordSchema } from '../../schemas/load-avsc.ts'
import { RegistryClient } from '../../schemas/registry-client.ts'
import { emptySchedule } from '../../schemas/task-definition-builder.ts'
import { taskDefinitionSchema, type TaskDefinition } from '../../schemas/task-definition.ts'
import { taskResultSchema, type TaskResult } from '../../schemas/task-result.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'

const registry = new RegistryClient(schemaRegistryUrl)
const uniqueSubject = (): string => `test-${randomUUID()}-value`

const definition: TaskDefinition = {
  taskId: 'nightly-report',
  name: 'Nightly report',
  category: 'email',
  type: 'request',
  payload: '{"to":"ops@example.test"}',
  schedule: { ...emptySchedule, kind: 'CRON', cron: '0 0 2 * * *', timezone: 'America/New_York' },
  priority: 1,
  misfirePolicy: 'SKIP',
  maxLatenessMs: 60_000,
  overlapPolicy: 'SKIP',
  jitterMs: 0,
  timeoutMs: 600_000,
  retry: { maxAttempts: 3, backoffBaseMs: 1000, backoffFactor: 2, backoffMaxMs: 300_000, jitterRatio: 0.1 },
  paused: false,
  labels: { owner: 'ops' },
  tenant: 'acme',
  createdAtMs: 1_780_000_000_000,
  updatedAtMs: 1_780_000_000_000,
  version: 1,
}

function framed(id: number, body: Buffer): Buffer {
  const header = Buffer.from([0, 0, 0, 0, 0])
  header.writeInt32BE(id, 1)
  return Buffer.concat([header, body])
}

async function rejection(promise: Promise<unknown>): Promise<FlextaskError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(FlextaskError)
  return error as FlextaskError
}

describe('schemas against the real Schema Registry', () => {
  it('registers a schema under a stable id and sets the subject to BACKWARD_TRANSITIVE', async () => {
    const subject = uniqueSubject()
    const serde = new AvroSerde<TaskDefinition>(subject, taskDefinitionSchema, registry)
    const id = await serde.init()
    expect(await registry.register(subject, taskDefinitionSchema)).toBe(id)
    expect(await new AvroSerde<TaskDefinition>(subject, taskDefinitionSchema, registry).init()).toBe(id)
    expect(await registry.getCompatibility(subject)).toBe('BACKWARD_TRANSITIVE')
    const latest = await registry.getLatest(subject)
    expect(latest.id).toBe(id)
    expect(latest.schema).toEqual(taskDefinitionSchema)
    expect(await registry.getSchemaById(id)).toEqual(taskDefinitionSchema)
  })

  it('round-trips a TaskDefinition through the Confluent wire format', async () => {
    const serde = new AvroSerde<TaskDefinition>(uniqueSubject(), taskDefinitionSchema, registry)
    await serde.init()
    const bytes = serde.serialize(definition)
    expect(bytes[0]).toBe(0)
    expect(bytes.readInt32BE(1)).toBe(serde.schemaId)
    const reader = new AvroSerde<TaskDefinition>(`${randomUUID()}-value`, taskDefinitionSchema, registry)
    expect(await reader.deserialize(bytes)).toEqual(definition)
  })

  it('round-trips a TaskResult with a nested error record', async () => {
    const serde = new AvroSerde<TaskResult>(uniqueSubject(), taskResultSchema, registry)
    await serde.init()
    const result: TaskResult = {
      executionId: 'nightly-report:1780000000000',
      taskId: 'nightly-report',
      attempt: 1,
      status: 'FAILED',
      workerId: 'w-1',
      startedAtMs: 1_780_000_000_100,
      finishedAtMs: 1_780_000_000_900,
      durationMs: 800,
      output: null,
      error: { code: 'SMTP_DOWN', message: 'connection refused', retriable: true },
    }
    expect(await serde.deserialize(serde.serialize(result))).toEqual(result)
  })

  it('reads a value written by an older schema of the subject with the current defaults', async () => {
    const subject = uniqueSubject()
    const older: RecordSchema = {
      ...taskDefinitionSchema,
      fields: taskDefinitionSchema.fields.filter((field) => field.name !== 'tenant' && field.name !== 'labels'),
    }
    await registry.setCompatibility(subject, 'BACKWARD_TRANSITIVE')
    const olderId = await registry.register(subject, older)
    const serde = new AvroSerde<TaskDefinition>(subject, taskDefinitionSchema, registry)
    const currentId = await serde.init()
    expect(currentId).not.toBe(olderId)

    const bytes = framed(olderId, avro.Type.forSchema(older).toBuffer(definition))
    expect(await serde.deserialize(bytes)).toEqual({ ...definition, tenant: null, labels: {} })
  })

  it('rejects garbage bytes as undecodable', async () => {
    const serde = new AvroSerde<TaskDefinition>(uniqueSubject(), taskDefinitionSchema, registry)
    const id = await serde.init()
    for (const garbage of [Buffer.from('{"taskId":"t"}'), Buffer.from([0, 0]), framed(id, Buffer.from([0xff, 0xff]))]) {
      const error = await rejection(serde.deserialize(garbage))
      expect(error).toMatchObject({ code: ErrorCodes.serdeDecode, retriable: false })
    }
  })

  it('rejects a schema id the registry does not know as an unknown schema', async () => {
    const serde = new AvroSerde<TaskDefinition>(uniqueSubject(), taskDefinitionSchema, registry)
    await serde.init()
    const error = await rejection(serde.deserialize(framed(999_999, Buffer.from([2, 0x61]))))
    expect(error).toMatchObject({ code: ErrorCodes.serdeUnknownSchema, retriable: false })
  })

  it('reports a schema that adds a field without a default as incompatible, and refuses to register it', async () => {
    const subject = uniqueSubject()
    await new AvroSerde<TaskDefinition>(subject, taskDefinitionSchema, registry).init()
    const compatible: RecordSchema = {
      ...taskDefinitionSchema,
      fields: [...taskDefinitionSchema.fields, { name: 'ownerId', type: ['null', 'string'], default: null }],
    }
    const incompatible: RecordSchema = {
      ...taskDefinitionSchema,
      fields: [...taskDefinitionSchema.fields, { name: 'ownerId', type: 'string' }],
    }
    expect(await registry.checkCompatibility(subject, compatible)).toBe(true)
    expect(await registry.checkCompatibility(subject, incompatible)).toBe(false)
    const error = await rejection(registry.register(subject, incompatible))
    expect(error).toMatchObject({ code: ErrorCodes.registry, retriable: false, context: { status: 409 } })
  })

  it('reports an unreachable registry as a retriable registry error', async () => {
    const unreachable = new RegistryClient('http://127.0.0.1:9/apis/ccompat/v7', { requestTimeoutMs: 2_000 })
    const error = await rejection(unreachable.getSchemaById(1))
    expect(error).toMatchObject({ code: ErrorCodes.registry, retriable: true })
  })
})
