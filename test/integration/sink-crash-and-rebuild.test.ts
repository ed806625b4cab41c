/**
 * Exactly-once effect of the Postgres sink on the real broker and Postgres: the connector runs as a child process
 * and is SIGKILLed mid-batch many times while records flow; after a final run catches up, the tables hold exactly
 * the distinct runs, logs and occurrences in the topics (none missing, none twice), even though the topics carry
 * redelivered results. Then a rebuild into an empty database replays the topics and must equal the incremental
 * state, table by table.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { createConnector } from '../../connectors/connector.ts'
import { testProducer, uniqueName, waitFor } from '../helpers/kafka.ts'
import { count, createDatabase, type SinkDatabase, snapshot } from '../helpers/sink.ts'
import {
  addExpected,
  caughtUp,
  type Expected,
  produce,
  type SinkFixture,
  sinkDeps,
  sinkFixture,
  sinkOverrides,
  waitCaughtUp,
  workload,
} from '../helpers/sink-workload.ts'

const fixture = fileURLToPath(new URL('../fixtures/sink-app.ts', import.meta.url))
const producer = testProducer()
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

let fx: SinkFixture
let db: SinkDatabase
const group = uniqueName('ft-sink-crash')
let expected: Expected = { runs: 0, logs: 0, occurrences: 0, tasks: 0, undecodable: 0 }

beforeAll(async () => {
  fx = await sinkFixture(3)
  db = await createDatabase()
})

interface Child {
  process: ChildProcess
  lines: string[]
}

function spawnSink(name: string, options: { instanceId?: string; sessionTimeoutMs?: number } = {}): Child {
  const overrides = sinkOverrides(fx, db.url, {
    groupId: group,
    instanceId: options.instanceId ?? 'crash-sink',
    ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs }),
  })
  const child = spawn(process.execPath, [fixture, JSON.stringify(overrides)], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  const lines: string[] = []
  const onData = (chunk: Buffer): void => void lines.push(...chunk.toString().split('\n').filter(Boolean))
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  onTestFailed(() => console.log(`${name} (pid ${child.pid}):\n  ${lines.slice(-40).join('\n  ')}`))
  return { process: child, lines }
}

async function killHard(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return
  const exit = new Promise<void>((resolve) => child.process.once('exit', () => resolve()))
  child.process.kill('SIGKILL')
  await exit
}

describe('postgres sink under crashes', () => {
  it('holds exactly the distinct runs in the topics after being SIGKILLed mid-batch many times', async () => {
    const first = workload(fx, 'w0', { tasks: 40, slots: 30, undecodable: 5 })
    await produce(producer, first.messages)
    expected = addExpected(expected, first.expected)
    /** At least 8 kills, and more (up to 20) until one came mid-stream: a fast sink can catch up before a kill. */
    let kills = 0
    /** Kills that came while the sink still had records to write (its offsets behind the topics' ends). */
    let killedMidStream = 0
    for (let i = 0; i < 8 || (killedMidStream === 0 && i < 20); i++) {
      kills++
      const child = spawnSink(`sink run ${i}`)
      // Records keep arriving while the sink runs and dies.
      const wave = workload(fx, `w${i + 1}`, { tasks: 10, slots: 20, undecodable: i % 2 })
      const producing = produce(producer, wave.messages, 200)
      expected = addExpected(expected, wave.expected)
      await waitFor(
        `sink run ${i} to flush a batch`,
        () => {
          if (child.process.exitCode !== null) throw new Error(`sink run ${i} exited: ${child.lines.join('\n')}`)
          return child.lines.some((l) => l.startsWith('flushed')) ? true : undefined
        },
        60_000,
      )
      await sleep(Math.floor(Math.random() * 300))
      await killHard(child)
      if (!(await caughtUp(db.pool, group, fx.names))) killedMidStream++
      await producing
    }
    console.log(`sink crash test: ${killedMidStream} of ${kills} kills came while records were still being written`)
    expect(killedMidStream).toBeGreaterThan(0)
    const last = spawnSink('final sink run')
    await waitCaughtUp(db.pool, group, fx.names)
    last.process.kill('SIGTERM')
    await new Promise((resolve) => last.process.once('exit', resolve))

    expect(await count(db.pool, 'task_runs')).toBe(expected.runs)
    expect(await count(db.pool, 'task_logs')).toBe(expected.logs)
    expect(await count(db.pool, 'task_occurrences')).toBe(expected.occurrences)
    expect(await count(db.pool, 'tasks', `status = 'ACTIVE'`)).toBe(expected.tasks)
    // Each run's final status, and the counters the trigger keeps, agree with the topics.
    expect(await count(db.pool, 'task_runs', `status = 'SUCCEEDED'`)).toBe(expected.occurrences)
    expect(await count(db.pool, 'task_runs', `status = 'FAILED' AND attempt = 1`)).toBe(
      expected.runs - expected.occurrences,
    )
    const { rows } = await db.pool.query<{ total: string }>('SELECT sum(runs_total)::text AS total FROM tasks')
    expect(Number(rows[0]!.total)).toBe(expected.runs)
    // Every undecodable record was dead-lettered (at least once; a crash between the dead letter and the commit
    // sends it again) and the dead letters are projected.
    const dead = await db.pool.query<{ n: string }>(
      `SELECT count(DISTINCT (source_partition, source_offset))::text AS n FROM dead_letters
       WHERE source_topic = $1 AND reason_code = 'UNDECODABLE'`,
      [fx.topics.results],
    )
    expect(Number(dead.rows[0]!.n)).toBe(expected.undecodable)
  })

  it('a sink frozen past its session (SIGSTOP) loses its partitions and writes nothing twice when it wakes', async () => {
    const zombie = spawnSink('zombie sink', { instanceId: 'zombie-sink', sessionTimeoutMs: 6000 })
    await waitFor('the zombie to be ready', () => (zombie.lines.includes('ready') ? true : undefined), 60_000)
    const other = createConnector(
      sinkDeps(sinkOverrides(fx, db.url, { groupId: group, instanceId: 'live-sink', sessionTimeoutMs: 6000 })),
    )
    await other.start()
    try {
      const flowing = (async () => {
        for (let i = 0; i < 12; i++) {
          const wave = workload(fx, `z${i}`, { tasks: 6, slots: 10 })
          await produce(producer, wave.messages, 100)
          expected = addExpected(expected, wave.expected)
          await sleep(1000)
        }
      })()
      await sleep(1500)
      zombie.process.kill('SIGSTOP')
      // Past its session timeout the live sink owns every partition and keeps writing them.
      await waitFor('the live sink to own every partition', () =>
        other.runner!.assigned.length === fx.names.length * fx.partitions ? true : undefined,
      )
      await sleep(2000)
      zombie.process.kill('SIGCONT')
      await flowing
      await waitCaughtUp(db.pool, group, fx.names)
      await sleep(3000)
      await waitCaughtUp(db.pool, group, fx.names)
    } finally {
      await killHard(zombie)
      await other.close()
    }
    const fenced = zombie.lines.filter((l) => l === 'fenced').length + other.runner!.stats.fenced
    console.log(`sink zombie test: ${fenced} writes fenced after the zombie woke`)
    expect(await count(db.pool, 'task_runs')).toBe(expected.runs)
    expect(await count(db.pool, 'task_logs')).toBe(expected.logs)
    expect(await count(db.pool, 'task_occurrences')).toBe(expected.occurrences)
    const { rows } = await db.pool.query<{ total: string }>('SELECT sum(runs_total)::text AS total FROM tasks')
    expect(Number(rows[0]!.total)).toBe(expected.runs)
  })

  it('rebuilds into an empty database the same state as the incremental sink, table by table', async () => {
    const rebuilt = await createDatabase()
    const rebuildGroup = uniqueName('ft-sink-rebuild')
    const connector = createConnector(
      sinkDeps(sinkOverrides(fx, rebuilt.url, { groupId: rebuildGroup, instanceId: 'rebuild-sink', rebuild: true })),
    )
    await connector.start()
    try {
      await waitCaughtUp(rebuilt.pool, rebuildGroup, fx.names)
    } finally {
      await connector.close()
    }
    // The rebuild dead-lettered the undecodable records again: let the incremental sink read those too.
    const again = spawnSink('incremental sink after the rebuild')
    await waitCaughtUp(db.pool, group, fx.names)
    again.process.kill('SIGTERM')
    await new Promise((resolve) => again.process.once('exit', resolve))
    await waitCaughtUp(rebuilt.pool, rebuildGroup, fx.names)

    const incremental = await snapshot(db.pool)
    const replayed = await snapshot(rebuilt.pool)
    for (const table of Object.keys(incremental)) {
      expect({ table, rows: replayed[table]!.length }).toEqual({ table, rows: incremental[table]!.length })
      expect(replayed[table], `table ${table}`).toEqual(incremental[table])
    }
    expect(incremental.task_runs!.length).toBe(expected.runs)
  })
})
