/**
 * AvroSerde against an in-memory registry: framing, validation messages, writer → reader resolution, caching and
 * error codes. The same serde against the real registry is in test/integration/schemas-registry.test.ts.
 */
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, FlextaskError } from '../../../errors.ts'
import { AvroSerde } from '../../../schemas/avro-serde.ts'
import { schemaText } from '../../../schemas/registry-client.ts'
import { taskDefinitionSchema, type TaskDefinition } from '../../../schemas/task-definition.ts'
import { MemoryRegistry } from '../../helpers/memory-registry.ts'
import { taskDefinitionFull } from './samples.ts'

async function setup() {
  const registry = new MemoryRegistry()
  const serde = new AvroSerde<TaskDefinition>('flextask.task-definitions-value', taskDefinitionSchema, registry)
  await serde.init()
  return { registry, serde }
}

async function rejection(promise: Promise<unknown>): Promise<FlextaskError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(FlextaskError)
  return error as FlextaskError
}

describe('AvroSerde', () => {
  it('sets the subject to BACKWARD_TRANSITIVE and keeps its id across repeated init', async () => {
    const { registry, serde } = await setup()
    const id = serde.schemaId
    expect(await serde.init()).toBe(id)
    expect(registry.levels.get('flextask.task-definitions-value')).toBe('BACKWARD_TRANSITIVE')
    expect(registry.registrations).toBe(1)
  })

  it('writes the Confluent wire format: magic byte, big-endian schema id, Avro body', async () => {
    const { serde } = await setup()
    const bytes = serde.serialize(taskDefinitionFull)
    expect(bytes[0]).toBe(0)
    expect(bytes.readInt32BE(1)).toBe(serde.schemaId)
    expect(avro.Type.forSchema(taskDefinitionSchema).fromBuffer(bytes.subarray(5))).toEqual(taskDefinitionFull)
    expect(await serde.deserialize(bytes)).toEqual(taskDefinitionFull)
  })

  it('refuses to serialize before init', () => {
    const serde = new AvroSerde<TaskDefinition>('s-value', taskDefinitionSchema, new MemoryRegistry())
    expect(() => serde.serialize(taskDefinitionFull)).toThrow(expect.objectContaining({ code: ErrorCodes.serdeEncode }))
  })

  it('names the path of every invalid field when a value does not match the schema', async () => {
    const { serde } = await setup()
    const invalid = {
      ...taskDefinitionFull,
      schedule: { ...taskDefinitionFull.schedule, kind: 'HOURLY', everyMs: 1.5 },
      labels: { team: 7 },
    } as unknown as TaskDefinition
    let thrown: unknown
    try {
      serde.serialize(invalid)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({
      code: ErrorCodes.serdeEncode,
      retriable: false,
      context: { field: 'schedule.kind' },
    })
    const message = (thrown as Error).message
    expect(message).toContain('schedule.kind: "HOURLY" is not one of CRON, INTERVAL, ONE_SHOT, DELAY')
    expect(message).toContain('schedule.everyMs: 1.5 is not long')
    expect(message).toContain('labels.team: 7 is not string')
  })

  it('refuses an int outside int32 and a long past 2^53 on write, as the bounds check does on read', async () => {
    const { serde } = await setup()
    for (const invalid of [
      { ...taskDefinitionFull, priority: 2 ** 31 },
      { ...taskDefinitionFull, createdAtMs: 2 ** 53 + 2 },
      { ...taskDefinitionFull, jitterMs: 0.5 },
    ]) {
      expect(() => serde.serialize(invalid)).toThrow(expect.objectContaining({ code: ErrorCodes.serdeEncode }))
    }
  })

  it('writes values larger than its scratch buffer, and small ones after them, intact', async () => {
    const { serde } = await setup()
    const large = { ...taskDefinitionFull, payload: JSON.stringify({ blob: 'é'.repeat(300_000) }) }
    expect(await serde.deserialize(serde.serialize(large))).toEqual(large)
    expect(await serde.deserialize(serde.serialize(taskDefinitionFull))).toEqual(taskDefinitionFull)
    expect(await serde.deserialize(serde.serialize(large))).toEqual(large)
  })

  it('reads a value written with an older registered schema, filling defaults', async () => {
    const { registry, serde } = await setup()
    const older = { ...taskDefinitionSchema, fields: taskDefinitionSchema.fields.filter((f) => f.name !== 'tenant') }
    const olderId = await registry.register('flextask.task-definitions-value', older)
    const body = avro.Type.forSchema(older).toBuffer({ ...taskDefinitionFull, tenant: undefined })
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body])
    bytes.writeInt32BE(olderId, 1)
    expect(await serde.deserialize(bytes)).toEqual({ ...taskDefinitionFull, tenant: null })
  })

  it('fetches each writer schema from the registry once', async () => {
    const { registry, serde } = await setup()
    const older = { ...taskDefinitionSchema, fields: taskDefinitionSchema.fields.filter((f) => f.name !== 'labels') }
    const olderId = await registry.register('s', older)
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), avro.Type.forSchema(older).toBuffer(taskDefinitionFull)])
    bytes.writeInt32BE(olderId, 1)
    await Promise.all([serde.deserialize(bytes), serde.deserialize(bytes)])
    await serde.deserialize(bytes)
    await serde.deserialize(serde.serialize(taskDefinitionFull))
    expect(registry.lookups).toBe(1)
  })

  it.each([
    { case: 'an empty buffer', bytes: Buffer.alloc(0) },
    { case: 'a buffer shorter than the header', bytes: Buffer.from([0, 0, 0]) },
    { case: 'a wrong magic byte', bytes: Buffer.from([1, 0, 0, 0, 100, 2]) },
  ])('rejects $case as undecodable', async ({ bytes }) => {
    const { serde } = await setup()
    const error = await rejection(serde.deserialize(bytes))
    expect(error).toMatchObject({ code: ErrorCodes.serdeDecode, retriable: false })
  })

  it('rejects a truncated or over-long body as undecodable', async () => {
    const { serde } = await setup()
    const bytes = serde.serialize(taskDefinitionFull)
    for (const broken of [bytes.subarray(0, bytes.length - 3), Buffer.concat([bytes, Buffer.from([1, 2])])]) {
      const error = await rejection(serde.deserialize(broken))
      expect(error).toMatchObject({
        code: ErrorCodes.serdeDecode,
        retriable: false,
        context: { schemaId: serde.schemaId },
      })
    }
  })

  it('rejects a map whose block count cannot fit the bytes left at once, where avsc would loop for minutes', async () => {
    const { serde } = await setup()
    const bytes = serde.serialize({ ...taskDefinitionFull, labels: { zz: 'yy' } })
    // The labels map's one block: count 1 (zigzag 0x02), then the key "zz" (length 2 → 0x04).
    const at = bytes.indexOf(Buffer.from([0x02, 0x04, 0x7a, 0x7a]))
    expect(at).toBeGreaterThan(0)
    // Count 2^52 − 1 instead of 1, as a bit-flipped record can carry; avsc trusts it and iterates that often.
    const huge = Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])
    const broken = Buffer.concat([bytes.subarray(0, at), huge, bytes.subarray(at + 1)])
    const started = performance.now()
    const error = await rejection(serde.deserialize(broken))
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(error).toMatchObject({ code: ErrorCodes.serdeDecode, retriable: false })
    expect(error.message).toMatch(/map of \d+ items/)
    expect(await serde.deserialize(bytes)).toMatchObject({ labels: { zz: 'yy' } })
  })

  it('rejects a schema id the registry does not know as an unknown schema, not retriable', async () => {
    const { serde } = await setup()
    const error = await rejection(serde.deserialize(Buffer.from([0, 0, 0x0f, 0x42, 0x3f, 2])))
    expect(error).toMatchObject({
      code: ErrorCodes.serdeUnknownSchema,
      retriable: false,
      context: { schemaId: 999_999 },
    })
  })

  it('rejects a writer schema the reader cannot resolve as undecodable', async () => {
    const { registry, serde } = await setup()
    const otherId = await registry.register('other-value', { type: 'record', name: 'Other', fields: [] })
    const bytes = Buffer.from([0, 0, 0, 0, 0])
    bytes.writeInt32BE(otherId, 1)
    const error = await rejection(serde.deserialize(bytes))
    expect(error).toMatchObject({ code: ErrorCodes.serdeDecode, retriable: false })
    expect(error.message).toContain(`writer schema id ${otherId}`)
  })

  it('passes a transient registry failure on as retriable and succeeds on the next call', async () => {
    const { registry, serde } = await setup()
    const older = { ...taskDefinitionSchema, fields: taskDefinitionSchema.fields.filter((f) => f.name !== 'tenant') }
    const olderId = await registry.register('s', older)
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), avro.Type.forSchema(older).toBuffer(taskDefinitionFull)])
    bytes.writeInt32BE(olderId, 1)
    registry.failNext = 503
    const error = await rejection(serde.deserialize(bytes))
    expect(error).toMatchObject({ code: ErrorCodes.registry, retriable: true })
    expect(await serde.deserialize(bytes)).toEqual({ ...taskDefinitionFull, tenant: null })
  })
})

describe('schemaText', () => {
  it('escapes a "{}" string so Apicurio does not rewrite it, without changing the schema', () => {
    const text = schemaText(taskDefinitionSchema)
    expect(text).not.toContain('"{}"')
    expect(JSON.parse(text)).toEqual(taskDefinitionSchema)
  })
})
