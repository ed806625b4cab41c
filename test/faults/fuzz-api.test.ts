/**
 * API fuzz (issue 15): FAULTS_FUZZ_REQUESTS (default 400) bad requests — wrong types, missing and unknown
 * fields, huge strings, deep nesting, invalid JSON, wrong content types, bad / missing / huge API keys and
 * headers, random paths and methods, bad queries — over real HTTP against the real API component (with the
 * scheduler and the Postgres sink in the same process, on the shared broker and a fresh database), with valid
 * requests in between. A seeded PRNG picks them; the seed is printed and FAULTS_SEED replays it.
 *
 * Asserted: no 5xx (a 503 would need a dependency that is really down, and none is); every 4xx is
 * problem+json whose status matches; a request that breaks one named field gets a 400 naming it; every valid
 * request in between succeeds; the server is ready at the end.
 */
import { request as httpRequest } from 'node:http'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashApiKey } from '../../api/api-keys.ts'
import { createApi, type ApiComponent } from '../../api/api.ts'
import type { Component } from '../../component.ts'
import { createConnector } from '../../connectors/connector.ts'
import { createScheduler } from '../../scheduler/scheduler.ts'
import { databaseUrl } from '../helpers/env.ts'
import { testAdmin, uniqueName } from '../helpers/kafka.ts'
import { deletePrefixTopics, testProcessDeps } from '../helpers/scheduler.ts'
import { requestGenerators, validCreateBody, type FuzzRequest } from './fuzz/api-requests.ts'
import { createPrng, fuzzCount, fuzzSeed } from './fuzz/prng.ts'

const count = fuzzCount('FAULTS_FUZZ_REQUESTS', 400)
const seed = fuzzSeed()
const prefix = uniqueName('ft-fuzz-api')
const database = `fuzz_api_${randomUUID().replaceAll('-', '').slice(0, 12)}`
const key = `k-${randomUUID()}`
const auth = `Bearer ${key}`
const { admin } = testAdmin()
const components: Component[] = []
let api: ApiComponent

async function adminSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

beforeAll(async () => {
  console.log(`fuzz-api: seed ${seed} (replay with FAULTS_SEED=${seed}), ${count} requests`)
  await adminSql(`CREATE DATABASE ${database}`)
  const dbUrl = new URL(databaseUrl)
  dbUrl.pathname = `/${database}`
  const deps = testProcessDeps({
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http,internal',
    FLEXTASK_STATE_DIR: `/tmp/${prefix}`,
    FLEXTASK_INSTANCE_ID: uniqueName('fuzz-api'),
    DATABASE_URL: dbUrl.toString(),
    FLEXTASK_SINK_FLUSH_INTERVAL_MS: '20',
    PORT: '0',
    FLEXTASK_API_KEYS: `fuzz:admin:${hashApiKey(key)}`,
    FLEXTASK_API_RATE_LIMIT: '1000000',
  })
  for (const create of [createScheduler, createConnector, createApi]) {
    const component = create(deps)
    await component.start()
    components.push(component)
  }
  api = components.at(-1) as ApiComponent
})

afterAll(async () => {
  for (const component of components.reverse()) await component.close().catch(() => undefined)
  await deletePrefixTopics(admin, prefix).catch(() => undefined)
  await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
})

interface Answer {
  status: number
  contentType: string
  body: string
}

/** One request over a fresh connection; a connection the server closed answers status 0 with the error code. */
function send(r: Pick<FuzzRequest, 'method' | 'path' | 'headers' | 'body'>): Promise<Answer> {
  const url = new URL(api.url)
  return new Promise((resolve) => {
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(r.body.length) }
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: r.method, path: r.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', (e) => resolve({ status: 0, contentType: '', body: String(e) }))
      },
    )
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, contentType: '', body: e.code ?? String(e) }))
    req.end(r.body)
  })
}

