/**
 * Misfire policies after an outage, DST transitions, and a wall clock that steps backwards.
 */
import { describe, expect, it } from 'vitest'
import { SchedulerHarness, countBy, definition, hour, minute, second, startMs } from './scheduler-harness.ts'

const everyMinute = { kind: 'CRON' as const, cron: '0 * * * * *' }

describe('misfire after a 2-hour outage (clock advanced 2 h in one step)', () => {
  it('FIRE_ALL fires every missed slot as CATCH_UP, bounded per wake-up, and completes', async () => {
    const h = await SchedulerHarness.create({ config: { maxCatchUpPerWake: 25 } })
    await h.define(definition('all', everyMinute, { misfirePolicy: 'FIRE_ALL' }))
    expect(await h.executions()).toHaveLength(1) // the slot at creation
    const cyclesBefore = h.driver.topic('test-app-timers-changelog').length
    await h.advance(2 * hour)
    const fired = await h.executions()
    expect(fired).toHaveLength(120)
    expect(countBy(fired, (e) => e.trigger)).toEqual({ CATCH_UP: 120 })
    expect(new Set(fired.map((e) => e.executionId)).size).toBe(120)
    // 120 catch-up fires at 25 per wake-up took at least 5 committed wake-ups.
    const timerWrites = h.driver.topic('test-app-timers-changelog').length - cyclesBefore
    expect(timerWrites).toBeGreaterThanOrEqual(5)
    await h.advance(minute)
    expect((await h.executions()).map((e) => e.trigger)).toEqual(['SCHEDULE'])
  })

  it('FIRE_LAST fires the latest slot as CATCH_UP and records the others MISSED', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('last', everyMinute, { misfirePolicy: 'FIRE_LAST' }))
    await h.occurrences()
    await h.executions()
    await h.advance(2 * hour)
    const fired = await h.executions()
    expect(fired.map((e) => [e.trigger, e.scheduledForMs])).toEqual([['CATCH_UP', startMs + 2 * hour]])
    expect(countBy(await h.occurrences(), (o) => o.outcome)).toEqual({ MISSED: 119, FIRED: 1 })
  })

  it('SKIP records only MISSED and fires the next future slot on time', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('skip', everyMinute, { misfirePolicy: 'SKIP' }))
    await h.occurrences()
    await h.executions()
    await h.advance(2 * hour)
    expect(await h.executions()).toEqual([])
    const occurrences = await h.occurrences()
    expect(countBy(occurrences, (o) => o.outcome)).toEqual({ MISSED: 120 })
    await h.advance(minute)
    expect((await h.executions()).map((e) => [e.trigger, e.firedAtMs])).toEqual([
      ['SCHEDULE', startMs + 2 * hour + minute],
    ])
  })

  it('bounds the missed slots one misfire enumerates and summarises the rest', async () => {
    const h = await SchedulerHarness.create({ config: { maxOccurrencesPerCatchUp: 50 } })
    await h.define(definition('bounded', everyMinute, { misfirePolicy: 'SKIP' }))
    await h.occurrences()
    await h.advance(2 * hour)
    const occurrences = await h.occurrences()
    expect(occurrences).toHaveLength(51)
    expect(occurrences.at(-1)?.reason).toMatch(/catch-up limit 50 reached/)
    await h.advance(minute)
    expect(await h.executions()).toHaveLength(2)
  })
})

/** Steps one second at a time through [fromMs, fromMs + spanMs) with an every-second cron created at fromMs. */
async function everySecondAcross(zone: string, fromMs: number, spanMs: number) {
  const h = await SchedulerHarness.create({ startMs: fromMs })
  await h.define(definition('tick', { kind: 'CRON', cron: '* * * * * *', timezone: zone }, { createdAtMs: fromMs }))
  await h.step(spanMs - second, second)
  const fired = await h.executions()
  expect(new Set(fired.map((e) => e.executionId)).size).toBe(fired.length)
  expect(fired.every((e) => e.firedAtMs === e.scheduledForMs && e.trigger === 'SCHEDULE')).toBe(true)
  expect(fired.every((e, i) => e.scheduledForMs === fromMs + i * second)).toBe(true)
  return fired
}

