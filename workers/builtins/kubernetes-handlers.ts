/**
 * Built-in `kubernetes` types, plain HTTP against the API server (no client library: @kubernetes/client-node's
 * `Health` treats a 404 from /healthz as healthy, so a mistyped server URL would read as a healthy cluster).
 *
 * - `HealthCheck`: GET `/readyz?verbose` and `/livez?verbose`. Both 200 → SUCCEEDED with the check lines. Any
 *   other status → FAILED naming the failed checks (`[-]etcd failed: …` lines), retriable; 401/403/404 are not
 *   retriable (credentials or not an API server).
 * - `NodeCheck`: GET `/api/v1/nodes` (optionally `labelSelector`). FAILED (FLEXTASK_K8S_NODES_NOT_READY,
 *   retriable) naming each node whose `Ready` condition is not `True`, with the condition's status and reason.
 *   The service account needs `list nodes`.
 * Auth: `token` (e.g. the service-account token) or `basic`; `ca` (PEM) for the server's certificate. The server
 * URL goes through the SSRF guard: in-cluster addresses (10.x) need `workers.ssrf.allow`.
 */
import Type from 'typebox'
import { defineHandler, type Handler, handlerError } from '../handler.ts'
import { authHeader, displayUrl, type GuardedHttp, type HttpResponse } from './http-client.ts'

const connection = {
  server: Type.String({ pattern: '^https?://' }),
  token: Type.Optional(Type.String({ minLength: 1 })),
  basic: Type.Optional(Type.Object({ username: Type.String(), password: Type.String() })),
  ca: Type.Optional(Type.String()),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
}

export const kubernetesHealthCheckPayload = Type.Object({ ...connection })
export const kubernetesNodeCheckPayload = Type.Object({ ...connection, labelSelector: Type.Optional(Type.String()) })

export const KubernetesErrorCodes = {
  unhealthy: 'FLEXTASK_K8S_UNHEALTHY',
  notReady: 'FLEXTASK_K8S_NODES_NOT_READY',
  api: 'FLEXTASK_K8S_API_ERROR',
} as const

interface NodeList {
  items?: {
    metadata?: { name?: string }
    status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] }
  }[]
}

type Conn = {
  server: string
  token?: string
  basic?: { username: string; password: string }
  ca?: string
  timeoutMs?: number
}

export function kubernetesHandlers(http: GuardedHttp): Handler[] {
  const get = async (
    ctx: { signal: AbortSignal; redact(s: string): void },
    p: Conn,
    path: string,
  ): Promise<HttpResponse> => {
    const auth = authHeader({ token: p.token, basic: p.basic })
    for (const s of auth.secrets) ctx.redact(s)
    return http.call(
      {
        method: 'GET',
        url: new URL(path, p.server.endsWith('/') ? p.server : `${p.server}/`).toString(),
        headers: { accept: 'application/json, text/plain', ...auth.headers },
        timeoutMs: p.timeoutMs ?? 10_000,
        maxResponseBytes: 8 * 1024 * 1024,
        ...(p.ca === undefined ? {} : { ca: p.ca }),
      },
      ctx.signal,
    )
  }
  const refuse = (what: string, r: HttpResponse): never => {
    throw handlerError(KubernetesErrorCodes.api, `${what} answered ${r.status}: ${r.body.slice(0, 200)}`, {
      retriable: ![401, 403, 404].includes(r.status),
    })
  }

  const healthCheck = defineHandler({
    category: 'kubernetes',
    type: 'HealthCheck',
    description: 'GET /readyz?verbose and /livez?verbose of the API server',
    payloadSchema: kubernetesHealthCheckPayload,
    async execute(ctx) {
      const out: Record<string, { status: number; checks: string[] }> = {}
      const failed: string[] = []
      for (const endpoint of ['readyz', 'livez']) {
        const r = await get(ctx, ctx.payload, `${endpoint}?verbose`)
        if ([401, 403, 404].includes(r.status)) refuse(`${displayUrl(ctx.payload.server)}/${endpoint}`, r)
        const checks = r.body.split('\n').filter((l) => l.startsWith('[+]') || l.startsWith('[-]'))
        out[endpoint] = { status: r.status, checks }
        ctx.log.info(`/${endpoint}: ${r.status}`, { checks: checks.length })
        if (r.status !== 200) {
          const bad = checks.filter((l) => l.startsWith('[-]')).map((l) => l.slice(3))
          failed.push(`/${endpoint} ${r.status}${bad.length > 0 ? `: ${bad.join('; ')}` : ''}`)
        }
      }
      if (failed.length > 0) {
        throw handlerError(KubernetesErrorCodes.unhealthy, `API server unhealthy: ${failed.join(' | ')}`, {
          retriable: true,
        })
      }
      return out
    },
  })

  const nodeCheck = defineHandler({
    category: 'kubernetes',
    type: 'NodeCheck',
    description: 'Lists nodes; FAILED naming each node that is not Ready',
    payloadSchema: kubernetesNodeCheckPayload,
    async execute(ctx) {
      const p = ctx.payload
      const query = p.labelSelector === undefined ? '' : `?labelSelector=${encodeURIComponent(p.labelSelector)}`
      const r = await get(ctx, p, `api/v1/nodes${query}`)
      if (r.status !== 200) refuse(`${displayUrl(p.server)}/api/v1/nodes`, r)
      let list: NodeList
      try {
        list = JSON.parse(r.body) as NodeList
      } catch {
        throw handlerError(KubernetesErrorCodes.api, `/api/v1/nodes did not answer JSON: ${r.body.slice(0, 100)}`, {
          retriable: true,
        })
      }
      const nodes = (list.items ?? []).map((n) => {
        const ready = n.status?.conditions?.find((c) => c.type === 'Ready')
        return {
          name: n.metadata?.name ?? '(unnamed)',
          ready: ready?.status ?? 'Unknown',
          reason: ready?.reason ?? null,
        }
      })
      const notReady = nodes.filter((n) => n.ready !== 'True')
      ctx.log.info(`${nodes.length - notReady.length} of ${nodes.length} nodes ready`)
      if (notReady.length > 0) {
        const named = notReady.map((n) => `${n.name} (Ready=${n.ready}${n.reason === null ? '' : `, ${n.reason}`})`)
        throw handlerError(
          KubernetesErrorCodes.notReady,
          `${notReady.length} of ${nodes.length} nodes not ready: ${named.join(', ')}`,
          { retriable: true },
        )
      }
      return { nodes: nodes.length, ready: nodes.length, names: nodes.map((n) => n.name) }
    },
  })
  return [healthCheck, nodeCheck]
}
