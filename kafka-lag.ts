/**
 * Consumer lag of one consumer group, per topic partition: the group's committed offset behind the partition's
 * end, read with the admin client at scrape time (what `kafka-consumer-groups.sh --describe` prints as LAG).
 *
 * The end is the last stable offset (read_committed): our inputs are written transactionally, and a high
 * watermark would count an open transaction's records and its commit markers as lag. A partition the group has
 * no committed offset for yet is lag 0 from its first read, so it is left out rather than guessed.
 *
 * Every process that hosts a component reports the lag of that component's group; several processes report the
 * same figures, so dashboards take `max by (topic, partition)`.
 */
import type { Admin } from '@platformatic/kafka'

export interface PartitionLag {
  topic: string
  partition: number
  committedOffset: bigint
  endOffset: bigint
  lag: number
}

/** Lag of `groupId` on every partition it has committed offsets for (optionally only the given topics). */
export async function consumerGroupLag(
  admin: Admin,
  groupId: string,
  topics?: (topic: string) => boolean,
): Promise<PartitionLag[]> {
  const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] })
  const committed = (group?.topics ?? [])
    .filter((t) => topics === undefined || topics(t.name))
    .map((t) => ({ name: t.name, partitions: t.partitions.filter((p) => p.committedOffset >= 0n) }))
    .filter((t) => t.partitions.length > 0)
  if (committed.length === 0) return []
  const ends = await admin.listOffsets({
    // timestamp -1 = latest; isolation level 1 = READ_COMMITTED (the last stable offset).
    topics: committed.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, timestamp: -1n })),
    })),
    isolationLevel: 1,
  })
  const endOf = new Map<string, bigint>()
  for (const topic of ends) for (const p of topic.partitions) endOf.set(`${topic.name}/${p.partitionIndex}`, p.offset)
  const lags: PartitionLag[] = []
  for (const topic of committed) {
    for (const p of topic.partitions) {
      const endOffset = endOf.get(`${topic.name}/${p.partitionIndex}`)
      if (endOffset === undefined) continue
      const lag = endOffset > p.committedOffset ? Number(endOffset - p.committedOffset) : 0
      lags.push({ topic: topic.name, partition: p.partitionIndex, committedOffset: p.committedOffset, endOffset, lag })
    }
  }
  return lags
}