describe('daylight saving time', () => {
  it('an every-second cron in Europe/Berlin has no hole at spring-forward', async () => {
    const fired = await everySecondAcross('Europe/Berlin', Date.UTC(2026, 2, 29, 0, 58), 4 * minute)
    expect(fired).toHaveLength(240)
  })

  // Stepped through the edges of the repeated hour only: the executions of an every-second task pile up in flight
  // without results, so a whole hour of them through the driver is slow; the calculator tests cover the hour.
  it('an every-second cron in Europe/Berlin fires both passes of the repeated hour at fall-back, once a real second', async () => {
    // 02:59 CEST = 00:59 UTC; at 01:00 UTC the wall clock goes back to 02:00 CET and the seconds fire again.
    const intoRepeat = await everySecondAcross('Europe/Berlin', Date.UTC(2026, 9, 25, 0, 59), 3 * minute)
    expect(intoRepeat).toHaveLength(180)
    // 02:59 CET = 01:59 UTC; at 02:00 UTC the repeat ends at 03:00 CET.
    const outOfRepeat = await everySecondAcross('Europe/Berlin', Date.UTC(2026, 9, 25, 1, 59), 2 * minute)
    expect(outOfRepeat).toHaveLength(120)
  })

  it('an every-second cron in America/New_York has no hole at spring-forward and fires once a real second at fall-back', async () => {
    expect(await everySecondAcross('America/New_York', Date.UTC(2026, 2, 8, 6, 59), 2 * minute)).toHaveLength(120)
    const fallBack = await everySecondAcross('America/New_York', Date.UTC(2026, 10, 1, 5, 59), 3 * minute)
    expect(fallBack).toHaveLength(180)
  })

  it('an hourly cron in Europe/Berlin fires at 02:00 CEST and at 02:00 CET, each with its own executionId', async () => {
    const fromMs = Date.UTC(2026, 9, 24, 23, 30)
    const h = await SchedulerHarness.create({ startMs: fromMs })
    await h.define(
      definition('hourly', { kind: 'CRON', cron: '0 0 * * * *', timezone: 'Europe/Berlin' }, { createdAtMs: fromMs }),
    )
    await h.step(3 * hour, minute)
    const fired = await h.executions()
    expect(fired.map((e) => [e.executionId, e.trigger, e.firedAtMs === e.scheduledForMs])).toEqual([
      [`hourly:${Date.UTC(2026, 9, 25, 0)}`, 'SCHEDULE', true], // 02:00 CEST
      [`hourly:${Date.UTC(2026, 9, 25, 1)}`, 'SCHEDULE', true], // 02:00 CET
      [`hourly:${Date.UTC(2026, 9, 25, 2)}`, 'SCHEDULE', true], // 03:00 CET
    ])
  })

  it('a daily cron at 02:30 fires once on both transition days in both zones', async () => {
    for (const [zone, spring, fall] of [
      ['Europe/Berlin', Date.UTC(2026, 2, 28), Date.UTC(2026, 9, 24)],
      ['America/New_York', Date.UTC(2026, 2, 7), Date.UTC(2026, 9, 31)],
    ] as const) {
      for (const dayMs of [spring, fall]) {
        const h = await SchedulerHarness.create({ startMs: dayMs })
        await h.define(
          definition('daily', { kind: 'CRON', cron: '0 30 2 * * *', timezone: zone }, { createdAtMs: dayMs }),
        )
        await h.step(3 * 24 * hour, minute)
        const fired = await h.executions()
        expect(fired).toHaveLength(3)
        expect(new Set(fired.map((e) => e.executionId)).size).toBe(3)
      }
    }
  })
})

describe('a wall clock stepping backwards', () => {
  it('never fires a slot twice', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('back', { kind: 'INTERVAL', everyMs: 10 * second }))
    await h.step(35 * second, second)
    expect(await h.executions()).toHaveLength(4)
    await h.advance(-30 * second)
    await h.step(30 * second, second)
    expect(await h.executions()).toEqual([])
    await h.step(10 * second, second)
    expect((await h.executions()).map((e) => e.scheduledForMs - startMs)).toEqual([40_000])
  })
})
