/**
 * Unknown schema ids against a real HTTP server standing in for the registry's Confluent API (issue 15): a
 * "schema not found" (404, error_code 40403) is remembered for a TTL in a bounded cache, so a flood of records with
 * an unknown id costs one request per id, not one per record; a registry that is down, answers 5xx or answers a 404
 * that is not its own "not found" is transient — retried, never remembered, never a dead letter. The scheduler,
 * the worker and the sink decode through the same serdes of one process, so they share the cache.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Message } from '@platformatic/kafka'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decodeRecord, type SinkKind } from '../../../connectors/record-decoder.ts'
import { ErrorCodes, FlextaskError } from '../../../errors.ts'
import { createLogger } from '../../../logger.ts'
import { RegistryClient } from '../../../schemas/registry-client.ts'
import { createSerdeRegistry, type SerdeRegistry } from '../../../schemas/serde-registry.ts'
import { topicNames } from '../../../topics.ts'
import { decodeExecution } from '../../../workers/execution-decoder.ts'

type Mode = 'ok' | 'unavailable' | 'proxy-404'

/** The registry stand-in: registers everything under id 1 (by subject order), serves what it registered. */
const registry = {
  mode: 'ok' as Mode,
  lookups: 0,
  schemas: new Map<number, string>(),
  bySubject: new Map<string, number>(),
}
let server: Server
let baseUrl: string

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  const url = req.url ?? ''
  const lookup = /^\/schemas\/ids\/(\d+)$/.exec(url)
  if (lookup !== null) {
    registry.lookups++
    if (registry.mode === 'unavailable') return answer(res, 503, { error_code: 50003, message: 'starting' })
    if (registry.mode === 'proxy-404') return answer(res, 404, '<html>no route</html>')
    const schema = registry.schemas.get(Number(lookup[1]))
    if (schema === undefined) return answer(res, 404, { error_code: 40403, message: `Schema ${lookup[1]} not found.` })
    return answer(res, 200, { schema })
  }
  const register = /^\/subjects\/([^/]+)\/versions$/.exec(url)
  if (register !== null && req.method === 'POST') {
    const subject = decodeURIComponent(register[1] ?? '')
    const id = registry.bySubject.get(subject) ?? registry.bySubject.size + 1
    registry.bySubject.set(subject, id)
    registry.schemas.set(id, (JSON.parse(text) as { schema: string }).schema)
    return answer(res, 200, { id })
  }
  if (url.startsWith('/config/') && req.method === 'PUT') return answer(res, 200, JSON.parse(text) as unknown)
  answer(res, 404, { error_code: 40401, message: `no route ${req.method} ${url}` })
}

