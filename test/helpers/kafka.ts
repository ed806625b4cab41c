/**
 * Real-broker helpers: uniquely named topics and groups per test, deleted afterwards, and waiting on
 * conditions instead of sleeping.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type Admin,
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type Producer,
} from '@platformatic/kafka'
import { onCleanup } from './cleanup.ts'
import type { KafkaClientFactory } from '../../kafka-clients.ts'
import { kafkaBrokers, testKafka } from './env.ts'

export { kafkaBrokers }

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

export interface TopicSpec {
  partitions?: number
  configs?: Record<string, string>
}

/**
 * Admin client for the current test file; topics created through it are deleted when the file ends.
 */
export function testAdmin(): {
  admin: Admin
  createTopic: (prefix: string, spec?: TopicSpec) => Promise<string>
} {
  const admin = testKafka.admin(uniqueName('test-admin'))
  const created: string[] = []
  onCleanup(async () => {
    if (created.length > 0) await admin.deleteTopics({ topics: created }).catch(() => {})
    await admin.close()
  })
  async function createTopic(prefix: string, spec: TopicSpec = {}): Promise<string> {
    const topic = uniqueName(prefix)
    await admin.createTopics({
      topics: [topic],
      partitions: spec.partitions ?? 1,
      replicas: 1,
      configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
    })
    created.push(topic)
    return topic
  }
  return { admin, createTopic }
}

/** Polls `probe` until it returns a value other than undefined, or fails with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    await sleep(100)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError })
}

export interface CollectedRecord {
  topic: string
  partition: number
  offset: bigint
  key: string | undefined
  value: string | undefined
  /** The value's bytes, for binary (Avro) values that `value` would mangle; undefined when `value` is. */
  raw: Buffer | undefined
  timestampMs: number
}

/**
 * Reads topics from the beginning with a read_committed consumer of a unique group, collecting every
 * record (value as a string and as bytes) until `close()`. Register cleanup with the returned close in
 * afterAll/finally.
 */
export async function collect(
  topics: string[],
  kafka: KafkaClientFactory = testKafka,
): Promise<{ records: CollectedRecord[]; close: () => Promise<void> }> {
  const consumer = kafka.consumer({
    clientId: uniqueName('collector'),
    groupId: uniqueName('collector-group'),
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 200,
  })
  const stream = await consumer.consume({
    topics,
    mode: MessagesStreamModes.EARLIEST,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
  })
  const records: CollectedRecord[] = []
  stream.on('data', (m: Message) => {
    const raw = m.value === null || m.value === undefined || m.value.length === 0 ? undefined : m.value
    records.push({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: m.key?.toString(),
      value: raw?.toString(),
      raw,
      timestampMs: Number(m.timestamp),
    })
  })
  return {
    records,
    close: async () => {
      await stream.close().catch(() => {})
      await consumer.close(true).catch(() => {})
    },
  }
}

/** A plain (non-transactional) producer for test input; closed when the file ends. */
export function testProducer(): Producer {
  const producer = testKafka.producer({ clientId: uniqueName('test-producer') })
  onCleanup(async () => {
    await producer.close().catch(() => {})
  })
  return producer
}

/**
 * The last value per key of a topic (e.g. a changelog), read with read_committed from the beginning: an oracle
 * for restored state. The topic must not be written meanwhile; reading ends after 1.5 s without new records.
 */
export async function lastValues(topic: string, partition?: number): Promise<Map<string, string | undefined>> {
  const reader = await collect([topic])
  try {
    let seen = -1
    let quietSince = Date.now()
    await waitFor(`reading ${topic} to its end`, () => {
      if (reader.records.length !== seen) {
        seen = reader.records.length
        quietSince = Date.now()
      }
      return Date.now() - quietSince > 1500 ? true : undefined
    })
  } finally {
    await reader.close()
  }
  const out = new Map<string, string | undefined>()
  for (const r of reader.records) {
    if ((partition === undefined || r.partition === partition) && r.key !== undefined) out.set(r.key, r.value)
  }
  return out
}
