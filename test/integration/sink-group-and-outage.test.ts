/**
 * The Postgres sink as a group and through an outage, on the real broker and Postgres: two sinks started at once in
 * one group migrate one database, split the partitions (partition p of every topic on one sink) and never write the
 * same partition; with Postgres unreachable for 30 s (a TCP proxy under the test's control: 15 s blackholed, then
 * 15 s refusing) the sink waits, retries the same batch, then catches up with nothing lost and nothing twice.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Connector, createConnector } from '../../connectors/connector.ts'
import { testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import { count, createDatabase, type SinkDatabase } from '../helpers/sink.ts'
import {
  addExpected,
  type Expected,
  produce,
  type SinkFixture,
  sinkDeps,
  sinkFixture,
  sinkOverrides,
  waitCaughtUp,
  workload,
} from '../helpers/sink-workload.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const producer = testProducer()
const connectors: Connector[] = []
afterAll(async () => {
  for (const c of connectors) await c.close().catch(() => {})
})

let fx: SinkFixture
beforeAll(async () => {
  fx = await sinkFixture(3)
})

function connector(databaseUrl: string, groupId: string, instanceId: string, sink = {}): Connector {
  const c = createConnector(sinkDeps(sinkOverrides(fx, databaseUrl, { groupId, instanceId, ...sink })))
  connectors.push(c)
  return c
}

async function expectProjected(db: SinkDatabase, expected: Expected, wave: string): Promise<void> {
  const like = `task_id LIKE '${wave}%'`
  expect(await count(db.pool, 'task_runs', like)).toBe(expected.runs)
  expect(await count(db.pool, 'task_logs', like)).toBe(expected.logs)
  expect(await count(db.pool, 'task_occurrences', like)).toBe(expected.occurrences)
  const { rows } = await db.pool.query<{ total: string | null }>(
    `SELECT sum(runs_total)::text AS total FROM tasks WHERE ${like}`,
  )
  expect(Number(rows[0]!.total)).toBe(expected.runs)
}

describe('postgres sink group', () => {
  it('splits the partitions between two sinks of one group and never writes a partition from both', async () => {
    const db = await createDatabase()
    const group = uniqueName('ft-sink-pair')
    const a = connector(db.url, group, 'pair-a')
    const b = connector(db.url, group, 'pair-b')
    // Both migrate the same empty database at once: the advisory lock lets one apply, the other wait.
    await Promise.all([a.start(), b.start()])
    const partitionNumbers = (c: Connector): Set<number> =>
      new Set(c.runner!.assigned.map((key) => Number(key.slice(key.lastIndexOf(':') + 1))))
    await waitFor('both sinks to hold a share of the partitions', () => {
      const [pa, pb] = [partitionNumbers(a), partitionNumbers(b)]
      const all = a.runner!.assigned.length + b.runner!.assigned.length
      return a.runner!.ready && b.runner!.ready && pa.size > 0 && pb.size > 0 && all === fx.names.length * fx.partitions
        ? true
        : undefined
    })
    expect([...partitionNumbers(a)].filter((p) => partitionNumbers(b).has(p))).toEqual([])
    const written = { a: new Set<string>(), b: new Set<string>() }
    a.runner!.on('flushed', (s: { partitions: string[] }) => s.partitions.forEach((p) => written.a.add(p)))
    b.runner!.on('flushed', (s: { partitions: string[] }) => s.partitions.forEach((p) => written.b.add(p)))

    const wave = workload(fx, 'pair', { tasks: 30, slots: 20 })
    await produce(producer, wave.messages)
    await waitCaughtUp(db.pool, group, fx.names)

    expect(written.a.size).toBeGreaterThan(0)
    expect(written.b.size).toBeGreaterThan(0)
    expect([...written.a].filter((p) => written.b.has(p))).toEqual([])
    expect([...written.a].every((p) => a.runner!.assigned.includes(p))).toBe(true)
    expect([...written.b].every((p) => b.runner!.assigned.includes(p))).toBe(true)
    const { rows } = await db.pool.query<{ topic: string; partition: number; written_by: string }>(
      'SELECT topic, partition, written_by FROM sink_offsets WHERE consumer_group = $1 AND written_by IS NOT NULL',
      [group],
    )
    for (const r of rows) {
      const owner = partitionNumbers(a).has(r.partition) ? 'pair-a' : 'pair-b'
      expect({ at: `${r.topic}:${r.partition}`, by: r.written_by }).toEqual({
        at: `${r.topic}:${r.partition}`,
        by: owner,
      })
    }
    await expectProjected(db, wave.expected, 'pair')
    expect(a.runner!.stats.fenced + b.runner!.stats.fenced).toBe(0)
    await Promise.all([a.close(), b.close()])
  })

  it('dead-letters a record whose row Postgres refuses and keeps projecting its partition', async () => {
    const db = await createDatabase()
    const group = uniqueName('ft-sink-poison')
    const sink = connector(db.url, group, 'poison-sink')
    await sink.start()
    const huge = randomBytes(10_000).toString('hex')
    const poison = workload(fx, `poison-${huge}`, { tasks: 1, slots: 1 })
    const wave = workload(fx, 'after-poison', { tasks: 5, slots: 5 })
    await produce(producer, [...poison.messages, ...wave.messages])
    await waitCaughtUp(db.pool, group, fx.names)
    await expectProjected(db, wave.expected, 'after-poison')
    const { rows } = await db.pool.query<{ source_topic: string; n: string }>(
      `SELECT source_topic, count(*)::text AS n FROM dead_letters WHERE reason_code = 'PROCESSING_FAILED'
       GROUP BY source_topic ORDER BY source_topic`,
    )
    // The poison task's definition and each of its run, log and occurrence records: refused, dead-lettered.
    expect(rows.map((r) => r.source_topic).sort()).toEqual(
      [
        fx.topics.definitions,
        fx.topics.executions('http'),
        fx.topics.logs,
        fx.topics.occurrences,
        fx.topics.results,
      ].sort(),
    )
    expect(sink.runner!.fatal).toBeUndefined()
    await sink.close()
  })

  it('waits while Postgres is unreachable for 30 s, then catches up with nothing lost and nothing twice', async () => {
    const db = await createDatabase()
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(db.url).port || 5432))
    const proxied = new URL(db.url)
    proxied.hostname = '127.0.0.1'
    proxied.port = String(proxy.port)
    const group = uniqueName('ft-sink-outage')
    const sink = connector(proxied.toString(), group, 'outage-sink', {
      queryTimeoutMs: 2000,
      statementTimeoutMs: 1500,
      retryMaxMs: 2000,
    })
    await sink.start()
    const before = workload(fx, 'outage-a', { tasks: 10, slots: 10 })
    await produce(producer, before.messages)
    await waitCaughtUp(db.pool, group, fx.names)
    await expectProjected(db, before.expected, 'outage-a')

    proxy.setMode('blackhole')
    const started = Date.now()
    let expected: Expected = { runs: 0, logs: 0, occurrences: 0, tasks: 0, undecodable: 0 }
    const runsAtStart = await count(db.pool, 'task_runs', `task_id LIKE 'outage-b%'`)
    for (let i = 0; Date.now() - started < 30_000; i++) {
      if (proxy.mode === 'blackhole' && Date.now() - started >= 15_000) proxy.setMode('refuse')
      const wave = workload(fx, `outage-b${i}-`, { tasks: 5, slots: 4 })
      await produce(producer, wave.messages)
      expected = addExpected(expected, wave.expected)
      await sleep(1000)
    }
    // Nothing reached Postgres during the outage, and the sink said it was not ready.
    expect(runsAtStart).toBe(0)
    expect(await count(db.pool, 'task_runs', `task_id LIKE 'outage-b%'`)).toBe(0)
    expect(sink.health().ready).toBe(false)
    expect(sink.runner!.stats.retries).toBeGreaterThan(3)
    expect(sink.runner!.fatal).toBeUndefined()
    proxy.setMode('up')
    const recoveredAt = Date.now()
    await waitCaughtUp(db.pool, group, fx.names)
    console.log(
      `sink outage test: ${sink.runner!.stats.retries} retries during 30 s; caught up ${Date.now() - recoveredAt} ms ` +
        `after Postgres came back (${expected.runs} runs written meanwhile)`,
    )
    await expectProjected(db, expected, 'outage-b')
    await expectProjected(db, before.expected, 'outage-a')
    await waitFor('the sink to report ready again', () => (sink.health().ready ? true : undefined))
    await sink.close()
  })
})
