/**
 * The sink's partition assignment: partition p of every subscribed topic goes to member p mod n (members sorted by
 * id), so one sink writes an execution, its results, logs and occurrences (co-partitioned by taskId). The client's
 * default round-robin spreads partitions of different topics independently.
 */
import type { GroupPartitionsAssigner, GroupPartitionsAssignments } from '@platformatic/kafka'

export const coPartitionedAssigner: GroupPartitionsAssigner = (_current, members, topics, metadata) => {
  const ids = [...members.keys()].sort()
  const out: GroupPartitionsAssignments[] = ids.map((memberId) => ({ memberId, assignments: new Map() }))
  for (const topic of topics) {
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0
    for (let p = 0; p < count; p++) {
      const member = out[p % ids.length]
      if (member === undefined) continue
      const entry = member.assignments.get(topic) ?? { topic, partitions: [] }
      entry.partitions.push(p)
      member.assignments.set(topic, entry)
    }
  }
  return out
}
