/**
 * Live events on the real broker: a WebSocket client over real HTTP receives occurrences and results in partition
 * order, only for its filter; after a disconnect it reconnects with the `resume` of the last event it saw and gets
 * exactly what was committed meanwhile — nothing missed, nothing twice. SSE delivers the same events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApiServer, type ApiServer } from '../../api/api-server.ts'
import { defaultApiOptions } from '../../api/api-options.ts'
import { KafkaLiveEvents } from '../../api/live-events.ts'
import { createKafkaClientFactory } from '../../kafka-clients.ts'
import { silentLogger } from '../../logger.ts'
import { ensureSchedulerTopics } from '../../scheduler/scheduler-topics.ts'
import type { Occurrence } from '../../schemas/occurrence.ts'
import type { SerdeRegistry } from '../../schemas/serde-registry.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { schemaRegistryUrl } from '../helpers/env.ts'
import { kafkaBrokers, testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import { MemoryProjection, testApiKeys, testKeys } from '../helpers/memory-api.ts'
import { deletePrefixTopics, testSerdes } from '../helpers/scheduler.ts'

const partitions = 2
const prefix = uniqueName('ft-api-ws')
const topics = topicNames(prefix)
const { admin } = testAdmin()
const producer = testProducer()
const kafka = createKafkaClientFactory({ bootstrapBrokers: kafkaBrokers })
let serdes: SerdeRegistry
let app: ApiServer
let base: string
const store = new MemoryProjection()

beforeAll(async () => {
  await ensureSchedulerTopics(admin, topics, ['http'], partitions)
  serdes = await testSerdes(schemaRegistryUrl, topics)
  const liveEvents = new KafkaLiveEvents({
    kafka,
    topics,
    categories: ['http'],
    serdes,
    readModel: store,
    logger: silentLogger,
  })
  app = await buildApiServer({
    options: { ...defaultApiOptions, apiKeys: testApiKeys, categories: ['http'] },
    readModel: store,
    writer: store,
    topics,
    logger: silentLogger,
    liveEvents,
  })
  base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws')
})

afterAll(async () => {
  await app?.close()
  await deletePrefixTopics(admin, prefix).catch(() => {})
})

function occurrence(taskId: string, n: number): Occurrence {
  return {
    taskId,
    scheduledForMs: 1_000_000 + n,
    executionId: `${taskId}:${1_000_000 + n}`,
    outcome: 'FIRED',
    reason: null,
    recordedAtMs: 1_000_000 + n,
  }
}

async function produceOccurrences(items: Occurrence[]): Promise<void> {
  await producer.send({
    messages: items.map((o) => ({
      topic: topics.occurrences,
      partition: partitionForKey(o.taskId, partitions),
      key: Buffer.from(o.taskId),
      value: serdes.occurrence.serialize(o),
    })),
  })
}

interface Received {
  type: string
  kind?: string
  taskId?: string
  partition?: number
  offset?: string
  data?: { scheduledForMs: number; status?: string }
  resume: string
}

/** A WebSocket client collecting every message. */
function connect(query: string): { messages: Received[]; socket: WebSocket; closed: Promise<void> } {
  const socket = new WebSocket(`${base}/api/events?access_token=${testKeys.read}&${query}`)
  const messages: Received[] = []
  socket.addEventListener('message', (m: MessageEvent) => messages.push(JSON.parse(String(m.data)) as Received))
  const closed = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve()))
  return { messages, socket, closed }
}

const slots = (messages: Received[]) =>
  messages.filter((m) => m.type === 'event').map((m) => (m.data?.scheduledForMs ?? 0) - 1_000_000)

describe('live events over WebSocket', () => {
  it('delivers events in order for the filter, and resumes after a reconnect without a gap or a repeat', async () => {
    const first = connect('taskId=watched')
    await waitFor('ready', () => first.messages.find((m) => m.type === 'ready'), 60_000)
    await produceOccurrences([1, 2, 3, 4, 5].flatMap((n) => [occurrence('watched', n), occurrence('other', n)]))
    await waitFor('five events', () => (slots(first.messages).length >= 5 ? true : undefined))
    expect(slots(first.messages)).toEqual([1, 2, 3, 4, 5])
    const events = first.messages.filter((m) => m.type === 'event')
    expect(events.every((e) => e.kind === 'occurrence' && e.taskId === 'watched')).toBe(true)
    const offsets = events.map((e) => BigInt(e.offset!))
    expect([...offsets].sort((a, b) => (a < b ? -1 : 1))).toEqual(offsets)

    const resume = events.at(-1)!.resume
    first.socket.close()
    await first.closed
    await produceOccurrences([6, 7, 8].map((n) => occurrence('watched', n)))
    await produceOccurrences([occurrence('other', 9)])

    const second = connect(`taskId=watched&resume=${encodeURIComponent(resume)}`)
    await waitFor('three more events', () => (slots(second.messages).length >= 3 ? true : undefined), 60_000)
    await produceOccurrences([occurrence('watched', 10)])
    await waitFor('the live one', () => (slots(second.messages).length >= 4 ? true : undefined))
    expect(slots(second.messages)).toEqual([6, 7, 8, 10])
    second.socket.close()
    await second.closed
  })

  it('rejects a malformed resume token and a missing key', async () => {
    const bad = connect('resume=nonsense')
    await bad.closed
    expect(bad.messages[0]).toMatchObject({ type: 'error' })
    const anonymous = new WebSocket(`${base}/api/events`)
    const outcome = await new Promise<string>((resolve) => {
      anonymous.addEventListener('open', () => resolve('open'))
      anonymous.addEventListener('error', () => resolve('refused'))
    })
    expect(outcome).toBe('refused')
  })
})

describe('live events over SSE', () => {
  it('streams the ready position and then events, with the resume token as the event id', async () => {
    const controller = new AbortController()
    const response = await fetch(`${base.replace('ws', 'http')}/api/events/stream?taskId=sse`, {
      headers: { authorization: `Bearer ${testKeys.read}` },
      signal: controller.signal,
    })
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    const reader = response.body!.getReader()
    let text = ''
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) text += new TextDecoder().decode((await reader.read()).value)
    }
    await readUntil('event: ready')
    await produceOccurrences([occurrence('sse', 1)])
    await readUntil('event: occurrence')
    const block = text.slice(text.indexOf('event: occurrence'))
    const id = /id: (.*)/.exec(text.slice(text.lastIndexOf('id:', text.indexOf('event: occurrence') + 20)))?.[1]
    expect(block).toContain('"taskId":"sse"')
    expect(id).toContain(`${topics.occurrences}:${partitionForKey('sse', partitions)}:`)
    controller.abort()
  })
})
