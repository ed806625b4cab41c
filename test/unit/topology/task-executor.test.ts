import type { Message } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../topology/clocks.ts'
import { type BarrierDecision, HoldableClock } from '../../../topology/input-barrier.ts'
import { type InputLateEvent, RuntimeEvents } from '../../../topology/runtime-events.ts'
import type { RawRecord, StreamTask } from '../../../topology/stream-task.ts'
import { TaskExecutor } from '../../../topology/task-executor.ts'
import type { TaskEntry } from '../../../topology/task-manager.ts'

/** A fake task: records what it processed and the clock it saw when its timers ran. */
function fakeTask(clock: HoldableClock, nextWakeMs?: number) {
  const processed: bigint[] = []
  const firedAt: number[] = []
  const task = {
    process: (r: RawRecord) => Promise.resolve(void processed.push(r.offset)),
    nextWakeMs: () => nextWakeMs,
    runDueTimers: () => Promise.resolve(firedAt.push(clock.nowMs()) && 1),
    hasWork: () => processed.length > 0 || firedAt.length > 0,
  }
  return { task: task as unknown as StreamTask, processed, firedAt }
}

function entry(partition: number, task: StreamTask, committed: [string, bigint][] = []): TaskEntry {
  return {
    partition,
    generation: 1,
    status: 'running',
    task,
    backend: undefined,
    committed: new Map(committed),
    abort: new AbortController(),
    opened: Promise.resolve(),
  }
}

const message = (partition: number, offset: number) =>
  ({
    topic: 'in',
    partition,
    offset: BigInt(offset),
    key: null,
    value: null,
    timestamp: 0n,
    headers: new Map(),
  }) as unknown as Message

function setup(options: {
  entries: TaskEntry[]
  inbox?: Map<number, Message[]>
  uncommitted?: number
  decide?: () => BarrierDecision
  clock: HoldableClock
  wallClock?: ManualClock
  max?: number
  slice?: number
}) {
  const inbox = options.inbox ?? new Map<number, Message[]>()
  const consumed: Message[] = []
  const timers: number[] = []
  const late: InputLateEvent[] = []
  const events = new RuntimeEvents()
  events.add({ onInputLate: (e) => late.push(e) })
  const executor = new TaskExecutor({
    tasks: { running: () => options.entries, assigned: new Set([0, 1]), nextRetryMs: () => undefined },
    buffer: {
      take: (p: number, max: number) => (inbox.get(p) ?? []).splice(0, max),
      fetchedUpTo: () => undefined,
      holdsBelow: () => false,
    } as never,
    cycle: {
      uncommittedRecords: options.uncommitted ?? 0,
      consumed: (m) => void consumed.push(m),
      timersRan: (n) => void timers.push(n),
    },
    barrier: options.decide === undefined ? undefined : { decide: options.decide },
    clock: options.clock,
    wallClock: options.wallClock ?? options.clock,
    events,
    maxRecordsPerCycle: options.max ?? 10,
    catchUpSliceRecords: options.slice ?? 100,
  })
  return { executor, consumed, timers, late }
}

const range = (partition: number, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => message(partition, from + i))

describe('TaskExecutor: the records and timers of one pass', () => {
  it('shares the cycle record budget fairly between the running tasks', async () => {
    const clock = new HoldableClock(new ManualClock(0))
    const [a, b] = [fakeTask(clock), fakeTask(clock)]
    const inbox = new Map([
      [0, range(0, 0, 20)],
      [1, range(1, 0, 20)],
    ])
    const { executor, consumed } = setup({ entries: [entry(0, a.task), entry(1, b.task)], inbox, clock })
    expect(await executor.processRecords()).toBe(10)
    expect([a.processed.length, b.processed.length]).toEqual([5, 5])
    expect(consumed).toHaveLength(10)
  })

  it('counts what the cycle already holds against the budget', async () => {
    const clock = new HoldableClock(new ManualClock(0))
    const a = fakeTask(clock)
    const { executor } = setup({
      entries: [entry(0, a.task)],
      inbox: new Map([[0, range(0, 0, 20)]]),
      uncommitted: 7,
      clock,
    })
    expect(await executor.processRecords()).toBe(3)
  })

  it('skips records below the committed offset (processed and committed by a previous owner)', async () => {
    const clock = new HoldableClock(new ManualClock(0))
    const a = fakeTask(clock)
    const inbox = new Map([[0, range(0, 3, 5)]])
    const { executor, consumed } = setup({ entries: [entry(0, a.task, [['in', 5n]])], inbox, clock })
    expect(await executor.processRecords()).toBe(3)
    expect(a.processed).toEqual([5n, 6n, 7n])
    expect(consumed.map((m) => m.offset)).toEqual([5n, 6n, 7n])
  })

  it('fires due timers only past the input barrier, with the clock held at the observed instant', async () => {
    const base = new ManualClock(1_000)
    const clock = new HoldableClock(base)
    const due = fakeTask(clock, 900)
    const notDue = fakeTask(clock, 1_500)
    let decision: BarrierDecision = undefined
    const { executor, timers, late } = setup({
      entries: [entry(0, due.task), entry(1, notDue.task)],
      decide: () => decision,
      clock,
    })
    expect(await executor.runTimers()).toEqual({ ran: 0, waiting: true })
    decision = { fireAtMs: 950 }
    expect(await executor.runTimers()).toEqual({ ran: 1, waiting: false })
    expect(due.firedAt).toEqual([950])
    expect(notDue.firedAt).toEqual([])
    decision = { fireAtMs: 1_000, lateMs: 5_000 }
    await executor.runTimers()
    expect(late).toEqual([{ partition: 0, waitedMs: 5_000 }])
    expect(timers).toEqual([0, 1, 1])
    expect(clock.nowMs()).toBe(1_000) // released after the timers ran
  })

  it('fires on-time tasks before a catching-up one, whose wake-up then yields after its slice', async () => {
    const clock = new HoldableClock(new ManualClock(1_000))
    const order: number[] = []
    let yieldedAfter = -1
    const fair = (partition: number, catchingUp: boolean) => {
      let records = 0
      const task = {
        partition,
        catchingUp,
        nextWakeMs: () => 1_000,
        pendingLoad: () => ({ records, bytes: 0 }),
        runDueTimers: (shouldYield: () => boolean) => {
          order.push(partition)
          for (records = 0; records < 1_000 && !shouldYield(); records += 10);
          if (catchingUp) yieldedAfter = records
          return Promise.resolve(1)
        },
      }
      return task as unknown as StreamTask
    }
    const { executor } = setup({ entries: [entry(0, fair(0, true)), entry(1, fair(1, false))], clock, slice: 100 })
    expect(await executor.runTimers()).toEqual({ ran: 2, waiting: false })
    expect(order).toEqual([1, 0])
    expect(yieldedAfter).toBe(100)
  })

  it('without the barrier fires at once; sleeps until the earliest timer, at most a second', async () => {
    const clock = new HoldableClock(new ManualClock(1_000))
    const due = fakeTask(clock, 1_000)
    const { executor } = setup({ entries: [entry(0, due.task)], clock })
    expect(await executor.runTimers()).toEqual({ ran: 1, waiting: false })
    expect(setup({ entries: [entry(0, fakeTask(clock, 1_200).task)], clock }).executor.msUntilNextWake()).toBe(200)
    expect(setup({ entries: [entry(0, fakeTask(clock, 9_000).task)], clock }).executor.msUntilNextWake()).toBe(1_000)
    expect(setup({ entries: [entry(0, fakeTask(clock, 10).task)], clock }).executor.msUntilNextWake()).toBe(0)
  })
})
