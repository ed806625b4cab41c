/**
 * The task routes through `inject()` on the in-memory read model: create (idempotency, read-your-writes), read,
 * update, pause/resume, delete, and the commands (trigger, cancel, retry).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { auth } from '../../helpers/memory-api.ts'
import { addRun, closeApps, create, cron, now, setup, task } from './route-kit.ts'

afterEach(closeApps)

describe('POST /api/tasks', () => {
  it('creates a task, answers 201 with the offset it produced, and a GET right after sees it', async () => {
    const { app } = await setup()
    const res = await create(app, task('t1', { payload: { url: 'http://x' }, labels: { team: 'a' } }))
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(body).toMatchObject({ taskId: 't1', projected: true, task: { taskId: 't1', status: 'ACTIVE', version: 1 } })
    expect(body.position).toMatchObject({ topic: 't.task-definitions', offset: '0' })
    expect(body.position.token).toBe(`${body.position.partition}:0`)
    expect(res.headers.location).toBe('/api/tasks/t1')
    const read = await app.inject({ url: '/api/tasks/t1', headers: auth('read') })
    expect(read.statusCode).toBe(200)
    expect(read.json().definition).toMatchObject({ taskId: 't1', payload: { url: 'http://x' }, createdAtMs: now })
  })

  it('generates a taskId when none is given', async () => {
    const { app } = await setup()
    const res = await create(app, { category: 'email', type: 'send', schedule: { kind: 'DELAY', delayMs: 1000 } })
    expect(res.statusCode).toBe(201)
    expect(res.json().taskId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('answers 202 with wait=false, and a read with minOffset waits until the projection has it', async () => {
    const { app, store } = await setup()
    store.autoProject = false
    const res = await create(app, task('t2'), {}, '?wait=false')
    expect(res.statusCode).toBe(202)
    expect(res.json()).toMatchObject({ projected: false, task: null })
    const token = res.json().position.token as string
    expect((await app.inject({ url: '/api/tasks/t2', headers: auth('read') })).statusCode).toBe(404)
    setTimeout(() => store.projectAll(), 50)
    const read = await app.inject({ url: `/api/tasks/t2?minOffset=${token}`, headers: auth('read') })
    expect(read.statusCode).toBe(200)
    expect(read.json().taskId).toBe('t2')
  })

  it('answers 202 when the projection does not catch up in time, and a read with minOffset answers 503', async () => {
    const { app, store } = await setup({ readYourWritesTimeoutMs: 100 })
    store.autoProject = false
    const res = await create(app, task('t3'))
    expect(res.statusCode).toBe(202)
    const read = await app.inject({
      url: `/api/tasks/t3?minOffset=${res.json().position.token}`,
      headers: auth('read'),
    })
    expect(read.statusCode).toBe(503)
    expect(read.json()).toMatchObject({ code: 'FLEXTASK_API_PROJECTION_BEHIND', status: 503 })
  })

  const invalid: [string, Record<string, unknown>, string, string][] = [
    ['a bad cron', { schedule: { kind: 'CRON', cron: '61 * * * * *' } }, 'schedule.cron', 'FLEXTASK_SCHEDULE_INVALID'],
    [
      'an unknown zone',
      { schedule: { ...cron, timezone: 'Mars/Olympus' } },
      'schedule.timezone',
      'FLEXTASK_SCHEDULE_INVALID',
    ],
    ['an unknown category', { category: 'fax' }, 'category', 'FLEXTASK_DEFINITION_INVALID'],
    ['an oversized payload', { payload: { blob: 'x'.repeat(20_000) } }, 'payload', 'FLEXTASK_DEFINITION_OVERSIZED'],
    [
      'a wrong type',
      { schedule: { kind: 'INTERVAL', everyMs: 'often' } },
      'schedule.everyMs',
      'FLEXTASK_API_REQUEST_INVALID',
    ],
    ['a missing field', { type: undefined }, 'type', 'FLEXTASK_API_REQUEST_INVALID'],
    ['an unknown field', { colour: 'red' }, 'colour', 'FLEXTASK_API_REQUEST_INVALID'],
    ['a bad retry', { retry: { maxAttempts: 0 } }, 'retry.maxAttempts', 'FLEXTASK_DEFINITION_INVALID'],
    ['a bad taskId', { taskId: 'has space' }, 'taskId', 'FLEXTASK_API_REQUEST_INVALID'],
  ]
  for (const [what, change, field, code] of invalid) {
    it(`answers 400 naming the field for ${what}`, async () => {
      const { app, store } = await setup({ maxPayloadBytes: 16_384 })
      const res = await create(app, { ...task('bad'), ...change })
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toContain('application/problem+json')
      const problem = res.json()
      expect(problem).toMatchObject({ status: 400, code, field })
      expect(problem.detail).toContain(field)
      expect(problem.type).toMatch(/^https:\/\/flextask\.dev\/problems\//)
      expect(store.pending.length + store.tasks.size).toBe(0)
    })
  }

  it('answers 400 for a body that is not JSON', async () => {
    const { app } = await setup()
    const res = await app.inject({
      method: 'POST',
      url: '/api/tasks',
      headers: { ...auth('write'), 'content-type': 'application/json' },
      payload: '{"taskId":',
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('FLEXTASK_API_REQUEST_INVALID')
  })

  it('answers 413 for a body over the limit', async () => {
    const { app } = await setup({ bodyLimitBytes: 10_000 })
    const res = await create(app, task('big', { payload: { blob: 'x'.repeat(20_000) } }))
    expect(res.statusCode).toBe(413)
    expect(res.json()).toMatchObject({ code: 'FLEXTASK_API_BODY_TOO_LARGE', status: 413 })
  })

  it('returns the first answer to a repeat with the same taskId, and 409 for another body', async () => {
    const { app, store } = await setup()
    const first = await create(app, task('same'))
    const again = await create(app, task('same'))
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual(first.json())
    expect(store.pending.length).toBe(0)
    const other = await create(app, task('same', { type: 'Other' }))
    expect(other.statusCode).toBe(409)
    expect(other.json().code).toBe('FLEXTASK_API_CONFLICT')
  })

  it('returns the first answer to a repeat with the same Idempotency-Key, and 409 for another body', async () => {
    const { app } = await setup()
    const body = { category: 'http', type: 'x', schedule: { kind: 'DELAY', delayMs: 5000 } }
    const first = await create(app, body, { 'idempotency-key': 'k-1' })
    const again = await create(app, body, { 'idempotency-key': 'k-1' })
    expect(again.json().taskId).toBe(first.json().taskId)
    expect((await create(app, { ...body, type: 'y' }, { 'idempotency-key': 'k-1' })).statusCode).toBe(409)
  })

  it('recognises a repeated create from the read model after a restart (same definition 200, another 409)', async () => {
    const { app, store } = await setup()
    await create(app, task('kept'))
    const { app: restarted } = await setup({}, { readModel: store, writer: store })
    const again = await create(restarted, task('kept'))
    expect(again.statusCode).toBe(200)
    expect(again.json()).toMatchObject({ taskId: 'kept', position: null, task: { version: 1 } })
    expect((await create(restarted, task('kept', { priority: 5 }))).statusCode).toBe(409)
  })
})

describe('reading tasks', () => {
  it('lists with filters and stable paging', async () => {
    const { app } = await setup()
    for (const id of ['c', 'a', 'e', 'b', 'd']) {
      await create(
        app,
        task(id, {
          category: id < 'c' ? 'http' : 'email',
          labels: { team: id === 'e' ? 'ops' : 'dev' },
          tenant: 'acme',
        }),
      )
    }
    const page0 = (await app.inject({ url: '/api/tasks?size=2', headers: auth('read') })).json()
    const page1 = (await app.inject({ url: '/api/tasks?size=2&page=1', headers: auth('read') })).json()
    expect(page0.items.map((t: { taskId: string }) => t.taskId)).toEqual(['a', 'b'])
    expect(page1.items.map((t: { taskId: string }) => t.taskId)).toEqual(['c', 'd'])
    expect(page0.total).toBe(5)
    const byCategory = (await app.inject({ url: '/api/tasks?category=email', headers: auth('read') })).json()
    expect(byCategory.total).toBe(3)
    const byLabel = (await app.inject({ url: '/api/tasks?label=team%3Dops', headers: auth('read') })).json()
    expect(byLabel.items.map((t: { taskId: string }) => t.taskId)).toEqual(['e'])
    expect((await app.inject({ url: '/api/tasks?tenant=acme&q=D', headers: auth('read') })).json().total).toBe(1)
    expect((await app.inject({ url: '/api/tasks?status=NOPE', headers: auth('read') })).statusCode).toBe(400)
  })

  it('answers 404 for an unknown task and 400 for an id that cannot be one', async () => {
    const { app } = await setup()
    const res = await app.inject({ url: '/api/tasks/ghost', headers: auth('read') })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ code: 'FLEXTASK_API_TASK_NOT_FOUND', field: 'id' })
    expect((await app.inject({ url: '/api/tasks/%20bad', headers: auth('read') })).statusCode).toBe(400)
  })

  it('never returns secret payload values or secret headers', async () => {
    const { app } = await setup()
    const payload = {
      url: 'https://svc',
      headers: { Authorization: 'Bearer s3cr3t', Accept: 'json' },
      password: 'hunter2',
      smtp: { user: 'me', host: 'mx' },
    }
    await create(app, task('sec', { payload, labels: { 'flextask.secret-paths': 'smtp.user' } }))
    const res = await app.inject({ url: '/api/tasks/sec', headers: auth('read') })
    expect(res.body).not.toContain('s3cr3t')
    expect(res.body).not.toContain('hunter2')
    expect(res.json().definition.payload).toEqual({
      url: 'https://svc',
      headers: { Authorization: '[REDACTED]', Accept: 'json' },
      password: '[REDACTED]',
      smtp: { user: '[REDACTED]', host: 'mx' },
    })
    const list = await app.inject({ url: '/api/tasks', headers: auth('read') })
    expect(list.body).not.toContain('s3cr3t')
  })
})

describe('changing tasks', () => {
  it('updates a definition (version + 1, createdAt kept) and refuses a stale If-Match with 409', async () => {
    const { app } = await setup()
    await create(app, task('u'))
    const res = await app.inject({
      method: 'PUT',
      url: '/api/tasks/u',
      headers: { ...auth('write'), 'if-match': '"1"' },
      payload: { category: 'http', type: 'HealthCheck', schedule: { kind: 'INTERVAL', everyMs: 60_000 } },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json().task).toMatchObject({
      version: 2,
      createdAtMs: now,
      definition: { schedule: { kind: 'INTERVAL' } },
    })
    const stale = await app.inject({
      method: 'PUT',
      url: '/api/tasks/u',
      headers: { ...auth('write'), 'if-match': '"1"' },
      payload: { category: 'http', type: 'HealthCheck', schedule: cron },
    })
    expect(stale.statusCode).toBe(409)
    expect(stale.json().code).toBe('FLEXTASK_API_VERSION_MISMATCH')
  })

  it('answers 404 and 400 on updates of unknown tasks and invalid definitions', async () => {
    const { app } = await setup()
    const body = { category: 'http', type: 'x', schedule: cron }
    expect(
      (await app.inject({ method: 'PUT', url: '/api/tasks/none', headers: auth('write'), payload: body })).statusCode,
    ).toBe(404)
    await create(app, task('v'))
    const bad = await app.inject({
      method: 'PUT',
      url: '/api/tasks/v',
      headers: auth('write'),
      payload: { ...body, schedule: { kind: 'INTERVAL', everyMs: 5 } },
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().field).toBe('schedule.everyMs')
  })

  it('pauses and resumes through the definition, and a repeat changes nothing', async () => {
    const { app, store } = await setup()
    await create(app, task('p'))
    const status = (s: string) =>
      app.inject({ method: 'PUT', url: '/api/tasks/p/status', headers: auth('write'), payload: { status: s } })
    const paused = await status('PAUSED')
    expect(paused.statusCode).toBe(200)
    expect(paused.json().task).toMatchObject({ status: 'PAUSED', version: 2, definition: { paused: true } })
    const again = await status('PAUSED')
    expect(again.json()).toMatchObject({ position: null, task: { version: 2 } })
    expect((await status('ACTIVE')).json().task).toMatchObject({ status: 'ACTIVE', version: 3 })
    expect((await status('SLEEPING')).statusCode).toBe(400)
    expect(store.tasks.get('p')!.definition!.paused).toBe(false)
  })

  it('triggers with a TRIGGER_NOW command (202) and answers 404 for an unknown task', async () => {
    const { app, store } = await setup()
    await create(app, task('tr'))
    const res = await app.inject({ method: 'POST', url: '/api/tasks/tr/trigger', headers: auth('write') })
    expect(res.statusCode).toBe(202)
    const commandId = res.json().commands[0].commandId as string
    expect(res.json().commands[0]).toMatchObject({
      kind: 'TRIGGER_NOW',
      executionId: `tr:manual:${commandId}`,
      position: { topic: 't.task-commands' },
    })
    expect(store.commands[0]).toMatchObject({
      executionId: null,
      taskId: 'tr',
      kind: 'TRIGGER_NOW',
      requestedAtMs: now,
      requestedBy: 'api-key:write-key',
    })
    expect(
      (await app.inject({ method: 'POST', url: '/api/tasks/zz/trigger', headers: auth('write') })).statusCode,
    ).toBe(404)
  })

  it('cancels one execution, every execution in flight, or else the next slot', async () => {
    const { app, store } = await setup()
    await create(app, task('c1'))
    const cancel = (payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/api/tasks/c1/cancel', headers: auth('write'), payload })
    const next = store.tasks.get('c1')!.nextFireAtMs!
    expect((await cancel({})).json().commands.map((c: { executionId: string }) => c.executionId)).toEqual([
      `c1:${next}`,
    ])
    addRun(store, 'c1', now - 5000, 'PENDING')
    addRun(store, 'c1', now - 10_000, 'PROCESSING')
    addRun(store, 'c1', now - 15_000, 'SUCCEEDED')
    const all = (await cancel({})).json().commands.map((c: { executionId: string }) => c.executionId)
    expect(all).toEqual([`c1:${now - 5000}`, `c1:${now - 10_000}`])
    const one = await cancel({ executionId: `c1:${now - 5000}` })
    expect(one.statusCode).toBe(202)
    expect(store.commands.at(-1)).toMatchObject({ kind: 'CANCEL_EXECUTION', executionId: `c1:${now - 5000}` })
    const foreign = await cancel({ executionId: 'other:1' })
    expect(foreign.statusCode).toBe(400)
    expect(foreign.json().field).toBe('executionId')
  })

  it('answers 409 when there is nothing to cancel', async () => {
    const { app } = await setup()
    // Paused, no runs: no execution in flight and no next slot (a one-shot in the past is refused with 400).
    await create(app, task('done', { paused: true }))
    const res = await app.inject({ method: 'POST', url: '/api/tasks/done/cancel', headers: auth('write'), payload: {} })
    expect(res.statusCode).toBe(409)
  })

  it('retries a DEAD execution by id or the latest one, and refuses others', async () => {
    const { app, store } = await setup()
    await create(app, task('r'))
    const retry = (payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/api/tasks/r/retry', headers: auth('write'), payload })
    expect((await retry({})).statusCode).toBe(409)
    addRun(store, 'r', now - 20_000, 'DEAD')
    addRun(store, 'r', now - 10_000, 'SUCCEEDED')
    const latest = await retry({})
    expect(latest.statusCode).toBe(202)
    expect(latest.json().commands[0]).toMatchObject({ kind: 'RETRY_EXECUTION', executionId: `r:${now - 20_000}` })
    expect((await retry({ executionId: `r:${now - 20_000}` })).statusCode).toBe(202)
    const succeeded = await retry({ executionId: `r:${now - 10_000}` })
    expect(succeeded.statusCode).toBe(409)
    const unknown = await retry({ executionId: 'r:1' })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().code).toBe('FLEXTASK_API_EXECUTION_NOT_FOUND')
  })

  it('deletes with a tombstone; the task is then gone (404) and may be created again', async () => {
    const { app } = await setup()
    await create(app, task('del'))
    const res = await app.inject({ method: 'DELETE', url: '/api/tasks/del', headers: auth('admin') })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ taskId: 'del', projected: true, task: null })
    expect((await app.inject({ url: '/api/tasks/del', headers: auth('read') })).statusCode).toBe(404)
    expect((await app.inject({ method: 'DELETE', url: '/api/tasks/del', headers: auth('admin') })).statusCode).toBe(404)
  })
})
