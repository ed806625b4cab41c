/**
 * The history routes through `inject()` on the in-memory read model: runs, one execution with its logs, the
 * occurrence ledger of a window, next instants from the scheduler's calculator, dead letters and the monitor.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ScheduleCalculator } from '../../../processors/schedule-calculator.ts'
import { auth } from '../../helpers/memory-api.ts'
import { addRun, closeApps, create, now, setup, task } from './route-kit.ts'

afterEach(closeApps)

describe('history', () => {
  it('lists runs (also on the monitor path) and shows one execution with its logs', async () => {
    const { app, store } = await setup()
    await create(app, task('h'))
    addRun(store, 'h', now - 2000, 'SUCCEEDED')
    addRun(store, 'h', now - 1000, 'DEAD')
    store.logs.set(`h:${now - 1000}`, [
      { attempt: 1, seq: 0, level: 'INFO', message: 'start', fields: null, loggedAtMs: now - 990, worker: 'w1' },
    ])
    for (const path of ['/api/tasks/h/executions', '/api/monitor/tasks/h/executions']) {
      const res = await app.inject({ url: path, headers: auth('read') })
      expect(res.statusCode).toBe(200)
      expect(res.json().items.map((r: { status: string }) => r.status)).toEqual(['DEAD', 'SUCCEEDED'])
    }
    const execution = await app.inject({ url: `/api/executions/h:${now - 1000}`, headers: auth('read') })
    expect(execution.json()).toMatchObject({
      taskId: 'h',
      attempts: [{ status: 'DEAD', error: { message: 'boom' } }],
      logs: [{ message: 'start' }],
    })
    expect((await app.inject({ url: '/api/executions/h:1', headers: auth('read') })).statusCode).toBe(404)
    expect((await app.inject({ url: '/api/tasks/none/executions', headers: auth('read') })).statusCode).toBe(404)
  })

  it('shows the occurrence ledger of a window, and rejects bad windows', async () => {
    const { app, store } = await setup()
    await create(app, task('o'))
    store.occurrences.set('o', [
      { scheduledForMs: now - 7200_000, outcome: 'FIRED', reason: null, executionId: 'o:1', recordedAtMs: now },
      { scheduledForMs: now - 1000, outcome: 'MISSED', reason: 'misfire', executionId: null, recordedAtMs: now },
    ])
    const lastHour = (await app.inject({ url: '/api/tasks/o/occurrences', headers: auth('read') })).json()
    expect(lastHour.items.map((o: { outcome: string }) => o.outcome)).toEqual(['MISSED'])
    const iso = new Date(now - 8000_000).toISOString()
    const wide = (
      await app.inject({ url: `/api/tasks/o/occurrences?from=${iso}&to=${now}`, headers: auth('read') })
    ).json()
    expect(wide.items).toHaveLength(2)
    const bad = await app.inject({ url: '/api/tasks/o/occurrences?from=yesterday', headers: auth('read') })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().field).toBe('from')
    expect(
      (await app.inject({ url: `/api/tasks/o/occurrences?from=${now}&to=${now - 1}`, headers: auth('read') }))
        .statusCode,
    ).toBe(400)
  })

  it("computes the next instants with the scheduler's calculator", async () => {
    const { app, store } = await setup()
    await create(app, task('n'))
    const res = await app.inject({ url: '/api/tasks/n/next?count=3', headers: auth('read') })
    expect(res.statusCode).toBe(200)
    const definition = store.tasks.get('n')!.definition!
    const expected = ScheduleCalculator.occurrencesBetween(
      definition.schedule,
      definition.createdAtMs,
      now,
      Infinity,
      3,
    )
    expect(res.json().instants.map((i: { atMs: number }) => i.atMs)).toEqual(expected)
    expect(res.json().instants[0].at).toBe(new Date(expected[0]!).toISOString())
    expect((await app.inject({ url: '/api/tasks/n/next?count=0', headers: auth('read') })).statusCode).toBe(400)
  })

  it('lists dead letters and the monitor summary', async () => {
    const { app, store } = await setup()
    store.deadLetters.push({
      topic: 't.dead-letter',
      partition: 0,
      offset: '4',
      sourceTopic: 't.task-definitions',
      sourcePartition: 1,
      sourceOffset: '9',
      reasonCode: 'INVALID_DEFINITION',
      message: 'schedule.cron: bad',
      taskId: 'x',
      executionId: null,
      failedAtMs: now,
    })
    const dl = await app.inject({ url: '/api/dead-letters?reason=INVALID_DEFINITION', headers: auth('read') })
    expect(dl.json()).toMatchObject({ total: 1, items: [{ taskId: 'x', offset: '4' }] })
    await create(app, task('m'))
    const summary = await app.inject({ url: '/api/monitor/metrics', headers: auth('read') })
    expect(summary.json()).toMatchObject({ tasksByStatus: { ACTIVE: 1 }, latenessMs: null })
  })
})
