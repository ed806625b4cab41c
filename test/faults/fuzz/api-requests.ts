/**
 * Bad HTTP requests for the API fuzz, one class at a time: bodies with a wrong type, a missing field, a huge
 * string, deep nesting, an unknown property or an invalid schedule; invalid JSON; a wrong content type; a bad,
 * missing or huge API key; random paths and methods; bad query parameters. A class that breaks one named field
 * says which (`field`), and the answer must name it.
 */
import type { Prng } from './prng.ts'

export interface FuzzRequest {
  cls: string
  method: string
  path: string
  headers: Record<string, string>
  body?: Buffer
  /** The field a 400 must name, when the request breaks exactly one. */
  field?: string
}

export interface RequestContext {
  rng: Prng
  /** A valid `Authorization` value. */
  auth: string
  /** Ids of tasks that exist. */
  taskIds: readonly string[]
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** A valid create body (never sent with ?wait, so the answer does not depend on the projection). */
export function validCreateBody(rng: Prng): { [key: string]: Json } {
  return {
    category: 'internal',
    type: 'noop',
    name: `fuzz ${rng.int(0, 1e6)}`,
    schedule: { kind: 'CRON', cron: '0 0 * * * *', timezone: 'Europe/Paris' },
    payload: { n: rng.int(0, 100) },
    retry: { maxAttempts: 2, backoffBaseMs: 100 },
  }
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
const jsonHeaders = (ctx: RequestContext) => ({ authorization: ctx.auth, 'content-type': 'application/json' })
const post = (ctx: RequestContext, cls: string, body: unknown, field?: string): FuzzRequest => ({
  cls,
  method: 'POST',
  path: '/api/tasks?wait=false',
  headers: jsonHeaders(ctx),
  body: json(body),
  ...(field === undefined ? {} : { field }),
})

const wrongValues: Json[] = [null, true, 42, -1.5, 'text', [], {}, [1, 'a'], { a: { b: 1 } }]
const leafPaths = [
  'category',
  'type',
  'name',
  'priority',
  'misfirePolicy',
  'overlapPolicy',
  'jitterMs',
  'paused',
  'tenant',
  'schedule.kind',
  'schedule.cron',
  'schedule.timezone',
  'schedule.everyMs',
  'retry.maxAttempts',
  'retry.backoffFactor',
  'labels.team',
]
const limitedStrings: Record<string, number> = { name: 500, type: 200, category: 100, 'schedule.cron': 256 }

function setPath(body: { [key: string]: Json }, path: string, value: Json | undefined): void {
  const parts = path.split('.')
  let at = body
  for (const part of parts.slice(0, -1)) {
    const next = at[part]
    const child: { [key: string]: Json } = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {}
    at[part] = child
    at = child
  }
  const last = parts.at(-1) ?? ''
  if (value === undefined) delete at[last]
  else at[last] = value
}

/** A value of another JSON type than the field's. */
function wrongTypeFor(rng: Prng, path: string): Json {
  const body = validCreateBody(rng)
  const current = path.split('.').reduce<Json | undefined>((v, p) => (v as Record<string, Json> | undefined)?.[p], body)
  const candidates = wrongValues.filter((v) => typeof v !== typeof current || (v === null) !== (current === null))
  // Nullable fields accept null; numbers stand in for integers too (jitterMs: 1.5 is still wrong).
  const nullable = ['tenant', 'schedule.cron', 'schedule.everyMs']
  return rng.pick(candidates.filter((v) => !(v === null && nullable.includes(path))))
}

function nested(depth: number): string {
  return `{"category":"internal","type":"noop","schedule":{"kind":"DELAY","delayMs":60000},"payload":${'['.repeat(depth)}${']'.repeat(depth)}}`
}

type Generator = (ctx: RequestContext) => FuzzRequest

export const requestGenerators: Record<string, Generator> = {
  wrongType(ctx) {
    const path = ctx.rng.pick(leafPaths)
    const body = validCreateBody(ctx.rng)
    setPath(body, path, wrongTypeFor(ctx.rng, path))
    return post(ctx, 'wrong type', body, path)
  },
  missingField(ctx) {
    const path = ctx.rng.pick(['category', 'type', 'schedule', 'schedule.kind'])
    const body = validCreateBody(ctx.rng)
    setPath(body, path, undefined)
    return post(ctx, 'missing field', body, path)
  },
  unknownField(ctx) {
    const body = validCreateBody(ctx.rng)
    const where = ctx.rng.pick(['', 'schedule.', 'retry.'])
    setPath(body, `${where}x${ctx.rng.int(0, 999)}`, 1)
    return post(ctx, 'unknown field', body, `${where}x`)
  },
  hugeString(ctx) {
    const path = ctx.rng.pick(Object.keys(limitedStrings))
    const body = validCreateBody(ctx.rng)
    setPath(body, path, 'x'.repeat((limitedStrings[path] ?? 0) + ctx.rng.int(1, 200_000)))
    return post(ctx, 'huge string', body, path)
  },
  overBodyLimit(ctx) {
    const body = validCreateBody(ctx.rng)
    body.payload = 'y'.repeat(1_100_000)
    return post(ctx, 'body over the limit', body)
  },
  deepNesting(ctx) {
    return { ...post(ctx, 'deep nesting', {}), body: Buffer.from(nested(ctx.rng.int(1_000, 100_000))) }
  },
  invalidSchedule(ctx) {
    const body = validCreateBody(ctx.rng)
    const which = ctx.rng.pick(['schedule.cron', 'schedule.timezone', 'schedule.atMs'])
    if (which === 'schedule.cron') setPath(body, which, ctx.rng.pick(['61 * * * * *', 'nope', '* *']))
    if (which === 'schedule.timezone') setPath(body, which, 'Mars/Base')
    if (which === 'schedule.atMs') body.schedule = { kind: 'ONE_SHOT', atMs: Date.now() - ctx.rng.int(60_000, 1e10) }
    return post(ctx, 'invalid schedule', body, which)
  },
  invalidJson(ctx) {
    const text = JSON.stringify(validCreateBody(ctx.rng))
    const broken = ctx.rng.pick([
      text.slice(0, ctx.rng.int(0, text.length - 1)),
      `${text}}`,
      text.replace(':', ''),
      "{'a':1}",
    ])
    return { ...post(ctx, 'invalid JSON', {}), body: Buffer.from(broken) }
  },
  randomBody(ctx) {
    return { ...post(ctx, 'random bytes body', {}), body: ctx.rng.bytes(ctx.rng.int(1, 2000)) }
  },
  wrongContentType(ctx) {
    const type = ctx.rng.pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'image/png', 'x/y'])
    const request = post(ctx, 'wrong content type', validCreateBody(ctx.rng))
    return { ...request, headers: { ...request.headers, 'content-type': type } }
  },
  badKey(ctx) {
    const auth = ctx.rng.pick(['', 'Bearer', 'Bearer ', `Bearer ${ctx.rng.bytes(24).toString('hex')}`, 'Basic YTpi'])
    const headers: Record<string, string> = auth === '' ? {} : { authorization: auth }
    return { cls: 'bad API key', method: ctx.rng.pick(['GET', 'POST']), path: '/api/tasks', headers }
  },
  hugeHeader(ctx) {
    const size = ctx.rng.int(8_000, 64_000)
    const headers: Record<string, string> = ctx.rng.chance(0.5)
      ? { authorization: `Bearer ${'k'.repeat(size)}` }
      : { authorization: ctx.auth, 'x-fuzz': 'h'.repeat(size) }
    return { cls: 'huge header', method: 'GET', path: '/api/tasks', headers }
  },
  randomPath(ctx) {
    const segments = Array.from({ length: ctx.rng.int(1, 5) }, () =>
      ctx.rng.pick([
        'api',
        'tasks',
        'x',
        '..',
        '%2e%2e',
        '%zz',
        '%00',
        'trigger',
        'executions',
        encodeURIComponent(ctx.rng.bytes(6).toString('latin1')),
      ]),
    )
    const method = ctx.rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'FUZZ'])
    return {
      cls: 'random path and method',
      method,
      path: `/${segments.join('/')}`,
      headers: { authorization: ctx.auth },
    }
  },
  routeWithBadId(ctx) {
    const id = ctx.rng.pick(['-bad', 'a b', '%zz', 'x'.repeat(300), '..', ctx.rng.pick(ctx.taskIds) + '%00'])
    const route = ctx.rng.pick(['', '/status', '/trigger', '/executions', '/next', '/occurrences'])
    const method = route === '' ? ctx.rng.pick(['GET', 'PUT', 'DELETE']) : route === '/trigger' ? 'POST' : 'GET'
    return {
      cls: 'bad task id',
      method,
      path: `/api/tasks/${id.replaceAll(' ', '%20')}${route}`,
      headers: jsonHeaders(ctx),
      body: json({}),
    }
  },
  badQuery(ctx) {
    const [query, field] = ctx.rng.pick([
      ['page=-1', 'page'],
      ['size=100000000', 'size'],
      ['page=abc', 'page'],
      ['minOffset=1-2', 'minOffset'],
    ] as const)
    return { cls: 'bad query', method: 'GET', path: `/api/tasks?${query}`, headers: { authorization: ctx.auth }, field }
  },
  existingTaskBadBody(ctx) {
    const id = ctx.rng.pick(ctx.taskIds)
    const [path, body, field] = ctx.rng.pick([
      [`/api/tasks/${id}/status`, { status: 'SLEEPING' }, 'status'],
      [`/api/tasks/${id}/status`, {}, 'status'],
      [`/api/tasks/${id}/retry`, { executionId: 7 }, 'executionId'],
      [`/api/tasks/${id}/cancel`, { executionId: '' }, 'executionId'],
    ] as const)
    const method = path.endsWith('/status') ? 'PUT' : 'POST'
    return { cls: 'bad command body', method, path, headers: jsonHeaders(ctx), body: json(body), field }
  },
}
