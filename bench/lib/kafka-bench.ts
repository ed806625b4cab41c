/**
 * Kafka chores shared by the benchmarks that run flextask on the local broker: producing definitions in
 * batches, reading end and committed offsets (ingestion is done when the scheduler group's committed offsets,
 * which commit in the same transaction as the state changelogs, reach the end offsets), and removing a run's
 * topics, consumer groups and registry subjects afterwards.
 */
import { type Admin, ListOffsetTimestamps, type Producer } from '@platformatic/kafka'
import type { KafkaClientFactory } from '../../kafka-clients.ts'
import type { SerdeRegistry } from '../../schemas/serde-registry.ts'
import type { TaskDefinition } from '../../schemas/task-definition.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { kafkaBrokers, schemaRegistryUrl } from '../../test/helpers/env.ts'

/** The environment `resolveConfig` reads for a flextask process of a bench run on the local broker. */
export function benchEnvironment(run: {
  prefix: string
  partitions: number
  category: string
  instanceId: string
  stateDir?: string
}): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: schemaRegistryUrl,
    FLEXTASK_TOPIC_PREFIX: run.prefix,
    FLEXTASK_PARTITIONS: String(run.partitions),
    FLEXTASK_CATEGORIES: run.category,
    FLEXTASK_INSTANCE_ID: run.instanceId,
    ...(run.stateDir === undefined ? {} : { FLEXTASK_STATE_DIR: run.stateDir }),
  }
}

const PRODUCE_BATCH_RECORDS = 5_000
const PRODUCE_IN_FLIGHT = 4

/** Produces `count` definitions built by `build(i)`, PRODUCE_BATCH_RECORDS per send; returns the bytes sent. */
export async function produceDefinitions(
  producer: Producer,
  serdes: SerdeRegistry,
  target: { topic: string; partitions: number },
  count: number,
  build: (i: number) => TaskDefinition,
): Promise<number> {
  let next = 0
  let bytes = 0
  const sender = async (): Promise<void> => {
    while (next < count) {
      const from = next
      next = Math.min(count, next + PRODUCE_BATCH_RECORDS)
      const messages = []
      for (let i = from; i < next; i++) {
        const definition = build(i)
        const key = Buffer.from(definition.taskId, 'utf8')
        const value = serdes.definition.serialize(definition)
        bytes += key.length + value.length
        messages.push({ topic: target.topic, partition: partitionForKey(key, target.partitions), key, value })
      }
      await producer.send({ messages })
    }
  }
  await Promise.all(Array.from({ length: PRODUCE_IN_FLIGHT }, sender))
  return bytes
}

/** The topic's end offsets, by partition. */
export async function endOffsets(kafka: KafkaClientFactory, topic: string): Promise<bigint[]> {
  const reader = kafka.consumer({ clientId: `${topic}-offsets`, groupId: `${topic}-offsets` })
  try {
    const ends = await reader.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })
    return ends.get(topic) ?? []
  } finally {
    await reader.close(true).catch(() => {})
  }
}

/** The group's committed offsets on `topic` (0 where none), by partition. */
export async function committedOffsets(
  admin: Admin,
  groupId: string,
  topic: string,
  partitions: number,
): Promise<bigint[]> {
  const groups = await admin.listConsumerGroupOffsets({
    groups: [{ groupId, topics: [{ name: topic, partitionIndexes: Array.from({ length: partitions }, (_, p) => p) }] }],
  })
  const found = groups[0]?.topics.find((t) => t.name === topic)?.partitions ?? []
  const out = Array.from({ length: partitions }, () => 0n)
  for (const p of found) out[p.partitionIndex] = p.committedOffset > 0n ? p.committedOffset : 0n
  return out
}

/** Whether every partition's committed offset reached its end offset. */
export function caughtUp(committed: readonly bigint[], ends: readonly bigint[]): boolean {
  return ends.every((end, p) => (committed[p] ?? 0n) >= end)
}

/** Deletes the topics `<prefix>.*` and `<applicationId>-*-changelog`, and the given consumer groups. */
export async function deleteRunTopics(
  admin: Admin,
  run: { prefix: string; applicationId: string; groups: string[] },
): Promise<void> {
  const mine = (await admin.listTopics()).filter(
    (t) => t.startsWith(`${run.prefix}.`) || (t.startsWith(`${run.applicationId}-`) && t.endsWith('-changelog')),
  )
  if (mine.length > 0) await admin.deleteTopics({ topics: mine })
  await admin.deleteGroups({ groups: run.groups }).catch(() => {})
}

/** Deletes the registry subjects of `<prefix>.*` (soft, then permanent), best effort with a warning. */
export async function deleteSubjects(registryUrl: string, prefix: string): Promise<void> {
  try {
    const response = await fetch(`${registryUrl}/subjects`, { signal: AbortSignal.timeout(10_000) })
    const subjects = ((await response.json()) as string[]).filter((s) => s.startsWith(`${prefix}.`))
    for (const subject of subjects) {
      const url = `${registryUrl}/subjects/${encodeURIComponent(subject)}`
      await fetch(url, { method: 'DELETE', signal: AbortSignal.timeout(10_000) })
      await fetch(`${url}?permanent=true`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) })
    }
  } catch (error) {
    console.error(`warning: could not delete the registry subjects of ${prefix}: ${String(error)}`)
  }
}
