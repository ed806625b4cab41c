/**
 * The Postgres SinkTask on a real Postgres (a database per file): migrations under the advisory lock, rows and
 * offsets in one transaction, redelivery changes nothing, fencing of a second writer, monotonic run status across
 * topic order, cancellations, counters and tombstones. Timestamps are passed in the records.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadMigrations, migrate } from '../../connectors/migrator.ts'
import { PostgresSinkTask } from '../../connectors/postgres-sink-task.ts'
import { RunStatuses, runStatusRank, type SinkRecord, type SinkValue } from '../../connectors/projection.ts'
import { buildTaskDefinition, emptySchedule } from '../../schemas/task-definition-builder.ts'
import {
  count,
  createDatabase,
  execution,
  log,
  occurrence,
  result,
  type SinkDatabase,
  snapshot,
} from '../helpers/sink.ts'

const T = { defs: 'defs', exec: 'exec', results: 'results', occ: 'occ', logs: 'logs', dl: 'dl' }
const slot = Date.UTC(2026, 10, 30, 12, 0, 0)

let db: SinkDatabase
beforeAll(async () => {
  db = await createDatabase()
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  await migrate(client)
  await client.end()
})

/** Each test consumes as its own group, so its offsets rows start at 0. */
let group = 0
beforeEach(() => {
  group++
  nextOffset = new Map()
})

function task(writerId = 'sink-a'): PostgresSinkTask {
  return new PostgresSinkTask({ connection: { connectionString: db.url }, group: `g${group}`, writerId })
}

let nextOffset: Map<string, bigint> = new Map<string, bigint>()
function rec(topic: string, value: SinkValue, partition = 0): SinkRecord & { timestampMs: number } {
  const key = `${topic}:${partition}`
  const offset = nextOffset.get(key) ?? 0n
  nextOffset.set(key, offset + 1n)
  return { topic, partition, offset, value, timestampMs: slot + 1000 }
}

async function runRow(executionId: string, attempt = 1): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query('SELECT * FROM task_runs WHERE execution_id = $1 AND attempt = $2', [
    executionId,
    attempt,
  ])
  return rows[0] as Record<string, unknown> | undefined
}

describe('migrations', () => {
  it('applies each file once when two sinks migrate at the same time', async () => {
    const fresh = await createDatabase()
    const clients = [new pg.Client({ connectionString: fresh.url }), new pg.Client({ connectionString: fresh.url })]
    for (const c of clients) await c.connect()
    try {
      const applied = await Promise.all(clients.map((c) => migrate(c)))
      expect(applied.map((a) => a.length).sort()).toEqual([0, loadMigrations().length])
      expect(await count(fresh.pool, 'schema_migrations')).toBe(loadMigrations().length)
      expect(await migrate(clients[0]!)).toEqual([])
    } finally {
      for (const c of clients) await c.end()
    }
  })

  it('ranks run statuses in SQL exactly as the projection does in code', async () => {
    const { rows } = await db.pool.query<{ status: string; rank: number }>(
      'SELECT s AS status, flextask_run_status_rank(s) AS rank FROM unnest($1::text[]) AS s',
      [[...RunStatuses]],
    )
    expect(Object.fromEntries(rows.map((r) => [r.status, r.rank]))).toEqual(runStatusRank)
  })

  it('refuses to start when an applied migration file was edited', async () => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const edited = loadMigrations().map((m) => ({ ...m, sha256: 'edited' }))
      await expect(migrate(client, edited)).rejects.toMatchObject({ code: 'FLEXTASK_SINK_MIGRATION_CHANGED' })
    } finally {
      await client.end()
    }
  })
})

