import { roundRobinAssigner, type ExtendedGroupProtocolSubscription } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { coPartitionedAssigner } from '../../../topology/co-partitioned-assigner.ts'

const topics = ['app.definitions', 'app.commands', 'app.results']

function group(memberCount: number): Map<string, ExtendedGroupProtocolSubscription> {
  const members = new Map<string, ExtendedGroupProtocolSubscription>()
  for (let i = 0; i < memberCount; i++) {
    members.set(`member-${i}`, { memberId: `member-${i}`, topics, version: 0, metadata: Buffer.alloc(0) })
  }
  return members
}

function metadata(partitions: number) {
  return { topics: new Map(topics.map((t) => [t, { partitionsCount: partitions }])) }
}

/** member → topic → partitions, as plain objects. */
function owners(assignments: ReturnType<typeof coPartitionedAssigner>): Map<string, Map<string, number[]>> {
  return new Map(
    assignments.map((a) => [a.memberId, new Map([...a.assignments.values()].map((g) => [g.topic, g.partitions]))]),
  )
}

function isCoPartitioned(assignments: ReturnType<typeof coPartitionedAssigner>): boolean {
  return [...owners(assignments).values()].every((byTopic) => {
    const sets = topics.map((t) => JSON.stringify([...(byTopic.get(t) ?? [])].sort((a, b) => a - b)))
    return sets.every((s) => s === sets[0])
  })
}

describe('coPartitionedAssigner', () => {
  for (const [partitions, memberCount] of [
    [3, 2],
    [6, 4],
    [6, 5],
    [6, 6],
    [2, 3],
    [12, 5],
  ] as const) {
    it(`gives partition p of every topic to one member (${partitions} partitions, ${memberCount} members)`, () => {
      const assignments = coPartitionedAssigner('member-0', group(memberCount), new Set(topics), metadata(partitions))
      expect(isCoPartitioned(assignments)).toBe(true)
      for (const topic of topics) {
        const all = assignments.flatMap((a) => a.assignments.get(topic)?.partitions ?? []).sort((a, b) => a - b)
        expect(all).toEqual(Array.from({ length: partitions }, (_, i) => i))
      }
      const sizes = assignments.map((a) => a.assignments.get(topics[0]!)?.partitions.length ?? 0)
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
    })
  }

  it('is the same whichever member computes it, and whatever order the members are listed in', () => {
    const members = group(4)
    const reversed = new Map([...members].reverse())
    const a = coPartitionedAssigner('member-0', members, new Set(topics), metadata(6))
    const b = coPartitionedAssigner('member-3', reversed, new Set([...topics].reverse()), metadata(6))
    expect(owners(b)).toEqual(owners(a))
  })

  it("is needed: the client's default round-robin splits partition 0 across members with 3 partitions and 2 members", () => {
    const assignments = roundRobinAssigner('member-0', group(2), new Set(topics), metadata(3) as never)
    expect(isCoPartitioned(assignments)).toBe(false)
  })
})
