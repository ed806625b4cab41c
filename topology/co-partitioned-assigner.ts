/**
 * The group's partition assignor for a stream runtime: partition p of EVERY source topic goes to the same member.
 * A stream task is one partition number across co-partitioned topics (definitions, commands, results), so a
 * member must own all of p's topic-partitions or none of them — Kafka Streams' StreamsPartitionAssignor exists
 * for the same reason.
 *
 * Why not the client's default: @platformatic/kafka 2.12.1's `roundRobinAssigner` deals topic-partitions from
 * one counter running across topics. With partitions % members ≠ 0 (3 partitions and 2 members, 6 and 4, …)
 * partition 0 of the second topic lands on another member than partition 0 of the first; two instances then
 * run a task for the same partition number and fire its slots twice. Pinned by
 * test/unit/topology/co-partitioned-assigner.test.ts.
 *
 * Members are ordered by member id, so the assignment is a pure function of the group; a member only receives
 * topics it subscribed to.
 */
import type { ExtendedGroupProtocolSubscription, GroupPartitionsAssignments } from '@platformatic/kafka'

interface TopicPartitionCounts {
  topics: Map<string, { partitionsCount: number }>
}

export function coPartitionedAssigner(
  _current: string,
  members: Map<string, ExtendedGroupProtocolSubscription>,
  topics: Set<string>,
  metadata: TopicPartitionCounts,
): GroupPartitionsAssignments[] {
  const memberIds = [...members.keys()].sort()
  const result: GroupPartitionsAssignments[] = memberIds.map((memberId) => ({ memberId, assignments: new Map() }))
  if (result.length === 0) return result
  const counts = [...topics].sort().map((topic) => [topic, metadata.topics.get(topic)?.partitionsCount ?? 0] as const)
  const partitionCount = Math.max(0, ...counts.map(([, count]) => count))
  for (let partition = 0; partition < partitionCount; partition++) {
    const member = result[partition % result.length]
    if (member === undefined) continue
    const subscribed = members.get(member.memberId)?.topics
    for (const [topic, count] of counts) {
      if (partition >= count || (subscribed !== undefined && !subscribed.includes(topic))) continue
      const entry = member.assignments.get(topic) ?? { topic, partitions: [] }
      entry.partitions.push(partition)
      member.assignments.set(topic, entry)
    }
  }
  return result
}
