/**
 * The API over the real read model: scheduler, Postgres sink (connector) and API in one process on the real broker
 * and a fresh database. A create answers 201 only once the sink has it, so a GET right after sees the task; pause,
 * resume and delete read their own writes the same way; a write with wait=false answers 202 and a read with its
 * minOffset waits for it. History (runs, occurrences, next, dead letters, the monitor summary) comes from the SQL of
 * api/postgres-read-model.ts against the sink's own tables.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashApiKey } from '../../api/api-keys.ts'
import { createApi, type ApiComponent } from '../../api/api.ts'
import { ApiClient } from '../../client/api-client.ts'
import type { Component } from '../../component.ts'
import { createConnector } from '../../connectors/connector.ts'
import { createScheduler } from '../../scheduler/scheduler.ts'
import { buildTaskDefinition } from '../../schemas/task-definition-builder.ts'
import { topicNames } from '../../topics.ts'
import { partitionForKey } from '../../topology/partitioner.ts'
import { testAdmin, testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import { createTestDatabase } from '../helpers/postgres.ts'
import { deletePrefixTopics, testProcessDeps } from '../helpers/scheduler.ts'

const prefix = uniqueName('ft-api-rm')
const topics = topicNames(prefix)
const key = `k-${randomUUID()}`
const { admin } = testAdmin()
const producer = testProducer()
const components: Component[] = []
let api: ApiComponent
let client: ApiClient
let deps: ReturnType<typeof testProcessDeps>

beforeAll(async () => {
  // Dropped when the file ends, after the afterAll below has closed the components (cleanup.ts).
  const database = await createTestDatabase({ prefix: 'ft_api' })
  deps = testProcessDeps({
    FLEXTASK_TOPIC_PREFIX: prefix,
    FLEXTASK_PARTITIONS: '2',
    FLEXTASK_CATEGORIES: 'http,internal',
    FLEXTASK_STATE_DIR: `/tmp/${prefix}`,
    FLEXTASK_INSTANCE_ID: uniqueName('api-rm'),
    DATABASE_URL: database.url,
    FLEXTASK_SINK_FLUSH_INTERVAL_MS: '20',
    PORT: '0',
    FLEXTASK_API_KEYS: `test:admin:${hashApiKey(key)}`,
    FLEXTASK_API_WAIT_TIMEOUT_MS: '20000',
  })
  for (const create of [createScheduler, createConnector, createApi]) {
    const component = create(deps)
    await component.start()
    components.push(component)
  }
  api = components.at(-1) as ApiComponent
  client = new ApiClient({ url: api.url, key })
})

afterAll(async () => {
  for (const component of components.reverse()) await component.close()
  await deletePrefixTopics(admin, prefix).catch(() => {})
})

type Task = { taskId: string; status: string; version: number; runs: { total: number }; nextFireAtMs: number | null }
type Write = { taskId: string; projected: boolean; task: Task | null; position: { token: string } }

describe('the API on the Postgres read model', () => {
  it('reads its own writes: create, pause, resume and delete are visible to the next GET', async () => {
    const created = await client.request<Write>('POST', '/api/tasks', {
      body: {
        taskId: 'rw',
        category: 'internal',
        type: 'noop',
        schedule: { kind: 'CRON', cron: '*/2 * * * * *' },
        labels: { team: 'ops' },
      },
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ projected: true, task: { taskId: 'rw', status: 'ACTIVE', version: 1 } })
    expect((await client.request<Task>('GET', '/api/tasks/rw')).body.status).toBe('ACTIVE')
    const listed = await client.request<{ items: Task[] }>('GET', '/api/tasks', { query: { label: 'team=ops' } })
    expect(listed.body.items.map((t) => t.taskId)).toEqual(['rw'])

    const paused = await client.request<Write>('PUT', '/api/tasks/rw/status', { body: { status: 'PAUSED' } })
    expect(paused.body).toMatchObject({ projected: true, task: { status: 'PAUSED', version: 2 } })
    expect((await client.request<Task>('GET', '/api/tasks/rw')).body.status).toBe('PAUSED')
    const resumed = await client.request<Write>('PUT', '/api/tasks/rw/status', { body: { status: 'ACTIVE' } })
    expect(resumed.body.task).toMatchObject({ status: 'ACTIVE', version: 3 })

    const deleted = await client.request<Write>('DELETE', '/api/tasks/rw')
    expect(deleted.body.projected).toBe(true)
    const gone = await client.request('GET', '/api/tasks/rw').catch((e: { status: number }) => e)
    expect(gone).toMatchObject({ status: 404 })
  })

  it('answers 202 without waiting, and a read with minOffset waits for the projection', async () => {
    const written = await client.request<Write>('POST', '/api/tasks', {
      body: { category: 'http', type: 'request', schedule: { kind: 'DELAY', delayMs: 3_600_000 } },
      query: { wait: false },
    })
    expect(written.status).toBe(202)
    const read = await client.request<Task>('GET', `/api/tasks/${written.body.taskId}`, {
      query: { minOffset: written.body.position.token },
    })
    expect(read.body.taskId).toBe(written.body.taskId)
  })

  it('shows runs, occurrences, next instants, dead letters and the monitor summary from the sink tables', async () => {
    await client.request('POST', '/api/tasks', {
      body: { taskId: 'hist', category: 'internal', type: 'noop', schedule: { kind: 'CRON', cron: '* * * * * *' } },
    })
    const trigger = await client.request<{ commands: { executionId: string }[] }>('POST', '/api/tasks/hist/trigger')
    const manualId = trigger.body.commands[0]!.executionId
    const runs = await waitFor('runs of hist, with the manual one', async () => {
      const page = await client.request<{
        items: { executionId: string; status: string; trigger: string }[]
        total: number
      }>('GET', '/api/tasks/hist/executions')
      return page.body.items.some((r) => r.executionId === manualId) && page.body.total >= 2 ? page.body : undefined
    })
    expect(runs.items.find((r) => r.executionId === manualId)).toMatchObject({ trigger: 'MANUAL', status: 'PENDING' })
    const execution = await client.request<{ taskId: string; attempts: unknown[] }>(
      'GET',
      `/api/executions/${encodeURIComponent(manualId)}`,
    )
    expect(execution.body).toMatchObject({ taskId: 'hist', attempts: [{ attempt: 1 }] })
    const ledger = await client.request<{ items: { outcome: string }[] }>('GET', '/api/tasks/hist/occurrences')
    expect(ledger.body.items.length).toBeGreaterThan(0)
    expect(ledger.body.items.every((o) => o.outcome === 'FIRED')).toBe(true)
    const next = await client.request<{ instants: { atMs: number }[] }>('GET', '/api/tasks/hist/next', {
      query: { count: 3 },
    })
    expect(next.body.instants.map((i) => i.atMs % 1000)).toEqual([0, 0, 0])

    // A definition produced around the API with an invalid cron is dead-lettered by the scheduler.
    const invalid = buildTaskDefinition({
      taskId: 'bad-cron',
      category: 'http',
      type: 'x',
      createdAtMs: Date.now(),
      schedule: { kind: 'CRON', cron: '61 * * * * *' },
    })
    await producer.send({
      messages: [
        {
          topic: topics.definitions,
          partition: partitionForKey('bad-cron', 2),
          key: Buffer.from('bad-cron'),
          value: deps.serdes.definition.serialize(invalid),
        },
      ],
    })
    const dead = await waitFor('the dead letter', async () => {
      const page = await client.request<{ items: { taskId: string; reasonCode: string }[] }>(
        'GET',
        '/api/dead-letters',
        { query: { taskId: 'bad-cron' } },
      )
      return page.body.items[0]
    })
    expect(dead.reasonCode).toBe('INVALID_DEFINITION')
    const summary = await client.request<{ tasksByStatus: Record<string, number>; firesLastHour: number }>(
      'GET',
      '/api/monitor/metrics',
    )
    expect(summary.body.tasksByStatus.ACTIVE).toBeGreaterThanOrEqual(2)
    expect(summary.body.firesLastHour).toBeGreaterThan(0)
    const ready = await fetch(`${api.url}/health/ready`)
    expect(ready.status).toBe(200)
  })
})
