/**
 * Every schedule kind fires at its exact instants through the scheduler topology, on the manual wall clock.
 */
import { describe, expect, it } from 'vitest'
import { SchedulerHarness, definition, hour, minute, second, startMs } from './scheduler-harness.ts'

describe('schedule kinds', () => {
  it('fires a cron task with seconds in its time zone at each slot, on the instant', async () => {
    const h = await SchedulerHarness.create()
    // 09:00:30 and 09:00:45 Berlin (CET, UTC+1) = 08:00:30 and 08:00:45 UTC.
    await h.define(definition('cron', { kind: 'CRON', cron: '30,45 0 9 * * *', timezone: 'Europe/Berlin' }))
    await h.step(8 * hour + 2 * minute, second)
    const fired = await h.executions()
    expect(fired.map((e) => e.scheduledForMs)).toEqual([
      startMs + 8 * hour + 30 * second,
      startMs + 8 * hour + 45 * second,
    ])
    for (const e of fired) {
      expect(e.firedAtMs).toBe(e.scheduledForMs)
      expect(e.dueAtMs).toBe(e.scheduledForMs)
      expect(e).toMatchObject({ attempt: 1, trigger: 'SCHEDULE', executionId: `cron:${e.scheduledForMs}` })
    }
  })

  it('fires an interval task from its start with its phase and stops at its end', async () => {
    const h = await SchedulerHarness.create()
    const start = startMs + 10 * second
    await h.define(
      definition('iv', {
        kind: 'INTERVAL',
        everyMs: 5 * second,
        phaseMs: 2 * second,
        startAtMs: start,
        endAtMs: start + 20 * second,
      }),
    )
    await h.step(minute, second)
    const fired = await h.executions()
    expect(fired.map((e) => e.scheduledForMs - startMs)).toEqual([12_000, 17_000, 22_000, 27_000])
    expect(fired.every((e) => e.firedAtMs === e.scheduledForMs)).toBe(true)
  })

  it('fires a one-shot task once at its instant and completes', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('once', { kind: 'ONE_SHOT', atMs: startMs + 1234 }))
    await h.advance(1233)
    expect(await h.executions()).toEqual([])
    await h.advance(1)
    const [fired, ...rest] = await h.executions()
    expect(rest).toEqual([])
    expect(fired).toMatchObject({ executionId: `once:${startMs + 1234}`, firedAtMs: startMs + 1234 })
    await h.advance(hour)
    expect(await h.executions()).toEqual([])
    expect(h.driver.store<{ completed: boolean }>('tasks').get('once')?.completed).toBe(true)
  })

  it('fires a delay task its delay after creation', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('later', { kind: 'DELAY', delayMs: 90 * second }, { createdAtMs: startMs - 30 * second }))
    await h.advance(59 * second)
    expect(await h.executions()).toEqual([])
    await h.advance(second)
    expect((await h.executions()).map((e) => e.firedAtMs)).toEqual([startMs + 60 * second])
  })

  it('stops after maxRuns', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('three', { kind: 'INTERVAL', everyMs: second, maxRuns: 3 }))
    await h.step(10 * second, second)
    expect((await h.executions()).map((e) => e.scheduledForMs - startMs)).toEqual([0, 1000, 2000])
  })

  it('fires nothing after endAtMs', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('ends', { kind: 'CRON', cron: '*/10 * * * * *', endAtMs: startMs + 25 * second }))
    await h.step(minute, second)
    expect((await h.executions()).map((e) => e.scheduledForMs - startMs)).toEqual([0, 10_000, 20_000])
  })

  it('fires at the slot plus a jitter that is the same on every replay', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('jit', { kind: 'INTERVAL', everyMs: minute }, { jitterMs: 5 * second }))
    await h.step(3 * minute, 100)
    const fired = await h.executions()
    expect(fired).toHaveLength(3)
    for (const e of fired) {
      expect(e.dueAtMs - e.scheduledForMs).toBeGreaterThanOrEqual(0)
      expect(e.dueAtMs - e.scheduledForMs).toBeLessThanOrEqual(5 * second)
      expect(e.firedAtMs - e.dueAtMs).toBeLessThan(100)
    }
  })
})
