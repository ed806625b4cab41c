/**
 * The BACKWARD_TRANSITIVE guarantee, checked without a registry: every released .avsc version of every schema is
 * readable by the current reader, and the hand-written TS types agree with the .avsc files.
 */
import { readdirSync } from 'node:fs'
import avro from 'avsc'
import type { Type } from 'avsc'
import { describe, expect, it } from 'vitest'
import { DeadLetterReasons, deadLetterSchema } from '../../../schemas/dead-letter.ts'
import { latestVersion, type RecordSchema } from '../../../schemas/load-avsc.ts'
import { taskCommandSchema } from '../../../schemas/task-command.ts'
import { taskDefinitionSchema, taskDefinitionVersions, type TaskDefinition } from '../../../schemas/task-definition.ts'
import { schemaCases, taskDefinitionFull } from './samples.ts'

const kebab = (name: string): string => name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()

/** The record type of a field, looking through a nullable union; undefined when the field is not a record. */
function recordOf(type: Type): avro.types.RecordType | undefined {
  if (avro.Type.isType(type, 'record')) return type as avro.types.RecordType
  if (avro.Type.isType(type, 'union')) {
    return (type as avro.types.UnwrappedUnionType).types.map(recordOf).find((record) => record !== undefined)
  }
  return undefined
}

/** Asserts the value has exactly the schema's fields, recursing into nested records. */
function expectSameFields(value: Record<string, unknown>, type: avro.types.RecordType, path: string): void {
  expect(Object.keys(value).sort(), path).toEqual(type.fields.map((field) => field.name).sort())
  for (const field of type.fields) {
    const nested = recordOf(field.type)
    const fieldValue = value[field.name]
    if (nested !== undefined && fieldValue !== null && typeof fieldValue === 'object') {
      expectSameFields(fieldValue as Record<string, unknown>, nested, `${path}.${field.name}`)
    }
  }
}

/** Every enum of a schema by simple name, with its symbols and default. */
function enumsOf(schema: unknown, found = new Map<string, { symbols: string[]; default?: string }>()) {
  if (Array.isArray(schema)) for (const item of schema) enumsOf(item, found)
  else if (typeof schema === 'object' && schema !== null) {
    const node = schema as Record<string, unknown>
    if (node.type === 'enum') found.set(node.name as string, node as { symbols: string[]; default?: string })
    for (const value of Object.values(node)) enumsOf(value, found)
  }
  return found
}

describe.each(schemaCases)('$name', ({ name, versions, full, sparse, enums }) => {
  const current = latestVersion(versions)
  const reader = avro.Type.forSchema(current.schema)

  it('lists its released versions in order, each in its own .v<N>.avsc file', () => {
    expect(versions.map((version) => version.version)).toEqual(versions.map((_, index) => index + 1))
    for (const version of versions) {
      expect(version.file).toBe(`${kebab(name)}.v${version.version}.avsc`)
      expect(version.schema.name).toBe(name)
      expect(version.schema.namespace).toBe('dev.flextask')
    }
  })

  it.each(versions.map((version) => ({ ...version })))(
    'reads values written with released version $version',
    ({ schema }) => {
      const writer = avro.Type.forSchema(schema)
      const resolver = reader.createResolver(writer)
      for (let i = 0; i < 50; i++) {
        const written: unknown = writer.random()
        const decoded: unknown = reader.fromBuffer(writer.toBuffer(written), resolver)
        expect(reader.isValid(decoded)).toBe(true)
      }
    },
  )

  it('round-trips a value with every nullable field set', () => {
    expect(reader.isValid(full)).toBe(true)
    expect(reader.fromBuffer(reader.toBuffer(full))).toEqual(full)
  })

  it('round-trips a value with every nullable field null', () => {
    expect(reader.isValid(sparse)).toBe(true)
    expect(reader.fromBuffer(reader.toBuffer(sparse))).toEqual(sparse)
  })

  it('has a TS type with exactly the fields of the schema', () => {
    expectSameFields(full as Record<string, unknown>, reader as avro.types.RecordType, name)
  })

  it('mirrors every Avro enum in a TS tuple and gives each enum a default symbol', () => {
    const schemaEnums = enumsOf(current.schema)
    expect([...schemaEnums.keys()].sort()).toEqual(Object.keys(enums).sort())
    for (const [enumName, { symbols, default: fallback }] of schemaEnums) {
      expect(enums[enumName], enumName).toEqual(symbols)
      expect(symbols, enumName).toContain(fallback)
    }
  })

  it('gives every nullable field a null default', () => {
    for (const field of current.schema.fields) {
      if (Array.isArray(field.type) && field.type.includes('null')) expect(field.default, field.name).toBeNull()
    }
  })
})

