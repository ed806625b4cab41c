/**
 * Scheduler metrics are derived from the records the topology committed, so they agree with the occurrence ledger,
 * the executions topics and the dead-letter topic by construction: the same records, counted.
 */
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../metrics.ts'
import type { TaskExecution } from '../../schemas/task-execution.ts'
import { reasonLabel, SchedulerOutputMetrics } from '../../scheduler/scheduler-metrics.ts'
import {
  SchedulerHarness,
  avroSerdes,
  countBy,
  definition,
  minute,
  second,
  startMs,
  topics,
} from './scheduler-harness.ts'

const counted = [topics.executions('http'), topics.executions('email'), topics.occurrences, topics.deadLetter]

/** Feeds every record the harness's scheduler committed to `observer`; returns the exposition of `metrics`. */
async function countCommitted(
  h: SchedulerHarness,
  observer: SchedulerOutputMetrics,
  metrics: ReturnType<typeof createMetrics>,
): Promise<string> {
  await observer.committed(
    counted.flatMap((topic) => h.driver.topic(topic)),
    2.5,
  )
  observer.collect()
  return (await metrics.render()).body
}

/** The same, into a fresh registry whose observer has seen nothing serialized: it decodes every record. */
async function metricsOf(h: SchedulerHarness): Promise<string> {
  const metrics = createMetrics()
  const observer = new SchedulerOutputMetrics({
    metrics: metrics.scheduler,
    nowMs: () => h.nowMs(),
    serdes: h.serdes,
    topics,
  })
  return countCommitted(h, observer, metrics)
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
    expect(sample(text, 'flextask_scheduler_fire_lateness_max_seconds{category="email"}')).toBe(0.003)
    expect(sample(text, 'flextask_scheduler_transactions_total{outcome="committed"}')).toBe(1)
    expect(sample(text, 'flextask_scheduler_commit_duration_seconds_sum')).toBe(0.0025)
  })
})

describe('scheduler metrics from the values the topology encoded', () => {
  it('count every committed record from its noted value, decoding none, the same as decoding them', async () => {
    const metrics = createMetrics()
    const refuse = (): never => {
      throw new Error('a committed record was decoded to be counted')
    }
    const refusing = { serialize: refuse, deserialize: refuse }
    const clock = { nowMs: () => startMs }
    const observer = new SchedulerOutputMetrics({
      metrics: metrics.scheduler,
      nowMs: () => clock.nowMs(),
      serdes: { execution: refusing, occurrence: refusing, deadLetter: refusing },
      topics,
    })
    const avro = await avroSerdes()
    let mailEncodings = 0
    const execution = {
      serialize: (e: TaskExecution) => {
        if (e.taskId === 'mail') mailEncodings++
        return avro.execution.serialize(e)
      },
      deserialize: (data: Buffer) => avro.execution.deserialize(data),
    }
    const h = await SchedulerHarness.create({ serdes: observer.noting({ ...avro, execution }) })
    clock.nowMs = () => h.nowMs()
    await h.define(definition('every-minute', { kind: 'INTERVAL', everyMs: minute }, { overlapPolicy: 'SKIP' }))
    await h.define(definition('mail', { kind: 'ONE_SHOT', atMs: startMs + 30 * second }, { category: 'email' }))
    await h.define(definition('bad', { kind: 'CRON', cron: '61 * * * * *', timezone: 'UTC' }))
    await h.advance(30 * second - 1)
    // The cycle that fires the one-shot aborts and runs again: its first encoding is noted, never committed.
    h.driver.failNextCommit()
    await h.advance(4)
    await h.step(3 * minute, second)
    expect(mailEncodings).toBe(2)

    const noted = await countCommitted(h, observer, metrics)
    expect(noted).toBe(await metricsOf(h))
    const fired = [...(await h.executions('http')), ...(await h.executions('email'))]
    expect(fired.filter((e) => e.taskId === 'mail')).toHaveLength(1)
    expect(sample(noted, 'flextask_scheduler_fires_total{category="email",trigger="SCHEDULE"}')).toBe(1)
    expect(sample(noted, 'flextask_scheduler_fires_total{category="http",trigger="SCHEDULE"}')).toBe(
      fired.filter((e) => e.category === 'http').length,
    )
    expect(sample(noted, 'flextask_scheduler_dead_letters_total{reason="INVALID_DEFINITION"}')).toBe(1)
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
