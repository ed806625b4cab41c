import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../../metrics.ts'
import { WindowMax } from '../../../scheduler/scheduler-metrics.ts'

describe('WindowMax', () => {
  it('reports the largest value of the last window per key and forgets keys that fell out of it', () => {
    const window = new WindowMax({ windowMs: 60_000, slots: 6 })
    window.observe('http', 0.004, 1_000)
    window.observe('http', 0.25, 15_000)
    window.observe('email', 0.002, 30_000)
    expect(window.read(30_000)).toEqual(
      new Map([
        ['http', 0.25],
        ['email', 0.002],
      ]),
    )
    // At 75 s the slot [10 s, 20 s) is gone; the 0.25 with it. At 100 s nothing of http is left.
    window.observe('http', 0.01, 70_000)
    expect(window.read(75_000).get('http')).toBe(0.01)
    expect(window.read(140_000)).toEqual(new Map())
  })
})

describe('the metrics port', () => {
  it('runs collectors before rendering, and a failing or slow collector does not fail the scrape', async () => {
    const errors: unknown[] = []
    const metrics = createMetrics({ onCollectError: (error) => errors.push(error) })
    const remove = metrics.addCollector(async () => {
      await Promise.resolve()
      metrics.scheduler.timersPending.set({ partition: '3' }, 42)
    })
    metrics.addCollector(() => Promise.reject(new Error('broker unreachable')))
    const { body, contentType } = await metrics.render()
    expect(contentType).toMatch(/^text\/plain/)
    expect(body).toContain('flextask_scheduler_timers_pending{partition="3"} 42')
    expect(errors).toEqual([new Error('broker unreachable')])
    remove()
    metrics.scheduler.timersPending.reset()
    expect((await metrics.render()).body).not.toContain('flextask_scheduler_timers_pending{')
  })
})
