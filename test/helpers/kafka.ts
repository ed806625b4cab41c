/**
 * Real-broker helpers: uniquely named topics and groups per test, deleted afterwards, and waiting on
 * conditions instead of sleeping.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin } from '@platformatic/kafka'
import { afterAll } from 'vitest'
import { kafkaBrokers } from './env.ts'

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
  const admin = new Admin({ clientId: uniqueName('test-admin'), bootstrapBrokers: kafkaBrokers })
  const created: string[] = []
  afterAll(async () => {
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
