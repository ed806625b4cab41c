/**
 * HTTP metrics for a Fastify server (the API, and the dashboard it serves): one onResponse hook that counts each
 * answered request by method, route template and status, and observes its duration. The route label is the
 * route's template (`/api/tasks/:id`), never the raw URL, so its values stay a closed set; requests that matched
 * no route count as `unmatched`. The API registers it with one line: `observeHttp(app, deps.metrics.api)`.
 */
import type { FastifyInstance } from 'fastify'
import type { ApiMetrics } from '../metrics.ts'

export function observeHttp(app: Pick<FastifyInstance, 'addHook'>, metrics: ApiMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const method = request.method
    metrics.requests.inc({ method, route, status: String(reply.statusCode) })
    metrics.requestDuration.observe({ method, route }, reply.elapsedTime / 1000)
    done()
  })
}