describe('PostgresSinkTask', () => {
  it('merges an execution and its results into one run row, in any topic order, never regressing', async () => {
    const sink = task()
    await sink.open([
      { topic: T.exec, partition: 0 },
      { topic: T.results, partition: 0 },
    ])
    // Result first (a rebuild may read the results topic before the executions topic), then the execution.
    sink.put([rec(T.results, { kind: 'result', value: result('t1', slot, 'SUCCEEDED') })])
    await sink.flush()
    expect(await runRow(`t1:${slot}`)).toMatchObject({ status: 'SUCCEEDED', category: null })
    sink.put([
      rec(T.exec, { kind: 'execution', value: execution('t1', slot) }),
      rec(T.results, { kind: 'result', value: result('t1', slot, 'STARTED', 1, { workerId: 'worker-2' }) }),
    ])
    await sink.flush()
    const row = await runRow(`t1:${slot}`)
    expect(row).toMatchObject({
      status: 'SUCCEEDED',
      category: 'http',
      tenant: 'acme',
      trigger: 'SCHEDULE',
      worker: 'worker-1',
      duration_ms: '45',
      output: '{"ok":true}',
      labels: { team: 'core' },
    })
    expect((row?.scheduled_for as Date).getTime()).toBe(slot)
    expect((row?.finished_at as Date).getTime()).toBe(slot + 50)
    // A later TIMED_OUT from the scheduler outranks the worker's result; a FAILED after SUCCEEDED does not.
    sink.put([
      rec(T.results, { kind: 'result', value: result('t1', slot, 'FAILED') }),
      rec(T.results, { kind: 'result', value: result('t1', slot, 'TIMED_OUT', 1, { workerId: null }) }),
    ])
    await sink.flush()
    expect(await runRow(`t1:${slot}`)).toMatchObject({ status: 'TIMED_OUT', worker: 'worker-1' })
    await sink.stop()
  })

  it('writes nothing twice when the same records are delivered again after a restart', async () => {
    const records = [
      rec(T.exec, { kind: 'execution', value: execution('t2', slot) }),
      rec(T.exec, { kind: 'execution', value: execution('t2', slot + 1000) }),
      rec(T.occ, { kind: 'occurrence', value: occurrence('t2', slot) }),
      rec(T.logs, { kind: 'log', value: log('t2', slot, 0) }),
      rec(T.logs, { kind: 'log', value: log('t2', slot, 1) }),
    ]
    const partitions = [T.exec, T.occ, T.logs].map((topic) => ({ topic, partition: 0 }))
    const first = task('sink-redelivery')
    await first.open(partitions)
    first.put(records)
    // The same records again in the same buffer: dropped by offset.
    first.put(records)
    await first.flush()
    await first.stop()
    const before = await snapshot(db.pool)
    const second = task('sink-redelivery')
    const resume = await second.open(partitions)
    expect(resume.get(`${T.exec}:0`)).toBe(2n)
    second.put(records)
    expect(second.buffered()).toBe(0)
    await second.flush()
    await second.stop()
    expect(await snapshot(db.pool)).toEqual(before)
    expect(await count(db.pool, 'task_runs', `task_id = 't2'`)).toBe(2)
    expect(await count(db.pool, 'task_logs', `task_id = 't2'`)).toBe(2)
  })

  it('fences a second sink that resumed from the same offsets: its rows are never written', async () => {
    const partitions = [{ topic: 'fence', partition: 3 }]
    const a = task('sink-a')
    const b = task('sink-b')
    expect((await a.open(partitions)).get('fence:3')).toBe(0n)
    expect((await b.open(partitions)).get('fence:3')).toBe(0n)
    const mk = (taskId: string, offset: bigint): SinkRecord & { timestampMs: number } => ({
      topic: 'fence',
      partition: 3,
      offset,
      value: { kind: 'execution', value: execution(taskId, slot) },
      timestampMs: slot,
    })
    a.put([mk('fa', 0n), mk('fa2', 1n)])
    b.put([mk('fb', 0n)])
    await a.flush()
    await expect(b.flush()).rejects.toMatchObject({ code: 'FLEXTASK_SINK_FENCED' })
    expect(await count(db.pool, 'task_runs', `task_id = 'fb'`)).toBe(0)
    // After re-reading the offsets, b resumes where a stopped.
    expect((await b.open(partitions)).get('fence:3')).toBe(2n)
    b.put([mk('fa', 0n), mk('fb3', 2n)])
    await b.flush()
    expect(await count(db.pool, 'task_runs', `task_id IN ('fa', 'fa2', 'fb3')`)).toBe(3)
    const { rows } = await db.pool.query(`SELECT written_by, next_offset FROM sink_offsets WHERE topic = 'fence'`)
    expect(rows).toEqual([{ written_by: 'sink-b', next_offset: '3' }])
    await a.stop()
    await b.stop()
  })

  it('isolates a record whose row Postgres refuses, writes the others, and moves on once it is skipped', async () => {
    const partitions = [{ topic: T.exec, partition: 0 }]
    const sink = task('sink-poison')
    await sink.open(partitions)
    // A random 20,000-character taskId: over the btree entry limit even compressed (SQLSTATE 54000).
    const huge = randomBytes(10_000).toString('hex')
    sink.put([
      rec(T.exec, { kind: 'execution', value: execution('p1', slot) }),
      rec(T.exec, { kind: 'execution', value: execution(huge, slot) }),
      rec(T.exec, { kind: 'execution', value: execution('p3', slot) }),
    ])
    const refused = await sink.flush().then(
      () => undefined,
      (error: unknown) => error as { code: string; context: { offset: bigint } },
    )
    expect(refused).toMatchObject({ code: 'FLEXTASK_SINK_ROW_REFUSED', context: { offset: 1n } })
    expect(await count(db.pool, 'task_runs', `task_id = 'p1'`)).toBe(1)
    expect(sink.buffered()).toBe(2)
    sink.skip({ topic: T.exec, partition: 0, offset: 1n }, 'PROCESSING_FAILED')
    await sink.flush()
    await sink.stop()
    expect(await count(db.pool, 'task_runs', `task_id IN ('p1', 'p3')`)).toBe(2)
    const again = task('sink-poison')
    expect((await again.open(partitions)).get(`${T.exec}:0`)).toBe(3n)
    await again.stop()
  })

  it('shows CANCELLED on the latest attempt of a cancelled execution, whichever topic is read first', async () => {
    const scenario = (taskId: string): Record<string, (SinkRecord & { timestampMs: number })[]> => ({
      exec: [
        rec(T.exec, { kind: 'execution', value: execution(taskId, slot, 1) }),
        rec(T.exec, { kind: 'execution', value: execution(taskId, slot, 2) }),
      ],
      results: [rec(T.results, { kind: 'result', value: result(taskId, slot, 'FAILED', 1) })],
      occ: [rec(T.occ, { kind: 'occurrence', value: occurrence(taskId, slot, 'CANCELLED') })],
    })
    const parts = [T.exec, T.results, T.occ].map((topic) => ({ topic, partition: 0 }))
    const sink = task('sink-cancel')
    await sink.open(parts)
    const inOrder = scenario('c1')
    for (const batch of [inOrder.exec!, inOrder.results!, inOrder.occ!]) {
      sink.put(batch)
      await sink.flush()
    }
    const reversed = scenario('c2')
    for (const batch of [reversed.occ!, reversed.exec!.slice(0, 1), reversed.results!, reversed.exec!.slice(1)]) {
      sink.put(batch)
      await sink.flush()
    }
    await sink.stop()
    for (const id of ['c1', 'c2']) {
      expect(await runRow(`${id}:${slot}`, 1)).toMatchObject({ status: 'FAILED', reported_status: 'FAILED' })
      expect(await runRow(`${id}:${slot}`, 2)).toMatchObject({ status: 'CANCELLED', reported_status: 'PENDING' })
      const { rows } = await db.pool.query(
        'SELECT runs_total, runs_failed, runs_cancelled, runs_pending FROM tasks WHERE task_id = $1',
        [id],
      )
      expect(rows[0]).toEqual({ runs_total: '2', runs_failed: '1', runs_cancelled: '1', runs_pending: '0' })
    }
  })

  it('keeps the definition, the next fire time and the counters on tasks; a tombstone marks it DELETED', async () => {
    const definition = buildTaskDefinition({
      taskId: 'd1',
      name: 'every minute',
      category: 'email',
      type: 'send',
      createdAtMs: slot - 30_000,
      labels: { env: 'prod' },
      tenant: 'acme',
      schedule: { ...emptySchedule, kind: 'CRON', cron: '0 * * * * *' },
    })
    const sink = task('sink-defs')
    await sink.open([T.defs, T.exec, T.results, T.occ].map((topic) => ({ topic, partition: 0 })))
    sink.put([
      rec(T.exec, { kind: 'execution', value: execution('d1', slot) }),
      rec(T.results, { kind: 'result', value: result('d1', slot, 'SUCCEEDED') }),
      rec(T.defs, { kind: 'definition', taskId: 'd1', definition }),
      rec(T.occ, { kind: 'occurrence', value: occurrence('d1', slot) }),
    ])
    await sink.flush()
    const { rows } = await db.pool.query(`SELECT * FROM tasks WHERE task_id = 'd1'`)
    expect(rows[0]).toMatchObject({
      status: 'ACTIVE',
      category: 'email',
      tenant: 'acme',
      labels: { env: 'prod' },
      runs_total: '1',
      runs_succeeded: '1',
      last_status: 'SUCCEEDED',
      last_execution_id: `d1:${slot}`,
    })
    expect((rows[0].next_fire_at as Date).getTime()).toBe(slot + 60_000)
    expect(rows[0].definition).toMatchObject({ taskId: 'd1', schedule: { cron: '0 * * * * *' } })
    const byLabel = await db.pool.query(`SELECT task_id FROM tasks WHERE labels @> '{"env":"prod"}'`)
    expect(byLabel.rows).toEqual([{ task_id: 'd1' }])
    sink.put([rec(T.defs, { kind: 'definition', taskId: 'd1', definition: null })])
    await sink.flush()
    await sink.stop()
    const after = await db.pool.query(
      `SELECT status, deleted_at, next_fire_at, runs_total FROM tasks WHERE task_id = 'd1'`,
    )
    expect(after.rows[0]).toMatchObject({ status: 'DELETED', next_fire_at: null, runs_total: '1' })
    expect(after.rows[0].deleted_at).toBeInstanceOf(Date)
  })
})
