/**
 * The REST API's Fastify instance: one error shape (problems.ts), API-key auth with scopes on everything under
 * /api (an encapsulated scope, so /health/* and /metrics stay open for probes and Prometheus), a per-key rate
 * limit, CORS off unless origins are configured, a body limit, OpenAPI at /docs, and the routes of
 * task-routes.ts, task-command-routes.ts, history-routes.ts and live-events.ts.
 *
 * Hook order inside /api (why: @fastify/rate-limit counts on its hook, so it runs at preHandler, after
 * authentication, scope check and validation — a 401, 403 or 400 never uses up a key's quota, and the limit is
 * per key, not per IP; see shared/research/dependencies-round2.md §3):
 *   onRequest: access_token → Authorization (WebSocket/SSE only) · bearer auth (401) · scope (403)
 *   preValidation: schema (400) · preHandler: rate limit (429) · handler
 */
import bearerAuth from '@fastify/bearer-auth'
import rateLimit from '@fastify/rate-limit'
import { fastifySSE } from '@fastify/sse'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Health } from '../component.ts'
import type { Logger } from '../logger.ts'
import type { TopicNames } from '../topics.ts'
import { ApiKeyring, scopeAllows, type ApiKey, type ApiScope } from './api-keys.ts'
import type { ApiOptions } from './api-options.ts'
import { HealthAnswer } from './api-schemas.ts'
import { observeHttp } from '../host/http-metrics.ts'
import type { ApiMetrics } from '../metrics.ts'
import { uiPlugin } from '../ui/ui-plugin.ts'
import { registerHistoryRoutes } from './history-routes.ts'
import { IdempotencyCache } from './idempotency.ts'
import { registerLiveEvents, type LiveEventSource } from './live-events.ts'
import { ApiErrorCodes, apiError, clientErrorAnswer, problemContentType, toProblem } from './problems.ts'
import type { ReadModel } from './read-model.ts'
import { registerTaskCommandRoutes } from './task-command-routes.ts'
import { registerTaskRoutes } from './task-routes.ts'
import type { TaskWriter } from './task-writer.ts'

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ApiKey
  }
  interface FastifyContextConfig {
    /** The scope a route needs. */
    scope?: ApiScope
  }
}

export interface ApiDeps {
  options: ApiOptions
  readModel: ReadModel
  writer: TaskWriter
  topics: TopicNames
  logger: Logger
  /** The wall clock (createdAtMs, requestedAtMs, windows). @default Date.now */
  nowMs?: () => number
  liveEvents?: LiveEventSource
  /** Health of the other parts /health/ready reports (Kafka, registry, components), by name. */
  readiness?: () => Promise<Record<string, Health>> | Record<string, Health>
  /** Prometheus exposition for GET /metrics, and the API's request metrics when the process has them. */
  metrics?: { render(): Promise<{ contentType: string; body: string }>; api?: ApiMetrics }
}

export type ApiServer = FastifyInstance<
  FastifyInstance['server'],
  FastifyRequest['raw'],
  FastifyReply['raw'],
  FastifyInstance['log'],
  TypeBoxTypeProvider
>

/** What route modules get. */
export interface RouteContext {
  deps: ApiDeps
  nowMs: () => number
  idempotency: IdempotencyCache
}

export async function buildApiServer(deps: ApiDeps): Promise<ApiServer> {
  const { options } = deps
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false } },
    // The router's default (100 characters) is below what the schemas allow (a taskId of 200, an executionId of
    // 300): a task with a 150-character id could be created but not read (414). Longer still answers 414.
    routerOptions: { maxParamLength: 1024 },
    // Errors raised before routing (a URL that is not valid percent-encoding, a request the HTTP parser
    // refuses) answer problem+json too.
    frameworkErrors: (error, request, reply) => {
      const problem = toProblem(error, request.url.split('?')[0])
      void (reply as FastifyReply).code(problem.status).type(problemContentType).send(problem)
    },
    clientErrorHandler: (error, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return
      if (socket.writable) socket.write(clientErrorAnswer(error.code))
      socket.destroy(error)
    },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  const context: RouteContext = { deps, nowMs: deps.nowMs ?? Date.now, idempotency: new IdempotencyCache() }
  const log = deps.logger.child({ component: 'api' })

  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.url.split('?')[0])
    if (problem.status >= 500) log.error({ err: error, url: request.url, code: problem.code }, 'request failed')
    if (problem.status === 401) void reply.header('www-authenticate', 'Bearer')
    void reply.code(problem.status).type(problemContentType).send(problem)
  })
  app.setNotFoundHandler((request, reply) => {
    const problem = toProblem(
      apiError(ApiErrorCodes.routeNotFound, `no route ${request.method} ${request.url.split('?')[0]}`),
    )
    void reply.code(404).type(problemContentType).send(problem)
  })
  app.addHook('onResponse', (request, reply, done) => {
    log.debug(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        key: request.apiKey?.id,
        ms: reply.elapsedTime,
      },
      'request',
    )
    done()
  })
  if (options.corsOrigins.length > 0) addCors(app, options.corsOrigins)

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'flextask API',
        version: '1',
        description:
          'Writes go to Kafka (the source of truth) and answer with the offset they produced; reads come from the ' +
          'Postgres projection. Errors are RFC 9457 problem details. Authenticate with `Authorization: Bearer <key>`.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  await app.register(fastifySSE)

  if (deps.metrics?.api !== undefined) observeHttp(app, deps.metrics.api)
  registerOpenRoutes(app, deps)
  // The web dashboard: static pages outside /api; the page sends the operator's API key to /api itself.
  await app.register(uiPlugin, { prefix: '/ui' })
  await app.register(async (api) => {
    await registerAuth(api, options)
    registerTaskRoutes(api, context)
    registerTaskCommandRoutes(api, context)
    registerHistoryRoutes(api, context)
    if (deps.liveEvents !== undefined) registerLiveEvents(api, deps.liveEvents, log)
  })
  return app
}

