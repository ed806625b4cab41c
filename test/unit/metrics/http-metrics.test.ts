import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { observeHttp } from '../../../host/http-metrics.ts'
import { createMetrics } from '../../../metrics.ts'

describe('observeHttp', () => {
  it('counts requests by method, route template and status, and times them', async () => {
    const metrics = createMetrics()
    const app = Fastify({ logger: false })
    observeHttp(app, metrics.api)
    app.get('/api/tasks/:id', (request, reply) =>
      (request.params as { id: string }).id === 'missing' ? reply.code(404).send({}) : { ok: true },
    )
    await app.inject('/api/tasks/a')
    await app.inject('/api/tasks/b')
    await app.inject('/api/tasks/missing')
    await app.inject('/nowhere/at/all')
    const { body } = await metrics.render()
    expect(body).toContain('flextask_api_requests_total{method="GET",route="/api/tasks/:id",status="200"} 2')
    expect(body).toContain('flextask_api_requests_total{method="GET",route="/api/tasks/:id",status="404"} 1')
    expect(body).toContain('flextask_api_requests_total{method="GET",route="unmatched",status="404"} 1')
    expect(body).toContain('flextask_api_request_duration_seconds_count{method="GET",route="/api/tasks/:id"} 3')
    expect(body).not.toContain('/api/tasks/a"')
    await app.close()
  })
})
