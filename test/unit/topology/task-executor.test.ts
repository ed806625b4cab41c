import type { Message } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, FlextaskError } from '../../../errors.ts'
import { ManualClock } from '../../../topology/clocks.ts'
import type { BarrierDecision } from '../../../topology/input-barrier.ts'
import { type InputLateEvent, type RetryingEvent, RuntimeEvents } from '../../../topology/runtime-events.ts'
import type { RawRecord, StreamTask } from '../../../topology/stream-task.ts'
import { TaskExecutor } from '../../../topology/task-executor.ts'
import type { TaskEntry } from '../../../topology/task-manager.ts'

/** A fake task: records what it processed, and the due horizon and clock its timers ran with. */
function fakeTask(clock: ManualClock, nextWakeMs?: number, costMs = 0, base?: ManualClock) {
  const processed: bigint[] = []
  const firedAt: { dueUpToMs: number | undefined; clockMs: number }[] = []
  const task = {
    process: (r: RawRecord) => {
      base?.advance(costMs)
      return Promise.resolve(void processed.push(r.offset))
    },
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

const message = (partition: number, offset: number, value: Buffer | null = null) =>
  ({
    topic: 'in',
    partition,
    offset: BigInt(offset),
    key: null,
    value,
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
  slice?: number
  maxBytes?: number
  /** The time budget's clock (the manual clock in these tests). */
  elapsed?: ManualClock
  maxInputMs?: number
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
      putBack: (p: number, messages: Message[]) => void (inbox.get(p) ?? []).unshift(...messages),
      fetchedUpTo: () => undefined,
      holdsBelow: () => false,
    } as never,
    cycle: {
      get uncommittedRecords() {
        return (options.uncommitted ?? 0) + consumed.length
      },
      get uncommittedBytes() {
        return consumed.reduce((n, m) => n + (m.value?.length ?? 0), 0)
      },
      consumed: (m) => void consumed.push(m),
      timersRan: (n) => void timers.push(n),
    },
    barrier: options.decide === undefined ? undefined : { decide: options.decide },
    clock: options.clock,
    events,
    maxRecordsPerCycle: options.max ?? 10,
    catchUpSliceRecords: options.slice ?? 100,
    maxBytesPerCycle: options.maxBytes ?? 1024 * 1024,
    maxInputMsPerPass: options.maxInputMs ?? 100,
    elapsedMs: () => (options.elapsed ?? new ManualClock(0)).nowMs(),
    outageGiveUpMs: 60_000,
  })
  return { executor, consumed, timers, late, events }
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

  it('fires on-time tasks before a catching-up one, whose wake-up then yields after its slice', async () => {
    const clock = new ManualClock(1_000)
    const order: number[] = []
    let yieldedAfter = -1
    const fair = (partition: number, catchingUp: boolean) => {
      let records = 0
      const task = {
        partition,
        catchingUp,
        nextWakeMs: () => 1_000,
        pendingLoad: () => ({ records, bytes: 0 }),
        runDueTimers: (_dueUpToMs: number, shouldYield: () => boolean) => {
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
    const clock = new ManualClock(1_000)
    const due = fakeTask(clock, 1_000)
    const { executor } = setup({ entries: [entry(0, due.task)], clock })
    expect(await executor.runTimers()).toEqual({ ran: 1, waiting: false })
    expect(due.firedAt).toEqual([{ dueUpToMs: 1_000, clockMs: 1_000 }])
    expect(setup({ entries: [entry(0, fakeTask(clock, 1_200).task)], clock }).executor.msUntilNextWake()).toBe(200)
    expect(setup({ entries: [entry(0, fakeTask(clock, 9_000).task)], clock }).executor.msUntilNextWake()).toBe(1_000)
    expect(setup({ entries: [entry(0, fakeTask(clock, 10).task)], clock }).executor.msUntilNextWake()).toBe(0)
  })
  it('a flood of slow records yields to a due timer after the pass time budget, keeping offset order', async () => {
    const base = new ManualClock(1_000)
    const clock = base
    const flooded = fakeTask(clock, 1_000, 10, base) // every record costs 10 ms, a timer is due now
    const inbox = new Map([[0, range(0, 0, 1_000)]])
    const { executor } = setup({ entries: [entry(0, flooded.task)], inbox, clock, max: 5_000, elapsed: base })
    expect(await executor.processRecords()).toBe(10)
    expect(await executor.runTimers()).toEqual({ ran: 1, waiting: false })
    expect(flooded.firedAt).toEqual([{ dueUpToMs: 1_100, clockMs: 1_100 }]) // late by the budget, not by 50 s
    expect(await executor.processRecords()).toBe(10)
    expect(flooded.processed).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i)))
    expect(inbox.get(0)?.[0]?.offset).toBe(20n) // records taken but not processed went back, in order
  })

  it('rotates the first turn, so a flooded partition delays another partition by at most one pass', async () => {
    const base = new ManualClock(0)
    const clock = base
    const [a, b] = [fakeTask(clock, undefined, 10, base), fakeTask(clock, undefined, 10, base)]
    const inbox = new Map([
      [0, range(0, 0, 1_000)],
      [1, range(1, 0, 5)],
    ])
    const entries = [entry(0, a.task), entry(1, b.task)]
    const { executor } = setup({ entries, inbox, clock, max: 5_000, elapsed: base })
    await executor.processRecords()
    expect([a.processed.length, b.processed.length]).toEqual([10, 0])
    await executor.processRecords()
    expect([a.processed.length, b.processed.length]).toEqual([15, 5])
  })

  it('stops at the cycle byte cap (the loop then commits) and leaves the rest buffered', async () => {
    const clock = new ManualClock(0)
    const a = fakeTask(clock)
    const big = Buffer.alloc(400_000)
    const inbox = new Map([[0, Array.from({ length: 10 }, (_, i) => message(0, i, big))]])
    const { executor, consumed } = setup({ entries: [entry(0, a.task)], inbox, clock, max: 5_000 })
    expect(await executor.processRecords()).toBe(3) // 1.2 MB: the first record past 1 MiB ends the pass
    expect(consumed.map((m) => m.offset)).toEqual([0n, 1n, 2n])
    expect(inbox.get(0)).toHaveLength(7)
    expect(await executor.processRecords()).toBe(0) // the cycle is full until it commits
  })
  it('a record whose writer schema cannot be looked up holds only its own partition, retried in order after a backoff', async () => {
    const base = new ManualClock(0)
    const clock = base
    let registryUp = false
    const seen: bigint[] = []
    const waiting = {
      process: (r: RawRecord) => {
        if (!registryUp && r.offset === 1n) {
          const cause = new FlextaskError(ErrorCodes.registry, 'schema registry GET failed: ECONNREFUSED', {
            retriable: true,
          })
          return Promise.reject(cause)
        }
        seen.push(r.offset)
        return Promise.resolve()
      },
      nextWakeMs: () => undefined,
      runDueTimers: () => Promise.resolve(0),
      hasWork: () => seen.length > 0,
    } as unknown as StreamTask
    const other = fakeTask(clock)
    const inbox = new Map([
      [0, range(0, 0, 3)],
      [1, range(1, 0, 3)],
    ])
    const retrying: RetryingEvent[] = []
    const { executor, consumed, events } = setup({
      entries: [entry(0, waiting), entry(1, other.task)],
      inbox,
      clock,
      max: 5_000,
      elapsed: base,
    })
    events.add({ onRetrying: (e) => retrying.push(e) })
    expect(await executor.processRecords()).toBe(4) // partition 0 stops at offset 1; partition 1 goes on
    expect(seen).toEqual([0n])
    expect(other.processed).toEqual([0n, 1n, 2n])
    expect(inbox.get(0)?.map((m) => m.offset)).toEqual([1n, 2n])
    expect(retrying).toMatchObject([{ attempt: 1, backoffMs: 200, code: ErrorCodes.registry }])
    expect(executor.msUntilNextWake()).toBe(200)
    expect(await executor.processRecords()).toBe(0) // still backing off
    base.advance(200)
    expect(await executor.processRecords()).toBe(0) // the registry is still away: backoff doubles
    expect(retrying.at(-1)).toMatchObject({ attempt: 2, backoffMs: 400, failingForMs: 200 })
    registryUp = true
    base.advance(400)
    expect(await executor.processRecords()).toBe(2)
    expect(seen).toEqual([0n, 1n, 2n])
    expect(consumed.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual([0n, 1n, 2n])
  })

  it('any other retriable error from a record is thrown: the runtime aborts the cycle', async () => {
    const clock = new ManualClock(0)
    const failing = {
      process: () => Promise.reject(new FlextaskError(ErrorCodes.commitFailed, 'broker away', { retriable: true })),
      nextWakeMs: () => undefined,
    } as unknown as StreamTask
    const { executor } = setup({ entries: [entry(0, failing)], inbox: new Map([[0, range(0, 0, 2)]]), clock })
    await expect(executor.processRecords()).rejects.toMatchObject({ code: ErrorCodes.commitFailed })
  })
})
