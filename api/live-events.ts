/**
 * Live events: fires (executions), results, occurrences and dead letters as they are committed, over WebSocket
 * (`/api/events`) and Server-Sent Events (`/api/events/stream`, for curl), filterable by taskId, category and tenant.
 *
 * Each subscriber reads the topics with its own read_committed consumer (a group of its own, never committing), so
 * it sees only committed records, in partition order. Resume: every event carries `resume`, the next offset of
 * every partition this subscriber reads (`<topic>:<partition>:<offset>` joined by commas; SSE sends it as the event
 * id, so EventSource's Last-Event-ID resumes by itself). Connecting with `?resume=<that>` continues exactly after
 * the last event received: nothing still on the topics is missed, nothing is seen twice. Partitions missing from
 * `resume` start at the end. The first message (`ready`) carries the starting positions.
 *
 * Category and tenant of results and occurrences (which do not carry them) come from the read model, cached.
 */
import { randomUUID } from 'node:crypto'
import {
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka'
import type { KafkaClientFactory } from '../kafka-clients.ts'
import type { Logger } from '../logger.ts'
import type { AvroSerde } from '../schemas/avro-serde.ts'
import type { DeadLetter } from '../schemas/dead-letter.ts'
import type { Occurrence } from '../schemas/occurrence.ts'
import type { TaskExecution } from '../schemas/task-execution.ts'
import type { TaskResult } from '../schemas/task-result.ts'
import type { TopicNames } from '../topics.ts'
import type { ApiServer } from './api-server.ts'
import { Type } from 'typebox'
import { Problem } from './api-schemas.ts'
import { ApiErrorCodes, apiError } from './problems.ts'
import type { ReadModel } from './read-model.ts'
import { redactPayloadText } from './redact.ts'

export const LiveEventKinds = ['fire', 'result', 'occurrence', 'deadLetter'] as const
export type LiveEventKind = (typeof LiveEventKinds)[number]

export interface LiveEvent {
  kind: LiveEventKind
  topic: string
  partition: number
  offset: string
  timestampMs: number
  taskId: string | null
  category: string | null
  tenant: string | null
  data: Record<string, unknown>
}

export interface LiveFilter {
  taskId?: string
  category?: string
  tenant?: string
}

/** topic → partition → next offset to read. */
export type Positions = Map<string, Map<number, bigint>>

export interface LiveSubscription {
  /** Resolves with the starting positions once the subscriber reads every partition. */
  ready: Promise<Positions>
  close(): Promise<void>
}

export interface LiveEventSource {
  subscribe(from: Positions, onEvent: (event: LiveEvent) => void, onError: (error: Error) => void): LiveSubscription
}

export function encodePositions(positions: Positions): string {
  const parts: string[] = []
  for (const [topic, partitions] of [...positions].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const [partition, offset] of [...partitions].sort(([a], [b]) => a - b))
      parts.push(`${topic}:${partition}:${offset}`)
  }
  return parts.join(',')
}

export function decodePositions(token: string): Positions {
  const positions: Positions = new Map()
  for (const part of token.split(',').filter(Boolean)) {
    const match = /^(.+):(\d+):(\d+)$/.exec(part)
    if (match === null)
      throw apiError(
        ApiErrorCodes.requestInvalid,
        `resume: ${JSON.stringify(part)} is not <topic>:<partition>:<offset>`,
        'resume',
      )
    const [, topic, partition, offset] = match as unknown as [string, string, string, string]
    if (!positions.has(topic)) positions.set(topic, new Map())
    positions.get(topic)!.set(Number(partition), BigInt(offset))
  }
  return positions
}

export interface KafkaLiveEventsDeps {
  kafka: Pick<KafkaClientFactory, 'consumer'>
  topics: TopicNames
  categories: string[]
  serdes: {
    execution: AvroSerde<TaskExecution>
    result: AvroSerde<TaskResult>
    occurrence: AvroSerde<Occurrence>
    deadLetter: AvroSerde<DeadLetter>
  }
  readModel: Pick<ReadModel, 'getTask'>
  logger: Logger
}

export class KafkaLiveEvents implements LiveEventSource {
  readonly #deps: KafkaLiveEventsDeps
  readonly #taskInfo = new Map<string, { category: string | null; tenant: string | null; atMs: number }>()

  constructor(deps: KafkaLiveEventsDeps) {
    this.#deps = deps
  }