/** What is wrong with an answer to a bad request, or null. */
function problemWith(r: FuzzRequest, a: Answer): string | null {
  if (a.status >= 500) return `${a.status} ${a.body.slice(0, 200)}`
  if (a.status < 400) return null
  if (r.method === 'HEAD') return null // no body by definition
  if (!a.contentType.startsWith('application/problem+json'))
    return `${a.status} as ${a.contentType}: ${a.body.slice(0, 120)}`
  let problem: { status?: unknown; field?: string; code?: unknown; detail?: unknown }
  try {
    problem = JSON.parse(a.body) as typeof problem
  } catch {
    return `${a.status} problem+json that is not JSON: ${a.body.slice(0, 120)}`
  }
  if (problem.status !== a.status) return `problem.status ${String(problem.status)} on a ${a.status}`
  if (r.field !== undefined && a.status === 400 && !(problem.field ?? '').startsWith(r.field)) {
    return `400 names field ${problem.field ?? '(none)'} instead of ${r.field} (${String(problem.detail).slice(0, 120)})`
  }
  return null
}

describe('bad requests on the API', () => {
  it('answers every one 4xx problem+json (naming the field), never 5xx, and keeps serving valid requests', async () => {
    const rng = createPrng(seed)
    const created = await send({
      method: 'POST',
      path: '/api/tasks?wait=false',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ ...validCreateBody(rng), taskId: 'fuzz-existing' })),
    })
    expect(created.status).toBe(202)
    const ctx = { rng, auth, taskIds: ['fuzz-existing'] }
    const byStatus = new Map<string, number>()
    const byClass = new Map<string, Map<number, number>>()
    const wrong: string[] = []
    const validFailures: string[] = []
    const startedAt = Date.now()
    for (let i = 0; i < count; i++) {
      const r = requestGenerators[rng.pick(Object.keys(requestGenerators))]!(ctx)
      const answer = await send(r)
      const status = answer.status === 0 ? `closed (${answer.body})` : String(answer.status)
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1)
      const perClass = byClass.get(r.cls) ?? new Map<number, number>()
      perClass.set(answer.status, (perClass.get(answer.status) ?? 0) + 1)
      byClass.set(r.cls, perClass)
      const problem =
        answer.status === 0 && r.cls !== 'huge header' ? `connection closed: ${answer.body}` : problemWith(r, answer)
      if (problem !== null) wrong.push(`${r.cls} ${r.method} ${r.path.slice(0, 80)}: ${problem}`)
      if (i % 20 === 0) validFailures.push(...(await validRound(rng, i)))
    }
    const ms = Date.now() - startedAt
    console.log(`fuzz-api: ${count} requests in ${ms} ms; by status ${JSON.stringify(Object.fromEntries(byStatus))}`)
    for (const [cls, statuses] of [...byClass].sort(([a], [b]) => a.localeCompare(b))) {
      console.log(`  ${cls.padEnd(24)} ${JSON.stringify(Object.fromEntries(statuses))}`)
    }
    expect(wrong.slice(0, 20)).toEqual([])
    expect(validFailures.slice(0, 10)).toEqual([])
    const ready = await send({ method: 'GET', path: '/health/ready', headers: {} })
    expect(ready.status).toBe(200)
  })
})

/** A valid create, list and read; returns what failed. */
async function validRound(rng: ReturnType<typeof createPrng>, i: number): Promise<string[]> {
  const headers = { authorization: auth, 'content-type': 'application/json' }
  const body = Buffer.from(JSON.stringify({ ...validCreateBody(rng), taskId: `fuzz-valid-${i}` }))
  const answers = [
    ['create', await send({ method: 'POST', path: '/api/tasks?wait=false', headers, body }), 202],
    ['list', await send({ method: 'GET', path: '/api/tasks?size=5', headers: { authorization: auth } }), 200],
    ['live', await send({ method: 'GET', path: '/health/live', headers: {} }), 200],
  ] as const
  return answers
    .filter(([, a, want]) => a.status !== want)
    .map(([what, a]) => `${what} #${i}: ${a.status} ${a.body.slice(0, 160)}`)
}
