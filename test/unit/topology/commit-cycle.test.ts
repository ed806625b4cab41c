import type { Consumer, Message } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../topology/clocks.ts'
import { CommitCycle } from '../../../topology/commit-cycle.ts'
import type { EosProducer } from '../../../topology/eos-producer.ts'
import type { StreamTask } from '../../../topology/stream-task.ts'
import type { TaskEntry } from '../../../topology/task-manager.ts'

/** A fake task with uncommitted work until it commits or rolls back. */
function fakeTask(work: boolean) {
  const calls: string[] = []
  let dirty = work
  const task = {
    hasWork: () => dirty,
    pendingRecords: () => ({ outputs: [], changelog: [] }),
    consumedOffsets: () => new Map<string, bigint>(),
    committed: () => Promise.resolve(void (dirty = false)),
    aborted: () => {
      calls.push('aborted')
      dirty = false
      return Promise.resolve()
    },
  }
  return { task: task as unknown as StreamTask, calls }
}

function entry(partition: number, task: StreamTask): TaskEntry {
  return {
    partition,
    generation: 2,
    status: 'running',
    task,
    backend: undefined,
    committed: new Map([['in', 10n]]),
    abort: new AbortController(),
    opened: Promise.resolve(),
  }
}

function cycle() {
  const sent: Message[][] = []
  const producer = {
    commit: (_records: unknown, _consumer: unknown, offsets: Message[]) => {
      sent.push(offsets)
      return Promise.resolve(new Map<string, bigint>())
    },
  } as unknown as EosProducer
  const consumer = { groupId: 'app', memberId: 'm-1', coordinatorId: 1 } as unknown as Consumer
  return { cycle: new CommitCycle({ producer, consumer, clock: new ManualClock(0) }), sent }
}

const generationOf = (m: Message) => (m.metadata.consumer as { generationId: number }).generationId

describe('CommitCycle across a join that keeps tasks (review C10, issue 7 C11 follow-up)', () => {
  it('drops what was consumed under the old generation; the next commit fences with the new one', async () => {
    const { cycle: c, sent } = cycle()
    const kept = fakeTask(true)
    const oldMessage = { topic: 'in', partition: 0, offset: 12n, metadata: { consumer: { generationId: 1 } } }
    c.consumed(oldMessage as unknown as Message)
    expect(c.uncommittedRecords).toBe(1)
    await c.rollBack([entry(0, kept.task)])
    expect(c.uncommittedRecords).toBe(0)
    expect(kept.calls).toEqual(['aborted']) // its uncommitted work is redone from committed state
    await c.commit([entry(0, fakeTask(true).task)], 2)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.map((m) => [m.topic, m.partition, m.offset, generationOf(m)])).toEqual([['in', 0, 9n, 2]])
  })

  it('leaves a kept task with no uncommitted work as it is', async () => {
    const { cycle: c } = cycle()
    const idle = fakeTask(false)
    await c.rollBack([entry(0, idle.task)])
    expect(idle.calls).toEqual([])
  })
})
