import { describe, expect, it } from 'vitest'
import { jitterOffsetMs, retryDelayMs, type RetryPolicy } from '../../../processors/jitter.ts'

const ids = Array.from({ length: 10_000 }, (_, i) => `exec-${i}`)

describe('jitterOffsetMs', () => {
  it('returns a whole number of ms within [0, jitterMs]', () => {
    for (const id of ids) {
      const offsetMs = jitterOffsetMs(id, 250)
      expect(Number.isInteger(offsetMs)).toBe(true)
      expect(offsetMs).toBeGreaterThanOrEqual(0)
      expect(offsetMs).toBeLessThanOrEqual(250)
    }
  })

  it('gives the same offset for the same execution id, every time', () => {
    expect(ids.slice(0, 100).map((id) => jitterOffsetMs(id, 60_000))).toEqual(
      ids.slice(0, 100).map((id) => jitterOffsetMs(id, 60_000)),
    )
    expect(jitterOffsetMs('exec-42', 60_000)).toBe(jitterOffsetMs('exec-42', 60_000))
  })

  it('spreads similar execution ids evenly over the range', () => {
    const buckets = Array<number>(10).fill(0)
    for (const id of ids) buckets[Math.min(9, Math.floor(jitterOffsetMs(id, 999) / 100))]! += 1
    for (const count of buckets) expect(count).toBeGreaterThan(850) // 1000 expected per bucket
    for (const count of buckets) expect(count).toBeLessThan(1150)
  })

  it('reaches both ends of a small range', () => {
    const seen = new Set(ids.slice(0, 200).map((id) => jitterOffsetMs(id, 1)))
    expect([...seen].sort()).toEqual([0, 1])
  })

  it('returns 0 when there is no jitter and rejects a negative range', () => {
    expect(jitterOffsetMs('exec-1', 0)).toBe(0)
    expect(() => jitterOffsetMs('exec-1', -1)).toThrow(expect.objectContaining({ code: 'FLEXTASK_CONFIG_INVALID' }))
  })
})

describe('retryDelayMs', () => {
  const exponential: RetryPolicy = { backoffBaseMs: 1000, backoffFactor: 2, backoffMaxMs: 30_000, jitterRatio: 0 }

  it('grows by the factor per failed attempt and stops at backoffMaxMs', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) => retryDelayMs(exponential, attempt, 'exec-1'))
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
  })

  it('keeps a constant delay with factor 1', () => {
    const constant = { ...exponential, backoffFactor: 1 }
    expect([1, 5, 50].map((attempt) => retryDelayMs(constant, attempt, 'exec-1'))).toEqual([1000, 1000, 1000])
  })

  it('stays within ± jitterRatio of the capped delay', () => {
    const jittered = { ...exponential, jitterRatio: 0.2 }
    for (const id of ids.slice(0, 2000)) {
      for (const [attempt, delayMs] of [
        [1, 1000],
        [3, 4000],
        [9, 30_000],
      ] as const) {
        const actualMs = retryDelayMs(jittered, attempt, id)
        expect(actualMs).toBeGreaterThanOrEqual(delayMs * 0.8)
        expect(actualMs).toBeLessThanOrEqual(delayMs * 1.2)
      }
    }
  })

  it('is fixed per (execution, attempt) but differs between executions and attempts', () => {
    const jittered = { ...exponential, jitterRatio: 0.5 }
    expect(retryDelayMs(jittered, 3, 'exec-7')).toBe(retryDelayMs(jittered, 3, 'exec-7'))
    const acrossExecutions = new Set(ids.slice(0, 100).map((id) => retryDelayMs(jittered, 3, id)))
    expect(acrossExecutions.size).toBeGreaterThan(50)
    const firstAttempts = ids.slice(0, 100).map((id) => retryDelayMs({ ...jittered, backoffFactor: 1 }, 1, id))
    const secondAttempts = ids.slice(0, 100).map((id) => retryDelayMs({ ...jittered, backoffFactor: 1 }, 2, id))
    expect(secondAttempts).not.toEqual(firstAttempts)
  })

  it('never returns a negative delay, even with a jitter ratio of 1', () => {
    const wild = { ...exponential, jitterRatio: 1 }
    for (const id of ids.slice(0, 2000)) expect(retryDelayMs(wild, 1, id)).toBeGreaterThanOrEqual(0)
  })

  it('caps the delay when the factor overflows to Infinity', () => {
    expect(retryDelayMs({ ...exponential, backoffFactor: 10 }, 5000, 'exec-1')).toBe(30_000)
    expect(retryDelayMs({ ...exponential, backoffBaseMs: 0, backoffFactor: 10 }, 5000, 'exec-1')).toBe(0)
  })

  it('rejects an attempt number below 1 and a jitter ratio above 1', () => {
    expect(() => retryDelayMs(exponential, 0, 'exec-1')).toThrow(/failedAttempt must be an integer >= 1/)
    expect(() => retryDelayMs({ ...exponential, jitterRatio: 1.5 }, 1, 'exec-1')).toThrow(/jitterRatio/)
  })
})
