/**
 * The operations endpoints of a flextask process, on METRICS_PORT (plain node:http, no framework, so it starts
 * before and stops after everything else):
 *
 *   GET /metrics        Prometheus text exposition (metrics.ts)
 *   GET /health/live    200 when every component is live (the process should not be restarted), else 503
 *   GET /health/ready   200 when every component is ready (serving), else 503
 *
 * Health bodies are JSON: `{ status, components: { <name>: { live, ready, reasons } } }`. The API can mount the
 * same handler later (`handleOpsRequest`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Health } from '../component.ts'
import type { Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'

export interface OpsSources {
  metrics: Pick<Metrics, 'render'>
  /** Health per component name. */
  health: () => Record<string, Health>
}

export interface OpsServer {
  /** The port actually bound (METRICS_PORT=0 picks a free one). */
  readonly port: number
  close(): Promise<void>
}

/** Answers the three routes; returns false for any other path so a caller can route it elsewhere. */
export async function handleOpsRequest(
  sources: OpsSources,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<boolean> {
  const path = (request.url ?? '/').split('?')[0]
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  if (path === '/metrics') {
    const { contentType, body } = await sources.metrics.render()
    response.writeHead(200, { 'content-type': contentType }).end(body)
    return true
  }
  if (path === '/health/live' || path === '/health/ready') {
    const components = sources.health()
    const key = path === '/health/live' ? 'live' : 'ready'
    const ok = Object.values(components).every((h) => h[key])
    const body = JSON.stringify({ status: ok ? 'ok' : 'unavailable', components })
    response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(body)
    return true
  }
  return false
}

export async function startOpsServer(
  sources: OpsSources,
  options: { port: number; host: string; logger: Logger },
): Promise<OpsServer> {
  const logger = options.logger
  const server: Server = createServer((request, response) => {
    handleOpsRequest(sources, request, response)
      .then((handled) => {
        if (!handled) response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      })
      .catch((error: unknown) => {
        logger.warn({ err: error, url: request.url }, 'ops endpoint failed')
        if (!response.headersSent) response.writeHead(500).end()
      })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  logger.info({ port, host: options.host }, 'serving /metrics, /health/live and /health/ready')
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
