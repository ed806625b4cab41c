/**
 * The definitions contract from the outside (ARCHITECTURE.md, "The contract"): another system writes
 * TaskDefinitions with its own stack (kafkajs and @kafkajs/confluent-schema-registry, no flextask code), and the
 * scheduler, running in-process on the real broker and registry, fires them. A definition that system puts on
 * a partition other than the Java murmur2 one is dead-lettered as WRONG_PARTITION, never scheduled. What the README
 * tells such producers is pinned too: register() needs compatibility BACKWARD_TRANSITIVE on our subjects, and the
 * compacted definitions topic refuses a record without a key.
 */
import { readFileSync } from 'node:fs'
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { Kafka, logLevel, Partitioners, type Producer as KafkajsProducer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Scheduler } from '../../scheduler/scheduler.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { type CollectedRecord, kafkaBrokers, testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'
import { decodeAll, startTestScheduler, taskDefinition } from '../helpers/scheduler.ts'

const partitions = 3
const prefix = uniqueName('interop')
const topics = topicNames(prefix)
const subject = `${topics.definitions}-value`
const { admin } = testAdmin()
const cleanups: (() => Promise<unknown>)[] = []
let app: Scheduler
let out: { records: CollectedRecord[]; close: () => Promise<void> }
let producer: KafkajsProducer
let registry: SchemaRegistry

beforeAll(async () => {
  ;({ app, out } = await startTestScheduler({
    admin,
    prefix,
    partitions,
    instanceId: uniqueName('interop-scheduler'),
    collectTopics: [topics.executions('http'), topics.deadLetter],
  }))
  const kafka = new Kafka({ clientId: uniqueName('other-system'), brokers: kafkaBrokers, logLevel: logLevel.ERROR })
  // kafkajs 2's default partitioner is the Java client's murmur2 one; naming it only silences its warning.
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  cleanups.push(() => producer.disconnect())
  registry = new SchemaRegistry({ host: schemaRegistryUrl })
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})

/**
 * Registers the released .avsc text as another system would. Why the escape: Apicurio 3.x rewrites `: "{}"` to
 * `:{}` before parsing Avro content (AvroContentAccepter.removeQuotedBrackets), which breaks the string default
 * "{}" of `payload`; `"\u007b}"` is the same JSON string and escapes that rewrite (see schemaText() in
 * schemas/registry-client.ts).
 */
async function registerDefinitionSchema(): Promise<number> {
  const text = readFileSync(new URL('../../schemas/task-definition.v1.avsc', import.meta.url), 'utf8')
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: text.replaceAll('"{}"', '"\\u007b}"') },
    { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE },
  )
  return id
}

/** Sends one definition with kafkajs; `partition` overrides the default partitioner. Returns the partition used. */
async function send(schemaId: number, definition: TaskDefinition, partition?: number): Promise<number> {
  const value = await registry.encode(schemaId, definition)
  const [metadata] = await producer.send({
    topic: topics.definitions,
    messages: [{ key: definition.taskId, value, ...(partition === undefined ? {} : { partition }) }],
  })
  return metadata!.partition
}

describe('the definitions contract with an independent client', () => {
  it('fires definitions produced by an independent client (kafkajs with @kafkajs/confluent-schema-registry)', async () => {
    const schemaId = await registerDefinitionSchema()
    // The subject's latest id is what a client that does not register would use; the scheduler registered it.
    expect(await registry.getLatestSchemaId(subject)).toBe(schemaId)

    const nowMs = Date.now()
    const interval = taskDefinition(`${prefix}-every-second`, { kind: 'INTERVAL', everyMs: 1000 })
    const oneShot = taskDefinition(`${prefix}-once`, { kind: 'ONE_SHOT', atMs: nowMs + 2000 })
    const misplaced = taskDefinition(`${prefix}-misplaced`, { kind: 'ONE_SHOT', atMs: nowMs + 2000 })
    const owner = partitionForKey(misplaced.taskId, partitions)
    const wrongPartition = (owner + 1) % partitions

    // kafkajs' default partitioner agrees with the Java murmur2 placement the scheduler checks.
    expect(await send(schemaId, interval)).toBe(partitionForKey(interval.taskId, partitions))
    expect(await send(schemaId, oneShot)).toBe(partitionForKey(oneShot.taskId, partitions))
    expect(await send(schemaId, misplaced, wrongPartition)).toBe(wrongPartition)

    const executionsOf = async (taskId: string) =>
      (await decodeAll(app.serdes.execution, out.records, topics.executions('http'))).filter((e) => e.taskId === taskId)
    const intervalRuns = await waitFor('three fires of the interval task', async () => {
      const runs = await executionsOf(interval.taskId)
      return runs.length >= 3 ? runs : undefined
    })
    const slots = intervalRuns.map((e) => e.scheduledForMs)
    expect(new Set(slots).size).toBe(slots.length)
    for (const e of intervalRuns) {
      expect(e.executionId).toBe(`${interval.taskId}:${e.scheduledForMs}`)
      expect(e.scheduledForMs >= interval.createdAtMs && (e.scheduledForMs - interval.createdAtMs) % 1000 === 0).toBe(
        true,
      )
    }

    const [once] = await waitFor('the one-shot', async () => {
      const runs = await executionsOf(oneShot.taskId)
      return runs.length > 0 ? runs : undefined
    })
    expect(once).toMatchObject({
      executionId: `${oneShot.taskId}:${oneShot.schedule.atMs}`,
      scheduledForMs: oneShot.schedule.atMs,
      attempt: 1,
      category: 'http',
      type: 'HealthCheck',
      payload: '{}',
    })

    const deadLetter = await waitFor('the misplaced definition on the dead-letter topic', async () => {
      const letters = await decodeAll(app.serdes.deadLetter, out.records, topics.deadLetter)
      return letters.find((l) => l.taskId === misplaced.taskId)
    })
    expect(deadLetter).toMatchObject({
      sourceTopic: topics.definitions,
      sourcePartition: wrongPartition,
      reasonCode: 'WRONG_PARTITION',
      key: Buffer.from(misplaced.taskId),
    })
    expect(deadLetter.originalValue).toEqual(await registry.encode(schemaId, misplaced))
    expect(await executionsOf(misplaced.taskId)).toEqual([])
  })

  it('refuses what the README warns producers about: register() without BACKWARD_TRANSITIVE, and a null key', async () => {
    const text = readFileSync(new URL('../../schemas/task-definition.v1.avsc', import.meta.url), 'utf8')
    // register() defaults to compatibility BACKWARD and refuses a subject configured otherwise.
    const refused: unknown = await registry
      .register({ type: SchemaType.AVRO, schema: text.replaceAll('"{}"', '"\\u007b}"') }, { subject })
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    expect(refused).toMatchObject({ name: 'ConfluentSchemaRegistryCompatibilityError' })
    expect((refused as Error).message).toContain('BACKWARD != BACKWARD_TRANSITIVE')
    // The definitions topic is compacted: the broker refuses a record without a key.
    const schemaId = await registerDefinitionSchema()
    const value = await registry.encode(
      schemaId,
      taskDefinition(`${prefix}-keyless`, { kind: 'INTERVAL', everyMs: 1000 }),
    )
    const sent: unknown = await producer.send({ topic: topics.definitions, messages: [{ key: null, value }] }).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(sent).toMatchObject({ type: 'INVALID_RECORD' }) // kafkajs' name for the broker's error code
  })
})
