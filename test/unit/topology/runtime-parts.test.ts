import type { Consumer } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { backoffMs, sleepUnless } from '../../../topology/backoff.ts'
import { ManualClock } from '../../../topology/clocks.ts'
import { chunksOfBytes } from '../../../topology/eos-producer.ts'
import { InputBarrier } from '../../../topology/input-barrier.ts'
import type { RecordBuffer } from '../../../topology/record-buffer.ts'

describe('backoff (review C9)', () => {
  it('doubles from the initial delay up to the cap, with ±20 % jitter', () => {
    const mid = () => 0.5
    expect([1, 2, 3, 4, 10].map((a) => backoffMs(a, { initialMs: 100, maxMs: 5000 }, mid))).toEqual([
      100, 200, 400, 800, 5000,
    ])
    expect(backoffMs(1, {}, () => 0)).toBe(80)
    expect(backoffMs(1, {}, () => 1)).toBe(120)
    expect(backoffMs(50, { maxMs: 5000 }, () => 1)).toBe(5000)
  })

  it('a sleep ends early only when its signal aborts', async () => {
    const controller = new AbortController()
    const startedAt = performance.now()
    const sleeping = sleepUnless(10_000, controller.signal)
    setTimeout(() => controller.abort(), 20)
    await sleeping
    expect(performance.now() - startedAt).toBeLessThan(5_000)
  })
})

describe('chunksOfBytes', () => {
  it('splits records so that no chunk passes the byte limit, keeping order', () => {
    const item = (n: number) => ({ key: null, value: Buffer.alloc(n) })
    const chunks = [...chunksOfBytes([item(100), item(100), item(300), item(10)], 300)]
    expect(chunks.map((c) => c.map((i) => i.value.length))).toEqual([[100], [100], [300], [10]])
    expect([...chunksOfBytes([item(10), item(10)], 1000)]).toHaveLength(1)
  })
})

describe('InputBarrier: fire at T only after reading input committed before T (issue 8)', () => {
  function setup(highWatermark: bigint) {
    const clock = new ManualClock(1_000)
    const requests: number[] = []
    const consumer = {
      listOffsets: () => {
        requests.push(clock.nowMs())
        return Promise.resolve(new Map([['in', [highWatermark]]]))
      },
    } as unknown as Consumer
    let fetched: bigint | undefined = 0n
    let heldBelow = false
    const buffer = {
      fetchedUpTo: () => fetched,
      holdsBelow: () => heldBelow,
    } as unknown as RecordBuffer
    const barrier = new InputBarrier({ consumer, topics: ['in'], clock, maxWaitMs: 5_000, notify: () => {} })
    return {
      clock,
      requests,
      barrier,
      buffer,
      setFetched: (f: bigint | undefined) => (fetched = f),
      setHeldBelow: (h: boolean) => (heldBelow = h),
    }
  }
  const assigned = new Set([0])
  const tick = () => new Promise((r) => setTimeout(r, 0))

  it('waits for an end-offset observation made at or after the due instant, then for the fetch to reach it', async () => {
    const s = setup(42n)
    expect(s.barrier.decide(0, 1_000, s.buffer, assigned)).toBeUndefined()
    await tick()
    expect(s.requests).toEqual([1_000])
    // Observed high watermark 42; the stream has fetched up to 0.
    expect(s.barrier.decide(0, 1_000, s.buffer, assigned)).toBeUndefined()
    s.setFetched(42n)
    s.setHeldBelow(true) // fetched, but still queued in the inbox: process it first
    expect(s.barrier.decide(0, 1_000, s.buffer, assigned)).toBeUndefined()
    s.setHeldBelow(false)
    s.clock.advance(3)
    expect(s.barrier.decide(0, 1_000, s.buffer, assigned)).toEqual({ dueUpToMs: 1_000 })
  })

  it('asks again for timers due after the last observation', async () => {
    const s = setup(0n)
    s.barrier.decide(0, 1_000, s.buffer, assigned)
    await tick()
    expect(s.barrier.decide(0, 1_000, s.buffer, assigned)).toEqual({ dueUpToMs: 1_000 })
    s.clock.advance(500)
    expect(s.barrier.decide(0, 1_400, s.buffer, assigned)).toBeUndefined()
    await tick()
    expect(s.requests).toEqual([1_000, 1_500])
    expect(s.barrier.decide(0, 1_400, s.buffer, assigned)).toEqual({ dueUpToMs: 1_500 })
  })

  it('fires without the input after maxWaitMs (a transaction left open on an input) and says how late', async () => {
    const s = setup(42n)
    s.barrier.decide(0, 1_000, s.buffer, assigned)
    await tick()
    s.clock.advance(5_000)
    expect(s.barrier.decide(0, 1_000, s.buffer, assigned)).toEqual({ dueUpToMs: 6_000, lateMs: 5_000 })
  })
})
