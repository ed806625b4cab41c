import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics } from '../../../metrics.ts'
import { ScheduleCalculator } from '../../../processors/schedule-calculator.ts'
import { auth, memoryApi, type MemoryProjection } from '../../helpers/memory-api.ts'

type App = Awaited<ReturnType<typeof memoryApi>>['app']
const now = 1_800_000_000_000
const cron = { kind: 'CRON', cron: '*/5 * * * * *', timezone: 'Europe/Berlin' }
const apps: App[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})

async function setup(...args: Parameters<typeof memoryApi>) {
  const made = await memoryApi(...args)
  apps.push(made.app)
  return made
}

function create(app: App, body: Record<string, unknown>, headers: Record<string, string> = {}, query = '') {
  return app.inject({
    method: 'POST',
    url: `/api/tasks${query}`,
    headers: { ...auth('write'), ...headers },
    payload: body,
  })
}

const task = (taskId: string, extra: Record<string, unknown> = {}) => ({
  taskId,
  category: 'http',
  type: 'HealthCheck',
  schedule: cron,
  ...extra,
})

function addRun(store: MemoryProjection, taskId: string, slot: number, status: string, attempt = 1) {
  store.runs.push({
    executionId: `${taskId}:${slot}`,
    attempt,
    taskId,
    trigger: 'SCHEDULE',
    status,
    worker: 'w1',
    scheduledForMs: slot,
    dueAtMs: slot,
    firedAtMs: slot + 2,
    startedAtMs: slot + 3,
    finishedAtMs: status === 'PENDING' ? null : slot + 10,
    durationMs: status === 'PENDING' ? null : 7,
    error: status === 'DEAD' ? { code: 'E', message: 'boom', retriable: true } : null,
    output: null,
  })
}

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

describe('authentication, scopes and limits', () => {
  it('answers 401 without a key or with an unknown key, with WWW-Authenticate', async () => {
    const { app } = await setup()
    const none = await app.inject({ url: '/api/tasks' })
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Bearer')
    expect(none.json().code).toBe('FLEXTASK_API_UNAUTHORIZED')
    const wrong = await app.inject({ url: '/api/tasks', headers: { authorization: 'Bearer nope' } })
    expect(wrong.statusCode).toBe(401)
  })

  it('answers 403 when the key lacks the scope (read cannot write, write cannot delete)', async () => {
    const { app } = await setup()
    const readOnly = await app.inject({ method: 'POST', url: '/api/tasks', headers: auth('read'), payload: task('x') })
    expect(readOnly.statusCode).toBe(403)
    expect(readOnly.json().code).toBe('FLEXTASK_API_FORBIDDEN')
    await create(app, task('x'))
    expect((await app.inject({ method: 'DELETE', url: '/api/tasks/x', headers: auth('write') })).statusCode).toBe(403)
    expect((await app.inject({ method: 'DELETE', url: '/api/tasks/x', headers: auth('admin') })).statusCode).toBe(200)
  })

  it('keeps /health and /metrics open', async () => {
    const metrics = { render: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4', body: 'up 1\n' }) }
    const { app } = await setup({}, { metrics })
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200)
    const res = await app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe('up 1\n')
  })

  it('serves the web dashboard at /ui without a key, and counts requests by route template and status', async () => {
    const registry = createMetrics()
    const { app } = await setup({}, { metrics: registry })
    const page = await app.inject({ url: '/ui/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toContain('text/html')
    expect((await app.inject({ url: '/api/tasks/nope', headers: auth('read') })).statusCode).toBe(404)
    const { body } = await registry.render()
    expect(body).toMatch(/flextask_api_requests_total\{[^}]*route="\/api\/tasks\/:id"[^}]*status="404"[^}]*\} 1/)
  })

  it('limits requests per key (429), counting only authenticated, valid requests', async () => {
    const { app } = await setup({ rateLimitPerMinute: 2 })
    const bad = await app.inject({ url: '/api/tasks?page=-1', headers: auth('read') })
    expect(bad.statusCode).toBe(400)
    expect((await app.inject({ url: '/api/tasks' })).statusCode).toBe(401)
    expect((await app.inject({ url: '/api/tasks', headers: auth('read') })).statusCode).toBe(200)
    expect((await app.inject({ url: '/api/tasks', headers: auth('read') })).statusCode).toBe(200)
    const limited = await app.inject({ url: '/api/tasks', headers: auth('read') })
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toMatchObject({ code: 'FLEXTASK_API_RATE_LIMITED', status: 429 })
    expect((await app.inject({ url: '/api/tasks', headers: auth('write') })).statusCode).toBe(200)
  })

  it('sends no CORS headers by default, and allows configured origins', async () => {
    const { app } = await setup()
    const off = await app.inject({ url: '/api/tasks', headers: { ...auth('read'), origin: 'https://ui.example' } })
    expect(off.headers['access-control-allow-origin']).toBeUndefined()
    const { app: on } = await setup({ corsOrigins: ['https://ui.example'] })
    const res = await on.inject({ url: '/api/tasks', headers: { ...auth('read'), origin: 'https://ui.example' } })
    expect(res.headers['access-control-allow-origin']).toBe('https://ui.example')
    const preflight = await on.inject({
      method: 'OPTIONS',
      url: '/api/tasks',
      headers: { origin: 'https://ui.example' },
    })
    expect(preflight.statusCode).toBe(204)
  })

  it('answers an unknown route with a 404 problem', async () => {
    const { app } = await setup()
    const res = await app.inject({ url: '/api/nothing', headers: auth('read') })
    expect(res.statusCode).toBe(404)
    expect(res.json().code).toBe('FLEXTASK_API_ROUTE_NOT_FOUND')
    expect((await app.inject({ url: '/api/nothing' })).statusCode).toBe(404)
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

describe('health', () => {
  it('reports not ready (503) when Postgres or a component is not ready', async () => {
    const readiness = () => ({ scheduler: { live: true, ready: false, reasons: ['restoring partition 2'] } })
    const { app, store } = await setup({}, { readiness })
    const res = await app.inject({ url: '/health/ready' })
    expect(res.statusCode).toBe(503)
    expect(res.json().checks.scheduler).toEqual({ ok: false, reasons: ['restoring partition 2'] })
    store.failPing = true
    const down = (await app.inject({ url: '/health/ready' })).json()
    expect(down.checks.postgres.ok).toBe(false)
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200)
  })
})

describe('internal errors', () => {
  it('answers 500 without leaking the cause', async () => {
    const { app, store } = await setup()
    store.getTask = () => Promise.reject(new Error('relation "tasks" does not exist'))
    const res = await app.inject({ url: '/api/tasks/x', headers: auth('read') })
    expect(res.statusCode).toBe(500)
    expect(res.json()).toMatchObject({ code: 'FLEXTASK_API_INTERNAL', detail: 'internal error' })
    expect(res.body).not.toContain('relation')
  })

  it('answers 503 when Kafka does not take a write', async () => {
    const { app, store } = await setup()
    const { FlextaskError } = await import('../../../errors.ts')
    store.putDefinition = () =>
      Promise.reject(new FlextaskError('FLEXTASK_API_UNAVAILABLE', 'Kafka did not accept the write: timeout'))
    const res = await create(app, task('k'))
    expect(res.statusCode).toBe(503)
    expect(res.json().code).toBe('FLEXTASK_API_UNAVAILABLE')
  })
})
