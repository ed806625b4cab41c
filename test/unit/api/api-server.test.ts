/**
 * What the API server does around its routes, through `inject()`: authentication, scopes, rate limit, CORS,
 * open probes and metrics, 404s, health, and internal errors answered without leaking their cause.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics } from '../../../metrics.ts'
import { auth } from '../../helpers/memory-api.ts'
import { closeApps, create, setup, task } from './route-kit.ts'

afterEach(closeApps)

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
