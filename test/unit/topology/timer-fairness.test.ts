import { describe, expect, it } from 'vitest'
import { buildSchedulerTopology } from '../../../scheduler/scheduler-topology.ts'
import { ManualClock } from '../../../topology/clocks.ts'
import { TaskStores } from '../../../topology/state-stores.ts'
import { MemoryStoreBackend } from '../../../topology/store-backends.ts'
import { StreamTask } from '../../../topology/stream-task.ts'
import { TimerFairness } from '../../../topology/timer-fairness.ts'
import { avroSerdes, categories, definition, startMs, topics } from '../../topology/scheduler-harness.ts'

/** A task as the policy sees it, with settable load, wake-up and catching-up flag. */
function fake(partition: number, catchingUp: boolean, nextWakeMs?: number) {
  const t = {
    partition,
    catchingUp,
    nextWakeMs: () => nextWakeMs,
    records: 0,
    pendingLoad: () => ({ records: t.records }),
  }
  return t
}

describe('TimerFairness: a backlog on one partition does not hold the timers of the others', () => {
  it('orders a pass on-time tasks first, then catching-up tasks round-robin from pass to pass', () => {
    const fairness = new TimerFairness(100, new ManualClock(0))
    const tasks = [fake(2, true), fake(0, true), fake(1, false), fake(3, false)]
    const pass = (): number[] => fairness.order(tasks).map((t) => t.partition)
    expect(pass()).toEqual([1, 3, 0, 2])
    expect(pass()).toEqual([1, 3, 2, 0])
    expect(pass()).toEqual([1, 3, 0, 2])
  })

  it('never asks an on-time task to yield', () => {
    const fairness = new TimerFairness(1, new ManualClock(1_000))
    const onTime = fake(0, false)
    const shouldYield = fairness.yieldPredicate(onTime, [onTime, fake(1, false, 0)], true)
    onTime.records = 1_000_000
    expect(shouldYield()).toBe(false)
  })

  it('asks a catching-up task to yield only after its slice, once an on-time task fired in the pass', () => {
    const fairness = new TimerFairness(100, new ManualClock(1_000))
    const herd = fake(0, true)
    herd.records = 40 // what the cycle held before this wake-up does not count towards the slice
    const shouldYield = fairness.yieldPredicate(herd, [herd, fake(1, false, 5_000)], true)
    herd.records = 139
    expect(shouldYield()).toBe(false)
    herd.records = 140
    expect(shouldYield()).toBe(true)
  })

  it('asks a catching-up task to yield when an on-time task of another partition comes due on the wall clock', () => {
    const wall = new ManualClock(1_000)
    const fairness = new TimerFairness(10, wall)
    const herd = fake(0, true)
    const otherHerd = fake(2, true, 0)
    const cron = fake(1, false, 1_500)
    const shouldYield = fairness.yieldPredicate(herd, [herd, cron, otherHerd], false)
    herd.records = 50
    expect(shouldYield()).toBe(false) // another catching-up task being due is no reason: they take turns
    wall.advance(499)
    expect(shouldYield()).toBe(false)
    wall.advance(1)
    expect(shouldYield()).toBe(true)
  })

  it('refuses a slice that is not a positive integer', () => {
    expect(() => new TimerFairness(0, new ManualClock(0))).toThrow('sliceRecords must be a positive integer, got 0')
  })
})

describe('the scheduler yields when the runtime asks (context.shouldYield)', () => {
  async function herdTask(count: number, dueMs: number) {
    const serdes = await avroSerdes()
    const topology = buildSchedulerTopology({ topics, serdes, config: { categories } })
    const clock = new ManualClock(startMs)
    const serdesByStore = new Map([...topology.stores].map(([name, spec]) => [name, spec.valueSerde]))
    const stores = new TaskStores(new MemoryStoreBackend(), serdesByStore, (s) => `app-${s}-changelog`, 0)
    const task = new StreamTask({ topology, partition: 0, partitionCount: 1, stores, clock, applicationId: 'app' })
    await task.init()
    for (let i = 0; i < count; i++) {
      const d = definition(`h-${i}`, { kind: 'ONE_SHOT', atMs: dueMs })
      const raw = { key: Buffer.from(d.taskId), value: serdes.definition.serialize(d), timestampMs: startMs }
      await task.process({ ...raw, topic: topics.definitions, partition: 0, offset: BigInt(i) })
    }
    await task.committed(new Map())
    const fired = (): number =>
      task.pendingRecords().outputs.filter((o) => o.topic === topics.executions('http')).length
    return { task, clock, fired }
  }

  it('stops a wake-up at the first timer after shouldYield turns true, and re-arms at once (catching up)', async () => {
    const { task, clock, fired } = await herdTask(300, startMs + 1_000)
    clock.advance(1_000)
    let asked = 0
    expect(task.catchingUp).toBe(false)
    await task.runDueTimers(undefined, () => ++asked > 25)
    expect(fired()).toBe(25)
    expect(task.catchingUp).toBe(true)
    expect(task.nextWakeMs()).toBe(startMs + 1_000)
    await task.committed(new Map())
    await task.runDueTimers()
    expect(fired()).toBe(275) // nothing asks it to yield: the rest in one wake-up (under maxFiresPerWake)
    expect(task.catchingUp).toBe(false)
  })
})
