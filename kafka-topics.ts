/**
 * Topic setup shared by every component: create what is missing, tolerate a concurrent creator
 * (TOPIC_ALREADY_EXISTS), and refuse to start when topics that must be co-partitioned disagree on their partition
 * count (a task for partition p reads partition p of each, and writes its outputs to partition p).
 *
 * Kafka never changes a topic's partition count by itself, so this check at start is enough: an operator who
 * adds partitions to one topic gets a refusal naming every topic and count, not silently misrouted records.
 */
import type { Admin } from '@platformatic/kafka'
import { ErrorCodes, FlextaskError } from './errors.ts'
import { kafkaErrorIds } from './topology/kafka-errors.ts'

export interface TopicSpec {
  name: string
  /** Topic configs when flextask creates it (cleanup.policy, retention.ms …). */
  configs: Record<string, string>
}

/** A compacted topic: the latest value per key is the state (definitions, changelogs). */
export const compacted: TopicSpec['configs'] = { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' }

/** A log of events kept for `days`. */
export function retainedFor(days: number): TopicSpec['configs'] {
  return { 'cleanup.policy': 'delete', 'retention.ms': String(days * 86_400_000) }
}

export interface EnsureTopicsOptions {
  /** Partitions of the topics created here. */
  partitions: number
  /** Replication factor; -1 = the broker's default.replication.factor. @default -1 */
  replicas?: number
  /** Why they must agree, for the refusal message. */
  coPartitionedBecause?: string
}

/**
 * Creates the missing topics of `specs` and checks that all of them have the same partition count (the first
 * spec's, as it exists or was created). Returns that count. Throws FLEXTASK_TOPICS_PARTITION_MISMATCH otherwise.
 */
export async function ensureCoPartitionedTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  options: EnsureTopicsOptions,
): Promise<number> {
  const existing = new Set(await admin.listTopics())
  await createTopics(
    admin,
    specs.filter((s) => !existing.has(s.name)),
    options,
  )
  const names = specs.map((s) => s.name)
  // A copy: the client sorts the array it is given in place.
  const metadata = await admin.metadata({ topics: [...names] })
  const counts = names.map((name) => [name, metadata.topics.get(name)?.partitionsCount] as const)
  const [first, expected] = counts[0] ?? ['', options.partitions]
  const wrong = counts.filter(([, count]) => count !== expected)
  if (wrong.length > 0) {
    throw new FlextaskError(
      ErrorCodes.topicsMismatch,
      `refusing to start: ${first} has ${expected} partitions but ` +
        wrong.map(([name, count]) => `${name} has ${count ?? 'none'}`).join(', ') +
        `. ${options.coPartitionedBecause ?? 'These topics must have equal partition counts.'}`,
      { context: { topic: first } },
    )
  }
  return expected ?? options.partitions
}

/** Creates topics, grouped by identical configs; a topic another process created meanwhile is fine. */
export async function createTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  options: Pick<EnsureTopicsOptions, 'partitions' | 'replicas'>,
): Promise<void> {
  const groups = new Map<string, TopicSpec[]>()
  for (const spec of specs) {
    const key = JSON.stringify(Object.entries(spec.configs).sort())
    groups.set(key, [...(groups.get(key) ?? []), spec])
  }
  for (const group of groups.values()) {
    const configs = Object.entries(group[0]?.configs ?? {}).map(([name, value]) => ({ name, value }))
    await admin
      .createTopics({
        topics: group.map((s) => s.name),
        partitions: options.partitions,
        replicas: options.replicas ?? -1,
        configs,
      })
      .catch((error: unknown) => {
        const ids = kafkaErrorIds(error)
        if (ids.size === 0 || [...ids].some((id) => id !== 'TOPIC_ALREADY_EXISTS')) throw error
      })
  }
}
