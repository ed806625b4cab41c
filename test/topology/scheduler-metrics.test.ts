/**
 * Scheduler metrics are derived from the records the topology committed, so they agree with the occurrence ledger,
 * the executions topics and the dead-letter topic by construction: the same records, counted.
 */
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../metrics.ts'
import { reasonLabel, SchedulerOutputMetrics } from '../../scheduler/scheduler-metrics.ts'
import { SchedulerHarness, countBy, definition, minute, second, startMs, topics } from './scheduler-harness.ts'

/** Feeds every record the harness's scheduler committed to a fresh metrics registry; returns its exposition. */
async function metricsOf(h: SchedulerHarness): Promise<string> {
  const metrics = createMetrics()
  const observer = new SchedulerOutputMetrics({ metrics: metrics.scheduler, serdes: h.serdes, topics })
  const outputs = [topics.executions('http'), topics.executions('email'), topics.occurrences, topics.deadLetter]
  await observer.committed(
    outputs.flatMap((topic) => h.driver.topic(topic)),
    2.5,
  )
  return (await metrics.render()).body
}

function sample(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('scheduler metrics from committed records', () => {
  it('count fires, lateness, occurrences by outcome and reason, and dead letters like the ledger', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('every-minute', { kind: 'INTERVAL', everyMs: minute }, { overlapPolicy: 'SKIP' }))
    await h.define(definition('mail', { kind: 'ONE_SHOT', atMs: startMs + 30 * second }, { category: 'email' }))
    await h.define(definition('bad', { kind: 'CRON', cron: '61 * * * * *', timezone: 'UTC' }))
    // 3 ms late: the due instant passes between two clock steps.
    await h.advance(30 * second + 3)
    await h.step(3 * minute, second)

    const executions = [...(await h.executions('http')), ...(await h.executions('email'))]
    const occurrences = await h.occurrences()
    const deadLetters = await h.deadLetters()
    const text = await metricsOf(h)

    expect(sample(text, 'flextask_scheduler_fires_total{category="http",trigger="SCHEDULE"}')).toBe(
      executions.filter((e) => e.category === 'http').length,
    )
    expect(sample(text, 'flextask_scheduler_fires_total{category="email",trigger="SCHEDULE"}')).toBe(1)
    const byOutcome = countBy(occurrences, (o) => `${o.outcome}|${reasonLabel(o.reason)}`)
    for (const [key, count] of Object.entries(byOutcome)) {
      const [outcome, reason] = key.split('|')
      expect(sample(text, `flextask_scheduler_occurrences_total{outcome="${outcome}",reason="${reason}"}`), key).toBe(
        count,
      )
    }
    expect(byOutcome['SKIPPED|overlap']).toBeGreaterThan(0)
    expect(deadLetters.map((d) => d.reasonCode)).toEqual(['INVALID_DEFINITION'])
    expect(sample(text, 'flextask_scheduler_dead_letters_total{reason="INVALID_DEFINITION"}')).toBe(1)

    // The one-shot fired 3 ms late: in the 3 ms bucket, not the 2 ms one.
    const mail = executions.find((e) => e.taskId === 'mail')!
    expect(mail.firedAtMs - mail.dueAtMs).toBe(3)
    expect(sample(text, 'flextask_scheduler_fire_lateness_seconds_bucket{le="0.002",category="email"}')).toBe(0)
    expect(sample(text, 'flextask_scheduler_fire_lateness_seconds_bucket{le="0.003",category="email"}')).toBe(1)
    expect(sample(text, 'flextask_scheduler_transactions_total{outcome="committed"}')).toBe(1)
    expect(sample(text, 'flextask_scheduler_commit_duration_seconds_sum')).toBe(0.0025)
  })
})

describe('reasonLabel', () => {
  it.each([
    ['schedule', 'schedule'],
    ['overlap: skip; an execution is in flight', 'overlap'],
    ['misfire: fire-last, a later slot fired instead', 'misfire fire-last'],
    ['misfire: skip', 'misfire skip'],
    ['cancelled by alice@example.com', 'cancelled'],
    ['manual: bob', 'manual'],
    ['retries exhausted: failed: E_HTTP 503 upstream', 'retries exhausted'],
    ['paused while buffered (overlap)', 'paused while buffered'],
    ['Ünïcode 123', 'other'],
    [null, 'none'],
  ])('labels %j as %j', (reason, label) => {
    expect(reasonLabel(reason)).toBe(label)
  })
})