  get topicList(): string[] {
    const t = this.#deps.topics
    return [...this.#deps.categories.map(t.executions), t.results, t.occurrences, t.deadLetter]
  }

  subscribe(from: Positions, onEvent: (event: LiveEvent) => void, onError: (error: Error) => void): LiveSubscription {
    const consumer = this.#deps.kafka.consumer({
      clientId: `flextask-api-events-${randomUUID().slice(0, 8)}`,
      groupId: `flextask-api-events-${randomUUID()}`,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 200,
    })
    const topics = this.topicList
    const offsets = [...from].flatMap(([topic, partitions]) =>
      topics.includes(topic) ? [...partitions].map(([partition, offset]) => ({ topic, partition, offset })) : [],
    )
    let closed = false
    let chain = Promise.resolve()
    const ready = (async () => {
      const stream = await consumer.consume({
        topics,
        mode: offsets.length > 0 ? MessagesStreamModes.MANUAL : MessagesStreamModes.LATEST,
        ...(offsets.length > 0 ? { offsets } : {}),
        fallbackMode: MessagesStreamFallbackModes.LATEST,
      })
      stream.on('data', (message: Message) => {
        chain = chain
          .then(async () => {
            if (closed) return
            const event = await this.#toEvent(message)
            if (event !== null && !closed) onEvent(event)
          })
          .catch((error: unknown) => onError(error as Error))
      })
      stream.on('error', (error: Error) => onError(error))
      await new Promise<void>((resolve) => {
        if (stream.offsetsToFetch.size >= 1 && consumer.assignments !== null) resolve()
        else stream.once('offsets', () => resolve())
      })
      const positions: Positions = new Map()
      for (const [key, offset] of stream.offsetsToFetch) {
        const at = key.lastIndexOf(':')
        const topic = key.slice(0, at)
        if (!positions.has(topic)) positions.set(topic, new Map())
        positions.get(topic)!.set(Number(key.slice(at + 1)), offset)
      }
      return positions
    })()
    ready.catch((error: unknown) => onError(error as Error))
    return {
      ready,
      close: async () => {
        closed = true
        await consumer.close(true).catch(() => undefined)
      },
    }
  }

  async #toEvent(message: Message): Promise<LiveEvent | null> {
    if (message.value === null || message.value === undefined || message.value.length === 0) return null
    const { topics, serdes } = this.#deps
    const base = {
      topic: message.topic,
      partition: message.partition,
      offset: String(message.offset),
      timestampMs: Number(message.timestamp),
    }
    if (message.topic === topics.results) {
      const r = await serdes.result.deserialize(message.value)
      return { ...base, kind: 'result', taskId: r.taskId, ...(await this.#info(r.taskId)), data: { ...r } }
    }
    if (message.topic === topics.occurrences) {
      const o = await serdes.occurrence.deserialize(message.value)
      return { ...base, kind: 'occurrence', taskId: o.taskId, ...(await this.#info(o.taskId)), data: { ...o } }
    }
    if (message.topic === topics.deadLetter) {
      const { key: _k, originalValue: _v, ...d } = await serdes.deadLetter.deserialize(message.value)
      const info = d.taskId === null ? { category: null, tenant: null } : await this.#info(d.taskId)
      return { ...base, kind: 'deadLetter', taskId: d.taskId, ...info, data: { ...d } }
    }
    const e = await serdes.execution.deserialize(message.value)
    this.#taskInfo.set(e.taskId, { category: e.category, tenant: e.tenant, atMs: performance.now() })
    const { payload, ...rest } = e
    return {
      ...base,
      kind: 'fire',
      taskId: e.taskId,
      category: e.category,
      tenant: e.tenant,
      data: { ...rest, payload: redactPayloadText(payload, e.labels) },
    }
  }

  async #info(taskId: string): Promise<{ category: string | null; tenant: string | null }> {
    const now = performance.now()
    const hit = this.#taskInfo.get(taskId)
    if (hit !== undefined && now - hit.atMs < 30_000) return hit
    const task = await this.#deps.readModel.getTask(taskId).catch(() => null)
    const info = { category: task?.category ?? null, tenant: task?.tenant ?? null, atMs: now }
    if (this.#taskInfo.size > 10_000) this.#taskInfo.clear()
    this.#taskInfo.set(taskId, info)
    return info
  }
}

export function matches(event: LiveEvent, filter: LiveFilter): boolean {
  return (
    (filter.taskId === undefined || event.taskId === filter.taskId) &&
    (filter.category === undefined || event.category === filter.category) &&
    (filter.tenant === undefined || event.tenant === filter.tenant)
  )
}

const EventsQuery = Type.Object({
  taskId: Type.Optional(Type.String()),
  category: Type.Optional(Type.String()),
  tenant: Type.Optional(Type.String()),
  resume: Type.Optional(Type.String({ description: 'The `resume` of the last event received' })),
  access_token: Type.Optional(Type.String({ description: 'The API key, for clients that cannot send headers' })),
})

/** One subscriber's state: applies the filter and advances the resume positions past every record read. */
function follower(positions: Positions, filter: LiveFilter) {
  return (event: LiveEvent): { event: LiveEvent; resume: string } | null => {
    if (!positions.has(event.topic)) positions.set(event.topic, new Map())
    positions.get(event.topic)!.set(event.partition, BigInt(event.offset) + 1n)
    return matches(event, filter) ? { event, resume: encodePositions(positions) } : null
  }
}

/**
 * Subscribes from `from`, holds events until the starting positions are known, then hands every matching event
 * with its resume token to `send`. `ready` resolves with the starting token.
 */
function follow(
  source: LiveEventSource,
  from: Positions,
  filter: LiveFilter,
  send: (event: LiveEvent, resume: string) => void,
  onError: (error: Error) => void,
): { ready: Promise<string>; close: () => Promise<void> } {
  let step: ReturnType<typeof follower> | undefined
  const pending: LiveEvent[] = []
  const deliver = (event: LiveEvent) => {
    const out = step!(event)
    if (out !== null) send(out.event, out.resume)
  }
  const subscription = source.subscribe(
    from,
    (event) => (step === undefined ? pending.push(event) : deliver(event)),
    onError,
  )
  const ready = subscription.ready.then((positions) => {
    step = follower(positions, filter)
    const token = encodePositions(positions)
    // After the caller has sent its ready message (its continuation runs in this turn, before setImmediate).
    setImmediate(() => {
      for (const event of pending.splice(0)) deliver(event)
    })
    return token
  })
  return { ready, close: () => subscription.close() }
}

/** What the WebSocket route uses of its socket (@fastify/websocket hands a `ws` WebSocket). */
interface EventSocket {
  send(data: string): void
  close(code?: number, reason?: string): void
  on(event: 'close', listener: () => void): void
}

interface EventsQueryValue {
  taskId?: string
  category?: string
  tenant?: string
  resume?: string
}

export function registerLiveEvents(api: ApiServer, source: LiveEventSource, log: Logger): void {
  api.route({
    method: 'GET',
    url: '/api/events',
    config: { scope: 'read' },
    schema: {
      tags: ['events'],
      summary:
        'Live events over WebSocket (upgrade required). Messages: {type:"ready", resume}, then ' +
        '{type:"event", kind: fire|result|occurrence|deadLetter, taskId, category, tenant, topic, partition, offset, data, resume}',
      querystring: EventsQuery,
      response: { 426: Problem },
    },
    handler: (_request, reply) => {
      void reply.header('upgrade', 'websocket')
      throw apiError(
        ApiErrorCodes.upgradeRequired,
        'connect with a WebSocket client (or use /api/events/stream for SSE)',
      )
    },
    wsHandler: (rawSocket, request) => {
      const socket = rawSocket as unknown as EventSocket
      const { taskId, category, tenant, resume } = request.query as EventsQueryValue
      let from: Positions
      try {
        from = resume === undefined ? new Map<string, Map<number, bigint>>() : decodePositions(resume)
      } catch (error) {
        socket.send(JSON.stringify({ type: 'error', detail: (error as Error).message }))
        socket.close(1008, 'bad resume')
        return
      }
      const subscription = follow(
        source,
        from,
        { taskId, category, tenant },
        (event, token) => socket.send(JSON.stringify({ type: 'event', ...event, resume: token })),
        (error) => {
          log.warn({ err: error }, 'live events subscriber failed')
          socket.close(1011, 'event source failed')
        },
      )
      socket.on('close', () => void subscription.close())
      subscription.ready.then(
        (token) => socket.send(JSON.stringify({ type: 'ready', resume: token })),
        () => undefined,
      )
    },
  })

  api.get(
    '/api/events/stream',
    {
      sse: 'only',
      config: { scope: 'read' },
      schema: {
        tags: ['events'],
        summary: 'Live events as Server-Sent Events (Last-Event-ID resumes)',
        querystring: EventsQuery,
      },
    },
    async (request, reply) => {
      const query = request.query as EventsQueryValue
      const token = reply.sse.lastEventId ?? query.resume
      const from =
        token === undefined || token === null ? new Map<string, Map<number, bigint>>() : decodePositions(token)
      const subscription = follow(
        source,
        from,
        { taskId: query.taskId, category: query.category, tenant: query.tenant },
        (event, resume) => void reply.sse.send({ id: resume, event: event.kind, data: event }),
        () => reply.sse.close(),
      )
      reply.sse.onClose(() => void subscription.close())
      const start = await subscription.ready
      reply.sse.keepAlive()
      await reply.sse.send({ id: start, event: 'ready', data: { resume: start } })
    },
  )
}
