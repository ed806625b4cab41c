import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { GroupMembership } from '../../../topology/group-membership.ts'

/** A fake group consumer: the test emits the client's group events. */
function membership() {
  const consumer = Object.assign(new EventEmitter(), { generationId: -1 })
  let wakes = 0
  const group = new GroupMembership(consumer, ['defs', 'cmds'], () => wakes++)
  const join = (generationId: number, partitions: number[], topics = ['defs', 'cmds']) =>
    consumer.emit('consumer:group:join', {
      generationId,
      assignments: topics.map((topic) => ({ topic, partitions })),
    })
  return { consumer, group, join, wakes: () => wakes }
}

const held = (group: GroupMembership) => {
  const join = group.takeJoin()
  return join === undefined ? undefined : [join.generation, [...join.heldSince].sort((a, b) => a[0] - b[0])]
}

describe('GroupMembership: joins recorded by the callback, applied by the loop (review C2, C11)', () => {
  it('queues the latest join for the loop, which takes it once; a rebalance notice lasts until the join', () => {
    const { consumer, group, join, wakes } = membership()
    consumer.emit('consumer:group:rebalance')
    expect(group.rebalancing).toBe(true)
    join(1, [0, 1])
    expect([group.rebalancing, group.joinPending]).toEqual([false, true])
    const taken = group.takeJoin()
    expect([taken?.generation, [...(taken?.partitions ?? [])]]).toEqual([1, [0, 1]])
    expect(group.takeJoin()).toBeUndefined()
    expect(wakes()).toBe(2)
  })

  it('counts only the source topics of the topology', () => {
    const { group, join } = membership()
    join(1, [2], ['other'])
    expect([...(group.takeJoin()?.partitions ?? [])]).toEqual([])
  })

  it('records, per partition, since which generation it has been held without a break', () => {
    const { group, join } = membership()
    join(1, [0, 1])
    expect(held(group)).toEqual([
      1,
      [
        [0, 1],
        [1, 1],
      ],
    ])
    join(2, [0])
    expect(held(group)).toEqual([2, [[0, 1]]])
    join(3, [0, 1])
    expect(held(group)).toEqual([
      3,
      [
        [0, 1],
        [1, 3],
      ],
    ])
  })

  it('keeps the run across joins the loop has not taken yet (the latest join wins)', () => {
    const { group, join } = membership()
    join(4, [0, 1])
    group.takeJoin()
    join(5, [0, 1])
    join(6, [0])
    expect(held(group)).toEqual([6, [[0, 4]]])
  })

  it('a skipped generation breaks every run: the member may have lost the partition in it', () => {
    const { group, join } = membership()
    join(1, [0, 1])
    join(3, [0, 1])
    expect(held(group)).toEqual([
      3,
      [
        [0, 3],
        [1, 3],
      ],
    ])
  })

  it('a client error asks the loop to join again; a join that follows keeps the run', () => {
    const { consumer, group, join } = membership()
    join(1, [0])
    group.takeJoin()
    consumer.emit('error', new Error('Cannot connect to any broker'))
    expect([group.rejoinNeeded, group.hasError]).toEqual([true, true])
    expect(group.takeError()).toBeInstanceOf(Error)
    expect(group.hasError).toBe(false)
    group.rejoined()
    join(2, [0])
    expect([group.rejoinNeeded, held(group)]).toEqual([false, [2, [[0, 1]]]])
  })

  it('a stale-membership rejoin is skipped while a join is queued, and any join ends the need', () => {
    const { group, join } = membership()
    join(1, [0])
    group.needRejoin() // the commit failed (ILLEGAL_GENERATION) because generation 1 had already formed
    expect(group.rejoinNeeded).toBe(false)
    group.takeJoin()
    group.needRejoin()
    expect(group.rejoinNeeded).toBe(true)
    join(2, [0]) // the client rejoined by itself (heartbeat)
    expect(group.rejoinNeeded).toBe(false)
  })

  it('no forced rejoin while the client already holds a newer generation than the refused commit used', () => {
    const { consumer, group, join } = membership()
    join(1, [0])
    group.takeJoin()
    // Failover: the survivor's commit under generation 1 is refused (ILLEGAL_GENERATION) after its JoinGroup
    // for generation 2 was answered, while its SyncGroup is in flight: the join is on its way.
    consumer.generationId = 2
    group.needRejoin(1)
    expect(group.rejoinNeeded).toBe(false)
    // Refused under the generation the client holds: the membership is stale, join again.
    group.needRejoin(2)
    expect(group.rejoinNeeded).toBe(true)
  })

  it('a stream error is reported once and does not break the runs', () => {
    const { group, join } = membership()
    join(1, [0])
    group.takeJoin()
    group.reportError(new Error('first'))
    group.reportError(new Error('second'))
    expect((group.takeError() as Error).message).toBe('first')
    join(2, [0])
    expect(held(group)).toEqual([2, [[0, 1]]])
  })

  it('holds the loop between the JoinGroup response and the join event (no commit refused ILLEGAL_GENERATION)', () => {
    const { consumer, group, join } = membership()
    consumer.generationId = 1
    join(1, [0])
    expect(group.syncing(-1)).toBe(false) // the join is queued: the loop applies it first
    group.takeJoin()
    expect(group.syncing(1)).toBe(false)
    consumer.generationId = 2 // JoinGroup answered; SyncGroup in flight
    expect(group.syncing(1)).toBe(true)
    join(2, [0])
    expect(group.syncing(1)).toBe(false)
    group.takeJoin()
    expect(group.syncing(2)).toBe(false)
  })
})
