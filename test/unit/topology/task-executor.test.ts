import type { Message } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../topology/clocks.ts'
import type { BarrierDecision } from '../../../topology/input-barrier.ts'
import { type InputLateEvent, RuntimeEvents } from '../../../topology/runtime-events.ts'
import type { RawRecord, StreamTask } from '../../../topology/stream-task.ts'
import { TaskExecutor } from '../../../topology/task-executor.ts'
import type { TaskEntry } from '../../../topology/task-manager.ts'

/** A fake task: records what it processed, and the due horizon and clock its timers ran with. */
function fakeTask(clock: ManualClock, nextWakeMs?: number) {
  const processed: bigint[] = []
  const firedAt: { dueUpToMs: number | undefined; clockMs: number }[] = []
  const task = {
    process: (r: RawRecord) => Promise.resolve(void processed.push(r.offset)),
    nextWakeMs: () => nextWakeMs,
    runDueTimers: (dueUpToMs?: number) => Promise.resolve(firedAt.push({ dueUpToMs, clockMs: clock.nowMs() }) && 1),
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
  clock: ManualClock
  max?: number
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
    events,
    maxRecordsPerCycle: options.max ?? 10,
  })
  return { executor, consumed, timers, late }
}

const range = (partition: number, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => message(partition, from + i))

describe('TaskExecutor: the records and timers of one pass', () => {
  it('shares the cycle record budget fairly between the running tasks', async () => {
    const clock = new ManualClock(0)
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
    const clock = new ManualClock(0)
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
    const clock = new ManualClock(0)
    const a = fakeTask(clock)
    const inbox = new Map([[0, range(0, 3, 5)]])
    const { executor, consumed } = setup({ entries: [entry(0, a.task, [['in', 5n]])], inbox, clock })
    expect(await executor.processRecords()).toBe(3)
    expect(a.processed).toEqual([5n, 6n, 7n])
    expect(consumed.map((m) => m.offset)).toEqual([5n, 6n, 7n])
  })

  it('fires due timers only past the input barrier, due up to the observed instant, on the real clock', async () => {
    const clock = new ManualClock(1_000)
    const due = fakeTask(clock, 900)
    const notDue = fakeTask(clock, 1_500)
    let decision: BarrierDecision = undefined
    const { executor, timers, late } = setup({
      entries: [entry(0, due.task), entry(1, notDue.task)],
      decide: () => decision,
      clock,
    })
    expect(await executor.runTimers()).toEqual({ ran: 0, waiting: true })
    decision = { dueUpToMs: 950 }
    expect(await executor.runTimers()).toEqual({ ran: 1, waiting: false })
    // Due up to the observation (950), but the clock is not held there: lateness is judged on the real instant.
    expect(due.firedAt).toEqual([{ dueUpToMs: 950, clockMs: 1_000 }])
    expect(notDue.firedAt).toEqual([])
    decision = { dueUpToMs: 1_000, lateMs: 5_000 }
    await executor.runTimers()
    expect(late).toEqual([{ partition: 0, waitedMs: 5_000 }])
    expect(timers).toEqual([0, 1, 1])
  })

  it('without the barrier fires at once; sleeps until the earliest timer, at most a second', async () => {
    const clock = new ManualClock(1_000)
    const due = fakeTask(clock, 1_000)
    const { executor } = setup({ entries: [entry(0, due.task)], clock })
    expect(await executor.runTimers()).toEqual({ ran: 1, waiting: false })
    expect(due.firedAt).toEqual([{ dueUpToMs: 1_000, clockMs: 1_000 }])
    expect(setup({ entries: [entry(0, fakeTask(clock, 1_200).task)], clock }).executor.msUntilNextWake()).toBe(200)
    expect(setup({ entries: [entry(0, fakeTask(clock, 9_000).task)], clock }).executor.msUntilNextWake()).toBe(1_000)
    expect(setup({ entries: [entry(0, fakeTask(clock, 10).task)], clock }).executor.msUntilNextWake()).toBe(0)
  })
})
