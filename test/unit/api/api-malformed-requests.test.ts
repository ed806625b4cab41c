/**
 * Requests the API fuzz (test/faults/fuzz-api.test.ts) found answered 5xx or outside problem+json, pinned one by
 * one: a deeply nested payload, a task id longer than the router's default parameter limit, a URL that is not valid
 * percent-encoding, and requests Node's HTTP parser refuses before Fastify sees them (over real HTTP).
 */
import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { auth, memoryApi } from '../../helpers/memory-api.ts'

type App = Awaited<ReturnType<typeof memoryApi>>['app']
const apps: App[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})

async function setup(): Promise<App> {
  const { app } = await memoryApi()
  apps.push(app)
  return app
}

const body = (payload: string) =>
  `{"category":"http","type":"HealthCheck","schedule":{"kind":"DELAY","delayMs":60000},"payload":${payload}}`

describe('malformed requests', () => {
  it('answers 400 naming payload for a payload nested 50,000 deep (it was a 500: the stack overflowed)', async () => {
    const app = await setup()
    const res = await app.inject({
      method: 'POST',
      url: '/api/tasks',
      headers: { ...auth('write'), 'content-type': 'application/json' },
      payload: body(`${'['.repeat(50_000)}${']'.repeat(50_000)}`),
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'FLEXTASK_API_REQUEST_INVALID', field: 'payload' })
  })

  it('reads a task whose id is 150 characters long (the router refused ids over 100)', async () => {
    const app = await setup()
    const taskId = 't'.repeat(150)
    const headers = { ...auth('write'), 'content-type': 'application/json' }
    const create = body('{}').replace('{', `{"taskId":"${taskId}",`)
    const created = await app.inject({ method: 'POST', url: '/api/tasks', headers, payload: create })
    expect(created.statusCode).toBe(201)
    const read = await app.inject({ method: 'GET', url: `/api/tasks/${taskId}`, headers: auth('read') })
    expect([read.statusCode, read.json().taskId]).toEqual([200, taskId])
    const long = await app.inject({ method: 'GET', url: `/api/tasks/${'t'.repeat(2000)}`, headers: auth('read') })
    expect([long.statusCode, long.headers['content-type']]).toEqual([414, 'application/problem+json; charset=utf-8'])
  })

  it('answers 400 problem+json for a URL that is not valid percent-encoding', async () => {
    const app = await setup()
    const res = await app.inject({ method: 'GET', url: '/api/tasks/%zz', headers: auth('read') })
    expect([res.statusCode, res.headers['content-type']]).toEqual([400, 'application/problem+json; charset=utf-8'])
    expect(res.json().code).toBe('FLEXTASK_API_REQUEST_INVALID')
  })

  it('answers problem+json when the HTTP parser refuses the request (header overflow, unknown method)', async () => {
    const app = await setup()
    const address = new URL(await app.listen({ host: '127.0.0.1', port: 0 }))
    const send = (method: string, headers: Record<string, string>) =>
      new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = request(
          { host: address.hostname, port: address.port, method, path: '/api/tasks', headers },
          (res) => {
            let text = ''
            res.on('data', (c: Buffer) => (text += c.toString()))
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: text }),
            )
          },
        )
        req.on('error', reject)
        req.end()
      })
    const overflow = await send('GET', { ...auth('read'), 'x-big': 'h'.repeat(40_000) })
    expect([overflow.status, overflow.type]).toEqual([431, 'application/problem+json'])
    expect(JSON.parse(overflow.body)).toMatchObject({ status: 431, code: 'FLEXTASK_API_HEADERS_TOO_LARGE' })
    const unknown = await send('FUZZ', auth('read'))
    expect([unknown.status, unknown.type]).toEqual([400, 'application/problem+json'])
    expect(JSON.parse(unknown.body)).toMatchObject({ status: 400, code: 'FLEXTASK_API_REQUEST_INVALID' })
  })
})
