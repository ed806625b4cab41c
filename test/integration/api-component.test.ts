/**
 * The API component on the real broker and registry, with the scheduler in the same process: a create over real
 * HTTP produces the definition Avro-encoded, keyed by taskId, on the partition murmur2 picks (the scheduler would
 * dead-letter it anywhere else), and the scheduler fires it — seen by a `flextask tail` client over WebSocket.
 * Concurrent creates share produce requests, and each still answers its own record's offset. A definition the API
 * refuses (400) never reaches Kafka.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashApiKey } from '../../api/api-keys.ts'
import { createApi, type ApiComponent } from '../../api/api.ts'
import { ApiClient, ApiClientError } from '../../client/api-client.ts'
import { tail, type TailEvent } from '../../client/tail.ts'
import type { Component } from '../../component.ts'
import { createScheduler } from '../../scheduler/scheduler.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { collect, testAdmin, uniqueName, waitFor } from '../helpers/kafka.ts'
import { deletePrefixTopics, testProcessDeps } from '../helpers/scheduler.ts'

const prefix = uniqueName('ft-api-comp')
const topics = topicNames(prefix)
const key = `k-${randomUUID()}`
const { admin } = testAdmin()
const components: Component[] = []
let api: ApiComponent
let client: ApiClient

beforeAll(async () => {
  const deps = testProcessDeps({
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '3',
    FLEXTASK_CATEGORIES: 'http,internal',
    FLEXTASK_STATE_DIR: `/tmp/${prefix}`,
    FLEXTASK_INSTANCE_ID: uniqueName('api-comp'),
    PORT: '0',
    FLEXTASK_API_KEYS: `test:admin:${hashApiKey(key)}`,
    FLEXTASK_API_WAIT_TIMEOUT_MS: '200',
  })
  const scheduler = createScheduler(deps)
  await scheduler.start()
  components.push(scheduler)
  api = createApi(deps)
  await api.start()
  components.push(api)
  client = new ApiClient({ url: api.url, key })
})

afterAll(async () => {
  for (const component of components.reverse()) await component.close()
  await deletePrefixTopics(admin, prefix).catch(() => {})
})

describe('the API component', () => {
  it('produces a create on the murmur2 partition, and the scheduler fires it (seen live over WebSocket)', async () => {
    const events: TailEvent[] = []
    const stop = new AbortController()
    const lines: string[] = []
    let resumed: (() => void) | undefined
    const ready = new Promise<void>((resolve) => (resumed = resolve))
    const following = tail(
      client,
      { out: (l) => lines.push(l), err: () => undefined },
      {
        category: 'internal',
        signal: stop.signal,
        onEvent: (e) => events.push(e),
        onResume: () => resumed?.(),
      },
    )
    const reader = await collect([topics.definitions])
    try {
      await ready // the subscriber reads every partition from here on
      const answer = await client.request<{
        taskId: string
        projected: boolean
        position: { partition: number; offset: string }
      }>('POST', '/api/tasks', {
        body: {
          category: 'internal',
          type: 'noop',
          schedule: { kind: 'DELAY', delayMs: 1500 },
          payload: { token: 'x' },
        },
        query: { wait: false },
      })
      expect(answer.status).toBe(202)
      const { taskId, position } = answer.body
      expect(position.partition).toBe(partitionForKey(taskId, 3))
      const record = await waitFor('the definition on Kafka', () => reader.records.find((r) => r.key === taskId))
      expect(record.partition).toBe(position.partition)
      expect(String(record.offset)).toBe(position.offset)
      await waitFor('the fire and its occurrence, live', () =>
        events.some((e) => e.kind === 'fire' && e.taskId === taskId) &&
        events.some((e) => e.kind === 'occurrence' && e.taskId === taskId)
          ? true
          : undefined,
      )
      const fire = events.find((e) => e.kind === 'fire' && e.taskId === taskId)!
      expect(fire.data).toMatchObject({
        executionId: expect.stringMatching(new RegExp(`^${taskId}:\\d+$`)),
        payload: { token: '[REDACTED]' },
      })
      expect(lines.some((l) => l.includes(taskId) && l.includes('fire'))).toBe(true)
    } finally {
      stop.abort()
      await following
      await reader.close()
    }
  })

  it('answers every one of many concurrent creates with the exact offset its record got', async () => {
    const reader = await collect([topics.definitions])
    try {
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          client.request<{ taskId: string; position: { partition: number; offset: string } }>('POST', '/api/tasks', {
            body: { category: 'http', type: 'x', schedule: { kind: 'DELAY', delayMs: 3_600_000 }, name: `n${i}` },
            query: { wait: false },
          }),
        ),
      )
      for (const { body } of answers) {
        const record = await waitFor(`record of ${body.taskId}`, () =>
          reader.records.find((r) => r.key === body.taskId),
        )
        expect(body.position).toMatchObject({ partition: record.partition, offset: String(record.offset) })
      }
      expect(new Set(answers.map((a) => `${a.body.position.partition}:${a.body.position.offset}`)).size).toBe(60)
    } finally {
      await reader.close()
    }
  })

  it("reports the health of the process's components on /health/ready, without a key", async () => {
    const [scheduler] = components
    api.reportHealthOf(() => ({ scheduler: scheduler!.health(), api: api.health() }))
    const res = await fetch(`${api.url}/health/ready`)
    const body = (await res.json()) as { checks: Record<string, { ok: boolean }> }
    expect(body.checks.scheduler).toEqual({ ok: true, reasons: [] })
    expect(body.checks.api).toEqual({ ok: true, reasons: [] })
    expect(body.checks).toHaveProperty('postgres')
    api.reportHealthOf(() => ({ scheduler: { live: true, ready: false, reasons: ['restoring partitions 0'] } }))
    const notReady = await fetch(`${api.url}/health/ready`)
    expect(notReady.status).toBe(503)
    expect(((await notReady.json()) as { checks: Record<string, unknown> }).checks.scheduler).toEqual({
      ok: false,
      reasons: ['restoring partitions 0'],
    })
  })

  it('refuses an invalid definition with 400 and writes nothing', async () => {
    const reader = await collect([topics.definitions])
    try {
      const error = await client
        .request('POST', '/api/tasks', {
          body: { category: 'internal', type: 'x', schedule: { kind: 'CRON', cron: '0 0 0 30 2 *' } },
        })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ApiClientError)
      expect((error as ApiClientError).problem).toMatchObject({ status: 400, field: 'schedule.cron' })
      await new Promise((resolve) => setTimeout(resolve, 1000))
      expect(reader.records.filter((r) => r.value !== undefined && r.raw?.includes('0 0 0 30 2'))).toEqual([])
    } finally {
      await reader.close()
    }
  })
})