beforeAll(async () => {
  server = createServer((req, res) => void handle(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

beforeEach(() => {
  registry.mode = 'ok'
  registry.lookups = 0
})

const topics = topicNames('ft-unknown-ids')
let nowMs = 1_000_000

async function setup(options: { maxUnknownIds?: number } = {}) {
  const client = new RegistryClient(baseUrl, {
    unknownIdTtlMs: 30_000,
    nowMs: () => nowMs,
    requestTimeoutMs: 2_000,
    ...(options.maxUnknownIds === undefined ? {} : { maxUnknownIds: options.maxUnknownIds }),
  })
  const serdes = createSerdeRegistry(client, topics)
  await serdes.init()
  registry.lookups = 0
  return { client, serdes }
}

/** A valid execution body framed with another schema id. */
function withSchemaId(serdes: SerdeRegistry, id: number): Buffer {
  const bytes = Buffer.from(
    serdes.execution.serialize({
      executionId: 't:1',
      taskId: 't',
      attempt: 1,
      scheduledForMs: 1,
      dueAtMs: 1,
      firedAtMs: 1,
      deadlineAtMs: null,
      priority: 0,
      category: 'internal',
      type: 'tick',
      payload: '{}',
      trigger: 'SCHEDULE',
      definitionVersion: 1,
      labels: {},
      tenant: null,
    }),
  )
  bytes.writeInt32BE(id, 1)
  return bytes
}

async function failure(promise: Promise<unknown>): Promise<FlextaskError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(FlextaskError)
  return error as FlextaskError
}

describe('unknown schema ids: a bounded negative cache in front of the registry', () => {
  it('asks the registry once per unknown id and TTL, however many records carry it', async () => {
    const { serdes, client } = await setup()
    const bytes = withSchemaId(serdes, 777_001)
    for (let i = 0; i < 1000; i++) {
      const error = await failure(serdes.execution.deserialize(bytes))
      expect([error.code, error.retriable]).toEqual([ErrorCodes.serdeUnknownSchema, false])
    }
    // Other serdes of the process share the client's cache.
    await failure(serdes.result.deserialize(bytes))
    expect([registry.lookups, client.schemaLookups]).toEqual([1, 1])
    nowMs += 30_001
    await failure(serdes.execution.deserialize(bytes))
    expect(registry.lookups).toBe(2)
  })

  it('is bounded: past maxUnknownIds the oldest id is forgotten and asked again', async () => {
    const { serdes } = await setup({ maxUnknownIds: 3 })
    for (const id of [900_001, 900_002, 900_003, 900_004])
      await failure(serdes.execution.deserialize(withSchemaId(serdes, id)))
    expect(registry.lookups).toBe(4)
    await failure(serdes.execution.deserialize(withSchemaId(serdes, 900_004)))
    expect(registry.lookups).toBe(4)
    await failure(serdes.execution.deserialize(withSchemaId(serdes, 900_001)))
    expect(registry.lookups).toBe(5)
  })

  it('treats a 5xx, a 404 that is not the registry\'s own "not found", and no registry at all as transient', async () => {
    const { serdes } = await setup()
    const known = withSchemaId(serdes, serdes.execution.schemaId)
    // A fresh client has not looked the known id up yet (the serde resolves its own id without a request), so
    // use a second registered subject's id: the result schema's.
    const other = withSchemaId(serdes, serdes.result.schemaId)
    for (const mode of ['unavailable', 'proxy-404'] as const) {
      registry.mode = mode
      for (let i = 0; i < 3; i++) {
        const error = await failure(serdes.execution.deserialize(other))
        expect([mode, error.code, error.retriable]).toEqual([mode, ErrorCodes.registry, true])
      }
    }
    expect(registry.lookups).toBe(6) // nothing remembered
    registry.mode = 'ok'
    // The result schema is not readable as an execution: a definitive answer, undecodable (not transient).
    expect((await failure(serdes.execution.deserialize(other))).code).toBe(ErrorCodes.serdeDecode)
    expect(await serdes.execution.deserialize(known)).toMatchObject({ executionId: 't:1' })

    const unreachable = new RegistryClient('http://127.0.0.1:9/apis', { requestTimeoutMs: 500 })
    for (let i = 0; i < 2; i++) {
      const error = await failure(unreachable.getSchemaById(5))
      expect([error.code, error.retriable]).toEqual([ErrorCodes.registry, true])
    }
    expect(unreachable.schemaLookups).toBe(2)
  })

  it('the worker dead-letters UNKNOWN_SCHEMA and waits out a registry outage, as the sink does, with one cache', async () => {
    const { serdes } = await setup()
    const logger = createLogger({ level: 'silent' })
    const unknown = withSchemaId(serdes, 777_777)
    const message = (value: Buffer, offset: number) =>
      ({
        topic: topics.executions('internal'),
        partition: 0,
        offset: BigInt(offset),
        key: Buffer.from('t'),
        value,
        headers: new Map(),
        timestamp: 0n,
      }) as unknown as Message<Buffer, Buffer, Buffer, Buffer>
    const sent: string[] = []
    const workerDeps = {
      serde: serdes.execution,
      logger,
      stopping: () => false,
      send: (d: { reasonCode: string }) => Promise.resolve(void sent.push(d.reasonCode)),
    }
    for (let i = 0; i < 50; i++) {
      expect(await decodeExecution(workerDeps, topics.executions('internal'), message(unknown, i))).toBe(
        'dead-lettered',
      )
    }
    const sinkTopics = new Map<string, SinkKind>([[topics.executions('internal'), 'execution']])
    for (let i = 0; i < 50; i++) {
      const decoded = await decodeRecord(message(unknown, i), sinkTopics, serdes, () => 0)
      expect(decoded).toMatchObject({ deadLetter: { reasonCode: 'UNKNOWN_SCHEMA' } })
    }
    expect(sent).toEqual(Array.from({ length: 50 }, () => 'UNKNOWN_SCHEMA'))
    expect(registry.lookups).toBe(1)

    // An id not looked up yet while the registry is away: the sink throws (retriable), the worker waits.
    registry.mode = 'unavailable'
    const fresh = withSchemaId(serdes, serdes.result.schemaId)
    const sinkError = await failure(decodeRecord(message(fresh, 0), sinkTopics, serdes, () => 0))
    expect(sinkError.retriable).toBe(true)
    const waiting = decodeExecution(
      workerDeps,
      topics.executions('internal'),
      message(withSchemaId(serdes, 123_456), 0),
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(registry.lookups).toBeGreaterThanOrEqual(3) // asked again after its backoff, nothing dead-lettered
    expect(sent).toHaveLength(50)
    registry.mode = 'ok'
    expect(await waiting).toBe('dead-lettered') // once the registry answers: 123456 is really unknown
    expect(sent.at(-1)).toBe('UNKNOWN_SCHEMA')
  })
})