async function registerAuth(api: ApiServer, options: ApiOptions): Promise<void> {
  const keyring = new ApiKeyring(options.apiKeys)
  // Browsers cannot set headers on a WebSocket or EventSource: accept the key as access_token there (RFC 6750 §2.3).
  api.addHook('onRequest', (request, _reply, done) => {
    const token = (request.query as { access_token?: unknown } | undefined)?.access_token
    if (
      request.headers.authorization === undefined &&
      typeof token === 'string' &&
      request.url.startsWith('/api/events')
    ) {
      request.raw.headers.authorization = `Bearer ${token}`
    }
    done()
  })
  await api.register(bearerAuth, {
    keys: [],
    addHook: false,
    verifyErrorLogLevel: false as unknown as 'error',
    auth: (key: string, request: FastifyRequest) => {
      const found = keyring.find(key)
      if (found !== undefined) request.apiKey = found
      return found !== undefined
    },
  })
  api.addHook('onRequest', api.verifyBearerAuth!)
  api.addHook('onRequest', (request, _reply, done) => {
    const needed = request.routeOptions.config.scope ?? 'admin'
    const granted = request.apiKey?.scope
    if (granted === undefined || !scopeAllows(granted, needed)) {
      done(
        apiError(
          ApiErrorCodes.forbidden,
          `this route needs the ${needed} scope; key ${request.apiKey?.id} has ${granted}`,
        ),
      )
      return
    }
    done()
  })
  await api.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: options.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => request.apiKey?.id ?? request.ip,
    errorResponseBuilder: (_request, context) =>
      Object.assign(apiError(ApiErrorCodes.rateLimited, `more than ${context.max} requests per ${context.after}`), {
        statusCode: 429,
      }),
  })
}

function registerOpenRoutes(app: ApiServer, deps: ApiDeps): void {
  app.get('/health/live', { schema: { tags: ['health'], security: [], response: { 200: HealthAnswer } } }, () => ({
    live: true,
    ready: true,
    checks: {},
  }))
  app.get(
    '/health/ready',
    { schema: { tags: ['health'], security: [], response: { 200: HealthAnswer, 503: HealthAnswer } } },
    async (_request, reply) => {
      const checks: Record<string, { ok: boolean; reasons: string[] }> = {}
      try {
        await deps.readModel.ping()
        checks.postgres = { ok: true, reasons: [] }
      } catch (error) {
        checks.postgres = { ok: false, reasons: [`read model: ${(error as Error).message}`] }
      }
      for (const [name, health] of Object.entries((await deps.readiness?.()) ?? {})) {
        checks[name] = { ok: health.ready, reasons: health.reasons }
      }
      const ready = Object.values(checks).every((c) => c.ok)
      return reply.code(ready ? 200 : 503).send({ live: true, ready, checks })
    },
  )
  app.get(
    '/metrics',
    { schema: { tags: ['health'], security: [], hide: deps.metrics === undefined } },
    async (_r, reply) => {
      if (deps.metrics === undefined) throw apiError(ApiErrorCodes.routeNotFound, 'no metrics registry in this process')
      const { contentType, body } = await deps.metrics.render()
      return reply.type(contentType).send(body)
    },
  )
}

function addCors(app: ApiServer, origins: string[]): void {
  const allowed = new Set(origins)
  app.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin
    if (origin === undefined || (!allowed.has(origin) && !allowed.has('*'))) return done()
    void reply.header('access-control-allow-origin', origin).header('vary', 'Origin')
    if (request.method === 'OPTIONS') {
      void reply
        .header('access-control-allow-methods', 'GET, POST, PUT, DELETE')
        .header('access-control-allow-headers', 'authorization, content-type, idempotency-key')
        .header('access-control-max-age', '600')
        .code(204)
        .send()
      return
    }
    done()
  })
}