describe('schema evolution', () => {
  const reader = avro.Type.forSchema(taskDefinitionSchema)

  it('has a listed version for every .avsc file in schemas/', () => {
    const files = readdirSync(new URL('../../../schemas/', import.meta.url)).filter((file) => file.endsWith('.avsc'))
    const listed = schemaCases.flatMap(({ versions }) => versions.map((version) => version.file))
    expect(files.sort()).toEqual(listed.sort())
  })

  it('fills the defaults of fields an older writer did not have', () => {
    const defaulted = new Set(['payload', 'priority', 'retry', 'labels', 'tenant', 'version', 'misfirePolicy'])
    const older: RecordSchema = {
      ...taskDefinitionSchema,
      fields: taskDefinitionSchema.fields.filter((field) => !defaulted.has(field.name)),
    }
    const writer = avro.Type.forSchema(older)
    const written = Object.fromEntries(
      older.fields.map((field) => [field.name, taskDefinitionFull[field.name as 'name']]),
    )
    const decoded = reader.fromBuffer(writer.toBuffer(written), reader.createResolver(writer))
    expect(decoded).toEqual({
      ...taskDefinitionFull,
      payload: '{}',
      priority: 0,
      retry: { maxAttempts: 1, backoffBaseMs: 1000, backoffFactor: 2, backoffMaxMs: 300_000, jitterRatio: 0 },
      labels: {},
      tenant: null,
      version: 1,
      misfirePolicy: 'FIRE_LAST',
    })
  })

  it('reads a version-1 definition with schedule.fallBackRepeat BY_PATTERN, the rule by pattern', () => {
    const [v1] = taskDefinitionVersions
    const writer = avro.Type.forSchema(v1!.schema)
    const { fallBackRepeat: _dropped, ...scheduleV1 } = taskDefinitionFull.schedule
    const written = writer.toBuffer({ ...taskDefinitionFull, schedule: scheduleV1 })
    const decoded = reader.fromBuffer(written, reader.createResolver(writer)) as TaskDefinition
    expect(decoded.schedule).toEqual({ ...taskDefinitionFull.schedule, fallBackRepeat: 'BY_PATTERN' })
  })

  it('documents maxLatenessMs as it is applied: null is the scheduler default, never no limit', () => {
    const doc = taskDefinitionSchema.fields.find((field) => field.name === 'maxLatenessMs')?.doc ?? ''
    expect(doc).toMatch(/null means the scheduler default \(60000 ms/)
    expect(doc).not.toMatch(/null means no limit/)
  })

  it('reads an enum symbol newer than the reader as the default symbol', () => {
    const newer = structuredClone(taskCommandSchema) as RecordSchema & { fields: { type: unknown }[] }
    const kind = newer.fields.find((field) => field.name === 'kind')!.type as { symbols: string[] }
    kind.symbols = [...kind.symbols, 'SNOOZE']
    const writer = avro.Type.forSchema(newer)
    const reader = avro.Type.forSchema(taskCommandSchema)
    const command = {
      commandId: 'c',
      taskId: 't',
      kind: 'SNOOZE',
      executionId: null,
      requestedAtMs: 1,
      requestedBy: null,
    }
    expect(reader.fromBuffer(writer.toBuffer(command), reader.createResolver(writer))).toMatchObject({
      kind: 'UNKNOWN',
    })
  })

  it('refuses an older writer when the reader adds a field without a default', () => {
    const broken: RecordSchema = {
      ...taskDefinitionSchema,
      fields: [...taskDefinitionSchema.fields, { name: 'ownerId', type: 'string' }],
    }
    const writer = avro.Type.forSchema(taskDefinitionSchema)
    expect(() => avro.Type.forSchema(broken).createResolver(writer)).toThrow(/ownerId/)
  })

  it('documents every dead-letter reason code flextask writes', () => {
    const doc = deadLetterSchema.fields.find((field) => field.name === 'reasonCode')?.doc ?? ''
    for (const reason of DeadLetterReasons) expect(doc).toContain(reason)
  })
})
