/**
 * Topic setup shared by the runtime and the components (≈ Kafka Streams' InternalTopicManager): create the
 * topics that are missing, tolerate another instance creating them at the same moment, and check partition
 * counts. The runtime uses it for its changelogs after checking that its sources are co-partitioned.
 */
import type { Admin } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError } from '../errors.ts'
import { kafkaErrorIds } from './kafka-errors.ts'

export interface TopicSpec {
  name: string
  partitions: number
  /** @default -1 (the broker's default) */
  replicas?: number
  configs?: Record<string, string>
}

/** The configs of a changelog topic: compacted, compactable at once, small segments so compaction runs. */
export const changelogTopicConfigs: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  'min.compaction.lag.ms': '0',
  'segment.ms': '600000',
}

/** Partition counts of the topics (undefined when a topic does not exist). */
export async function partitionCounts(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, number | undefined>> {
  const metadata = await admin.metadata({ topics: [...topics] }).catch((error: unknown) => {
    if (kafkaErrorIds(error).has('UNKNOWN_TOPIC_OR_PARTITION')) return undefined
    throw error
  })
  return new Map(topics.map((t) => [t, metadata?.topics.get(t)?.partitionsCount]))
}

/** The one partition count of co-partitioned sources; throws FLEXTASK_TOPICS_PARTITION_MISMATCH otherwise. */
export async function coPartitionedCount(admin: Admin, topics: readonly string[]): Promise<number> {
  const counts = await partitionCounts(admin, topics)
  const distinct = new Set(counts.values())
  if (distinct.size !== 1 || distinct.has(undefined)) {
    const detail = topics.map((t) => `${t}=${counts.get(t) ?? 'missing'}`).join(', ')
    throw new FlextaskError(
      ErrorCodes.topicsMismatch,
      `source topics must exist and be co-partitioned (equal partition counts): ${detail}`,
    )
  }
  return [...distinct][0] as number
}

/**
 * Creates the missing topics and checks that every one has its spec's partition count. Safe to run from
 * several instances at once (TOPIC_ALREADY_EXISTS is expected).
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<void> {
  if (specs.length === 0) return
  const existing = new Set(await admin.listTopics())
  for (const spec of specs.filter((s) => !existing.has(s.name))) {
    await admin
      .createTopics({
        topics: [spec.name],
        partitions: spec.partitions,
        replicas: spec.replicas ?? -1,
        configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
      })
      .catch((error: unknown) => {
        const ids = kafkaErrorIds(error)
        if (ids.size === 0 || [...ids].some((id) => id !== 'TOPIC_ALREADY_EXISTS')) throw error
      })
  }
  const counts = await partitionCounts(
    admin,
    specs.map((s) => s.name),
  )
  for (const spec of specs) {
    const count = counts.get(spec.name)
    if (count !== spec.partitions)
      throw new FlextaskError(
        ErrorCodes.topicsMismatch,
        `topic ${spec.name} has ${count ?? 'no'} partitions, expected ${spec.partitions}`,
        { context: { topic: spec.name } },
      )
  }
}

/**
 * A stream runtime's changelogs: checks that the source topics are co-partitioned, creates one compacted
 * changelog per store with their partition count, and returns that count.
 */
export async function ensureChangelogTopics(
  admin: Admin,
  sourceTopics: readonly string[],
  changelogs: readonly string[],
): Promise<number> {
  const partitions = await coPartitionedCount(admin, sourceTopics)
  await ensureTopics(
    admin,
    changelogs.map((name) => ({ name, partitions, configs: changelogTopicConfigs })),
  )
  return partitions
}
