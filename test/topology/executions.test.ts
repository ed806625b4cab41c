/**
 * Overlap policies, retries, timeouts and result deduplication, driven by results piped into the scheduler.
 */
import { describe, expect, it } from 'vitest'
import { retryDelayMs } from '../../processors/jitter.ts'
import { SchedulerHarness, countBy, definition, minute, second, startMs } from './scheduler-harness.ts'

const everyMinute = { kind: 'INTERVAL' as const, everyMs: minute }
const retry = { maxAttempts: 3, backoffBaseMs: 2000, backoffFactor: 3, backoffMaxMs: 60_000, jitterRatio: 0.2 }

describe('overlap with a long-running execution', () => {
  it('SKIP records the slots that come while an execution is in flight as SKIPPED', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('s', everyMinute, { overlapPolicy: 'SKIP' }))
    const [first] = await h.executions()
    await h.result(first!, 'STARTED')
    await h.step(3 * minute, second)
    expect(await h.executions()).toEqual([])
    await h.result(first!, 'SUCCEEDED')
    await h.step(minute, second)
    expect((await h.executions()).map((e) => e.scheduledForMs - startMs)).toEqual([4 * minute])
    const outcomes = (await h.occurrences()).map((o) => [o.outcome, o.reason])
    expect(outcomes.filter(([o]) => o === 'SKIPPED')).toHaveLength(3)
  })

  it('BUFFER_ONE keeps one slot, fires it when the execution ends, and skips the others', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('b', everyMinute, { overlapPolicy: 'BUFFER_ONE' }))
    const [first] = await h.executions()
    await h.step(3 * minute - second, second)
    expect(await h.executions()).toEqual([])
    await h.result(first!, 'SUCCEEDED')
    const buffered = await h.executions()
    expect(buffered.map((e) => [e.scheduledForMs - startMs, e.firedAtMs - startMs])).toEqual([
      [minute, 3 * minute - second],
    ])
    expect(countBy(await h.occurrences(), (o) => o.outcome)).toEqual({ FIRED: 2, SKIPPED: 1 })
  })

  it('ALLOW_ALL fires every slot while others are in flight', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('a', everyMinute, { overlapPolicy: 'ALLOW_ALL' }))
    await h.step(3 * minute, second)
    expect(await h.executions()).toHaveLength(4)
  })
})

describe('retries, timeouts and results', () => {
  it('retries a failed attempt at exactly now + retryDelayMs, then DEAD with a dead letter when exhausted', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('r', { kind: 'ONE_SHOT', atMs: startMs }, { retry }))
    let [execution] = await h.executions()
    for (let attempt = 1; attempt < 3; attempt++) {
      await h.result(execution!, 'FAILED')
      const expectedMs = h.nowMs() + retryDelayMs(retry, attempt, execution!.executionId)
      await h.advance(expectedMs - h.nowMs() - 1)
      expect(await h.executions()).toEqual([])
      await h.advance(1)
      ;[execution] = await h.executions()
      expect(execution).toMatchObject({
        attempt: attempt + 1,
        trigger: 'RETRY',
        firedAtMs: expectedMs,
        dueAtMs: expectedMs,
      })
      expect(execution!.executionId).toBe(`r:${startMs}`)
    }
    await h.result(execution!, 'FAILED')
    expect((await h.schedulerResults()).map((r) => [r.status, r.attempt])).toEqual([['DEAD', 3]])
    const [dead] = await h.deadLetters()
    expect(dead).toMatchObject({
      reasonCode: 'RETRIES_EXHAUSTED',
      executionId: `r:${startMs}`,
      taskId: 'r',
      originalValue: null,
    })
    expect((await h.occurrences()).map((o) => o.outcome)).toEqual(['FIRED', 'DEAD'])
    // The DEAD result comes back through the results topic: a duplicate terminal result, ignored.
    await h.result({ ...execution!, attempt: 3 }, 'DEAD')
    await h.advance(minute)
    expect([...(await h.executions()), ...(await h.deadLetters()), ...(await h.occurrences())]).toEqual([])
  })

  it('does not retry a failure marked not retriable', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('nr', { kind: 'ONE_SHOT', atMs: startMs }, { retry }))
    const [execution] = await h.executions()
    await h.result(execution!, 'FAILED', false)
    expect((await h.schedulerResults()).map((r) => r.status)).toEqual(['DEAD'])
  })

  it('times out an attempt with TIMED_OUT and retries it without waiting for the result to come back', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('t', { kind: 'ONE_SHOT', atMs: startMs }, { retry, timeoutMs: 10 * second }))
    const [execution] = await h.executions()
    expect(execution!.deadlineAtMs).toBe(startMs + 10 * second)
    await h.result(execution!, 'STARTED')
    await h.advance(10 * second)
    const [timedOut] = await h.schedulerResults()
    expect(timedOut).toMatchObject({ status: 'TIMED_OUT', attempt: 1, workerId: null })
    await h.driver.pipeInput('flextask.task-results', 't', timedOut) // comes back: ignored
    await h.advance(retryDelayMs(retry, 1, execution!.executionId))
    expect((await h.executions()).map((e) => e.attempt)).toEqual([2])
  })

  it('ignores duplicate results and results for other attempts or unknown tasks', async () => {
    const h = await SchedulerHarness.create()
    await h.define(definition('d', { kind: 'ONE_SHOT', atMs: startMs }, { retry }))
    const [execution] = await h.executions()
    await h.result(execution!, 'FAILED')
    await h.result(execution!, 'FAILED') // duplicate delivery
    await h.result({ ...execution!, attempt: 7 }, 'FAILED')
    await h.result({ ...execution!, taskId: 'nobody', executionId: 'nobody:1' }, 'FAILED')
    await h.advance(minute * 10)
    expect((await h.executions()).map((e) => e.attempt)).toEqual([2])
    expect(await h.deadLetters()).toEqual([])
  })
})
