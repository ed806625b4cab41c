import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { LiveEventSource } from '../../../api/live-events.ts'
import { onCleanup } from '../../helpers/cleanup.ts'
import { memoryApi } from '../../helpers/memory-api.ts'

/** Every route the issue lists, as OpenAPI paths. */
const expectedRoutes = [
  'get /api/tasks',
  'post /api/tasks',
  'get /api/tasks/{id}',
  'put /api/tasks/{id}',
  'delete /api/tasks/{id}',
  'put /api/tasks/{id}/status',
  'post /api/tasks/{id}/trigger',
  'post /api/tasks/{id}/cancel',
  'post /api/tasks/{id}/retry',
  'get /api/tasks/{id}/executions',
  'get /api/executions/{executionId}',
  'get /api/tasks/{id}/occurrences',
  'get /api/tasks/{id}/next',
  'get /api/dead-letters',
  'get /api/monitor/tasks/{id}/executions',
  'get /api/monitor/metrics',
  'get /api/events',
  'get /api/events/stream',
  'get /health/live',
  'get /health/ready',
  'get /metrics',
]

describe('OpenAPI document', async () => {
  const never: LiveEventSource = {
    subscribe: () => ({ ready: new Promise(() => undefined), close: () => Promise.resolve() }),
  }
  const metrics = { render: () => Promise.resolve({ contentType: 'text/plain', body: '' }) }
  const { app } = await memoryApi({}, { liveEvents: never, metrics })
  afterAll(() => app.close())

  it('lists every route of the API', async () => {
    await app.ready()
    const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> }
    const listed = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m} ${path}`),
    )
    expect(listed.sort()).toEqual(expect.arrayContaining(expectedRoutes.sort()))
    expect(listed.filter((r) => r.startsWith('get /docs'))).toEqual([])
  })

  it('is a valid OpenAPI 3.0 document (openapi-spec-validator)', async () => {
    await app.ready()
    const dir = mkdtempSync(join(tmpdir(), 'flextask-openapi-'))
    onCleanup(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'openapi.json')
    writeFileSync(file, JSON.stringify(app.swagger()))
    const run = spawnSync('python3', ['-m', 'openapi_spec_validator', file], { encoding: 'utf8' })
    expect(run.error, 'python3 with openapi-spec-validator is needed').toBeUndefined()
    expect(`${run.stdout}${run.stderr}`.trim()).toBe(`${file}: OK`)
  })

  it('answers a plain GET of the WebSocket route with 426', async () => {
    const { authorization } = { authorization: 'Bearer key-read-1' }
    const res = await app.inject({ url: '/api/events', headers: { authorization } })
    expect(res.statusCode).toBe(426)
    expect(res.json().code).toBe('FLEXTASK_API_UPGRADE_REQUIRED')
  })

  it('serves the docs UI and the JSON at /docs, with no key', async () => {
    const ui = await app.inject({ url: '/docs/' })
    expect(ui.statusCode).toBe(200)
    expect(ui.headers['content-type']).toContain('text/html')
    const json = await app.inject({ url: '/docs/json' })
    expect(json.json().openapi).toBe('3.0.3')
  })
})
