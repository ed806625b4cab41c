/**
 * API benchmark on the local broker and Postgres. Not a test: it prints figures. On fresh topics (unique prefix)
 * and a fresh database, it starts every component of `flextask up` in this process (componentFactories: the
 * scheduler, the API and whatever else is composed — the sink must be among them for the waiting figures), then,
 * over real HTTP with `--concurrency` requests in flight:
 *
 * 1. creates/s with `?wait=false` (answered once Kafka acknowledged the definition, acks = all);
 * 2. creates/s waiting for the projection (the default: answered once the sink has the definition in Postgres),
 *    and how many were projected within the API's wait timeout;
 * 3. read latency of GET /api/tasks/{id} (p50 / p99 / max) over random created tasks.
 *
 * The tasks are ONE_SHOTs a day ahead, so the scheduler only ingests them. Topics, the database and registry
 * subjects are removed at the end.
 *
 * Usage: node bench/api.ts [--creates 2000] [--reads 5000] [--concurrency 32]
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { hashApiKey } from '../api/api-keys.ts'
import type { ApiComponent } from '../api/api.ts'
import { ApiClient } from '../client/api-client.ts'
import type { Component } from '../component.ts'
import { resolveConfig } from '../config.ts'
import { componentFactories, componentNames, createProcessDeps } from '../host/flextask-process.ts'
import { silentLogger } from '../logger.ts'
import { createMetrics } from '../metrics.ts'
import { benchArgs, integerArg } from './lib/args.ts'

const values = benchArgs(
  {
    creates: { type: 'string', default: '2000' },
    reads: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
  },
  'Usage: node bench/api.ts [--creates 2000] [--reads 5000] [--concurrency 32]',
)
const creates = integerArg('creates', values.creates, 1)
const reads = integerArg('reads', values.reads, 1)
const concurrency = integerArg('concurrency', values.concurrency, 1)
const prefix = `ft-api-bench-${randomUUID().slice(0, 8)}`
const database = `ft_api_bench_${randomUUID().replaceAll('-', '').slice(0, 10)}`
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const dbUrl = new URL(adminUrl)
dbUrl.pathname = `/${database}`
const key = `bench-${randomUUID()}`

async function withAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** Runs `total` calls of `call(i)` with `concurrency` in flight; returns each call's latency in ms. */
async function pool(total: number, call: (i: number) => Promise<void>): Promise<{ ms: number[]; wallMs: number }> {
  const ms: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++
        const t0 = performance.now()
        await call(i)
        ms.push(performance.now() - t0)
      }
    }),
  )
  return { ms, wallMs: performance.now() - started }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

function report(name: string, total: number, run: { ms: number[]; wallMs: number }): void {
  const sorted = [...run.ms].sort((a, b) => a - b)
  console.log(
    `${name.padEnd(34)} ${((total / run.wallMs) * 1000).toFixed(0).padStart(6)}/s   ` +
      `p50 ${percentile(sorted, 50).toFixed(1)} ms  p99 ${percentile(sorted, 99).toFixed(1)} ms  max ${sorted.at(-1)?.toFixed(1)} ms`,
  )
}

await withAdmin(`CREATE DATABASE ${database}`)
const config = resolveConfig(process.env, {
  topics: { prefix, partitions: 3, categories: ['http'] },
  database: { url: dbUrl.toString() },
  api: { port: 0, keys: `bench:admin:${hashApiKey(key)}`, rateLimitPerMinute: 10_000_000 },
  metrics: { port: 0 },
  runtime: { instanceId: `bench-${randomUUID().slice(0, 8)}`, stateDir: `/tmp/${prefix}` },
})
const deps = createProcessDeps(config, { logger: silentLogger, metrics: createMetrics() })
const components: Component[] = componentNames.map((name) => componentFactories[name](deps))
console.log(
  `api benchmark: components ${componentNames.join(', ')}; ${creates} creates, ${reads} reads, ${concurrency} in flight`,
)
try {
  for (const component of components) await component.start()
  const api = components.find((c) => c.name === 'api') as ApiComponent
  const client = new ApiClient({ url: api.url, key })
  const body = (id: string) => ({
    taskId: id,
    category: 'http',
    type: 'request',
    payload: { url: 'https://example.com' },
    schedule: { kind: 'ONE_SHOT', atMs: Date.now() + 86_400_000 },
  })
  const ids: string[] = []
  report(
    'create, wait=false (Kafka ack)',
    creates,
    await pool(creates, async (i) => {
      ids.push(`nw-${i}`)
      await client.request('POST', '/api/tasks', { body: body(`nw-${i}`), query: { wait: false } })
    }),
  )
  let projected = 0
  report(
    'create, waiting for the projection',
    creates,
    await pool(creates, async (i) => {
      ids.push(`w-${i}`)
      const answer = await client.request<{ projected: boolean }>('POST', '/api/tasks', { body: body(`w-${i}`) })
      if (answer.body.projected) projected += 1
    }),
  )
  console.log(`  projected within the wait timeout: ${projected} of ${creates}`)
  report(
    'GET /api/tasks/{id}',
    reads,
    await pool(reads, async (i) => {
      await client.request('GET', `/api/tasks/${ids[(i * 7919) % ids.length]}`).catch(() => undefined)
    }),
  )
} finally {
  for (const component of [...components].reverse()) await component.close().catch(() => undefined)
  const admin = deps.kafka.admin('bench-cleanup')
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
  await admin.close()
  await withAdmin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
}
