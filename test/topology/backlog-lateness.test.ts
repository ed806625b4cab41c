/**
 * Fires after an input backlog: the runtime's input barrier lets the timers due up to the instant it observed
 * the input fire only once that input is processed, which can be minutes later. The fire is as late as the wall
 * clock says: firedAtMs, the lateness it implies and the misfire policy see the real instant, while the slots
 * after the observed instant wait for the next observation (issue 7: fires 230 s late were stamped and judged
 * as if on time, because the clock was held at the observed instant).
 */
import { describe, expect, it } from 'vitest'
import { SchedulerHarness, countBy, definition, minute, second, startMs, topics } from './scheduler-harness.ts'

const everyMinute = { kind: 'CRON' as const, cron: '0 * * * * *' }

/** `n` definitions of other tasks (one-shots a day away): input that takes the wall clock to process. */
function backlog(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const value = definition(`other-${i}`, { kind: 'ONE_SHOT', atMs: startMs + 24 * 60 * minute })
    return { topic: topics.definitions, key: value.taskId, value }
  })
}

/** A harness whose every-minute task fired its creation slot; the clock is at the next slot, not yet fired. */
async function atNextSlot(overrides: Parameters<typeof definition>[2]) {
  const h = await SchedulerHarness.create()
  await h.define(definition('cron', everyMinute, overrides))
  expect((await h.executions()).map((e) => e.scheduledForMs)).toEqual([startMs])
  await h.occurrences()
  await h.advance(minute - 1)
  // The slot's instant passes while the input is observed (the barrier holds the timer until it is read).
  h.driver.clock.advance(1)
  return h
}

describe('fires after an input backlog are stamped and judged on the real clock', () => {
  it('a slot that fires 230 s late is misfired (FIRE_LAST: CATCH_UP) and stamped 230 s after its instant', async () => {
    const h = await atNextSlot({ misfirePolicy: 'FIRE_LAST' })
    await h.driver.pipeBacklog(backlog(230), { msPerRecord: second })
    const fired = await h.executions()
    expect(fired.map((e) => [e.trigger, e.scheduledForMs, e.dueAtMs, e.firedAtMs])).toEqual([
      ['CATCH_UP', startMs + minute, startMs + minute, startMs + minute + 230 * second],
    ])
    // The slots after the observed instant (2, 3 and 4 min) were not fired on that observation …
    expect(countBy(await h.occurrences(), (o) => o.outcome)).toEqual({ FIRED: 1 })
    // … the next one handles them: still late, FIRE_LAST fires the latest and records the others MISSED.
    await h.advance(0)
    expect((await h.executions()).map((e) => [e.trigger, e.scheduledForMs, e.firedAtMs])).toEqual([
      ['CATCH_UP', startMs + 4 * minute, startMs + minute + 230 * second],
    ])
    expect((await h.occurrences()).map((o) => [o.outcome, o.scheduledForMs])).toEqual([
      ['MISSED', startMs + 2 * minute],
      ['MISSED', startMs + 3 * minute],
      ['FIRED', startMs + 4 * minute],
    ])
  })

  it('SKIP records the late slot MISSED instead of firing it', async () => {
    const h = await atNextSlot({ misfirePolicy: 'SKIP' })
    await h.driver.pipeBacklog(backlog(90), { msPerRecord: second })
    expect(await h.executions()).toEqual([])
    expect((await h.occurrences()).map((o) => [o.outcome, o.scheduledForMs])).toEqual([['MISSED', startMs + minute]])
  })

  it('a fire within the max lateness fires on schedule, with its real lateness in firedAtMs', async () => {
    const h = await atNextSlot({ misfirePolicy: 'SKIP', maxLatenessMs: minute })
    await h.driver.pipeBacklog(backlog(30), { msPerRecord: second })
    const [fired] = await h.executions()
    expect(fired?.trigger).toBe('SCHEDULE')
    expect((fired?.firedAtMs ?? 0) - (fired?.dueAtMs ?? 0)).toBe(30 * second)
  })

  it('keeps the barrier: a pause read in the backlog wins over the slot due at the observed instant', async () => {
    const h = await atNextSlot({ misfirePolicy: 'FIRE_LAST' })
    const pause = { commandId: 'c1', taskId: 'cron', kind: 'PAUSE', executionId: null, requestedAtMs: h.nowMs() }
    const command = { topic: topics.commands, key: 'cron', value: { ...pause, requestedBy: 'test' } }
    await h.driver.pipeBacklog([...backlog(100), command], { msPerRecord: second })
    expect(await h.executions()).toEqual([])
    await h.advance(10 * minute)
    expect(await h.executions()).toEqual([])
  })
})
