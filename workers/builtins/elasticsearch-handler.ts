/**
 * Built-in `elasticsearch` / `ClusterHealth`: GET `/_cluster/health` (plain HTTP: the official client is tied to
 * the server's major version, and 9.x clients are refused by 8.x servers).
 *
 * The cluster passes when its status is at least `minStatus` (green > yellow > red; default green). With
 * `waitForStatus` the request adds `wait_for_status` and `timeout`; Elasticsearch answers a wait that timed out
 * with **HTTP 408 and a full health body** (`timed_out: true`), which is read like a 200 (elastic/rally#1434).
 * Output: the status and shard counts. Below `minStatus`: FAILED (FLEXTASK_ES_CLUSTER_UNHEALTHY, retriable) with
 * the status and the unassigned shard count. 401/403/404: FAILED, not retriable.
 */
import Type from 'typebox'
import { defineHandler, type Handler, handlerError } from '../handler.ts'
import { authHeader, displayUrl, type GuardedHttp } from './http-client.ts'

const statusLiteral = Type.Union([Type.Literal('green'), Type.Literal('yellow'), Type.Literal('red')])

export const elasticsearchClusterHealthPayload = Type.Object({
  url: Type.String({ pattern: '^https?://' }),
  minStatus: Type.Optional(Type.Union([Type.Literal('green'), Type.Literal('yellow')])),
  waitForStatus: Type.Optional(statusLiteral),
  /** Server-side wait for waitForStatus, seconds. @default 10 */
  waitSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300 })),
  token: Type.Optional(Type.String({ minLength: 1 })),
  basic: Type.Optional(Type.Object({ username: Type.String(), password: Type.String() })),
  ca: Type.Optional(Type.String()),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
})

export const ElasticsearchErrorCodes = {
  unhealthy: 'FLEXTASK_ES_CLUSTER_UNHEALTHY',
  api: 'FLEXTASK_ES_API_ERROR',
} as const

const rank = { red: 0, yellow: 1, green: 2 } as const

interface ClusterHealth {
  cluster_name?: string
  status?: string
  timed_out?: boolean
  number_of_nodes?: number
  number_of_data_nodes?: number
  active_primary_shards?: number
  active_shards?: number
  relocating_shards?: number
  initializing_shards?: number
  unassigned_shards?: number
  active_shards_percent_as_number?: number
}

export function elasticsearchHandler(http: GuardedHttp): Handler {
  return defineHandler({
    category: 'elasticsearch',
    type: 'ClusterHealth',
    description: 'GET /_cluster/health; FAILED below minStatus',
    payloadSchema: elasticsearchClusterHealthPayload,
    async execute(ctx) {
      const p = ctx.payload
      const auth = authHeader({ token: p.token, basic: p.basic })
      for (const s of auth.secrets) ctx.redact(s)
      const query =
        p.waitForStatus === undefined ? '' : `?wait_for_status=${p.waitForStatus}&timeout=${p.waitSeconds ?? 10}s`
      const base = p.url.endsWith('/') ? p.url : `${p.url}/`
      const r = await http.call(
        {
          method: 'GET',
          url: new URL(`_cluster/health${query}`, base).toString(),
          headers: { accept: 'application/json', ...auth.headers },
          timeoutMs: p.timeoutMs ?? ((p.waitSeconds ?? 10) + 5) * 1000,
          maxResponseBytes: 1024 * 1024,
          ...(p.ca === undefined ? {} : { ca: p.ca }),
        },
        ctx.signal,
      )
      if (r.status !== 200 && r.status !== 408) {
        throw handlerError(
          ElasticsearchErrorCodes.api,
          `${displayUrl(p.url)}/_cluster/health answered ${r.status}: ${r.body.slice(0, 200)}`,
          { retriable: ![401, 403, 404].includes(r.status) },
        )
      }
      let health: ClusterHealth
      try {
        health = JSON.parse(r.body) as ClusterHealth
      } catch {
        throw handlerError(ElasticsearchErrorCodes.api, `_cluster/health did not answer JSON (${r.status})`, {
          retriable: true,
        })
      }
      const status = health.status
      if (status !== 'green' && status !== 'yellow' && status !== 'red') {
        throw handlerError(ElasticsearchErrorCodes.api, `_cluster/health has no status (${r.status})`, {
          retriable: true,
        })
      }
      const output = {
        cluster: health.cluster_name ?? null,
        status,
        timedOut: health.timed_out ?? r.status === 408,
        nodes: health.number_of_nodes ?? null,
        dataNodes: health.number_of_data_nodes ?? null,
        activePrimaryShards: health.active_primary_shards ?? null,
        activeShards: health.active_shards ?? null,
        relocatingShards: health.relocating_shards ?? null,
        initializingShards: health.initializing_shards ?? null,
        unassignedShards: health.unassigned_shards ?? null,
        activeShardsPercent: health.active_shards_percent_as_number ?? null,
      }
      ctx.log.info(`cluster ${output.cluster ?? ''} is ${status}`, output)
      const min = p.minStatus ?? 'green'
      if (rank[status] < rank[min]) {
        throw handlerError(
          ElasticsearchErrorCodes.unhealthy,
          `cluster ${output.cluster ?? ''} is ${status}, required ${min} or better; unassigned shards ${output.unassignedShards ?? '?'}${output.timedOut ? ' (the wait for status timed out)' : ''}`,
          { retriable: true },
        )
      }
      return output
    },
  })
}
